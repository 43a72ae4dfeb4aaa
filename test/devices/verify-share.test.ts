// [issue 15] The emulated boxes of one process verify each (bytes, key, signature) once: the
// rollout bench's fleet processes verified the same manifest and directive once per box, queued on
// the crypto threads. A wrong signature, a changed byte or another key still fails, shared or not.
import test from 'ava';
import { loadEngine } from '../../sandbox/index.ts';
import { TunerFanout, VerifyShare, profile } from '../../devices/index.ts';
import { generateSigningKey, parseSignature, signManifest, trustedKey, utf8, verifyManifest, type TrustedKey } from '../../runtime/app/index.ts';
import { makeModule } from '../../carousel/index.ts';
import { guideApp, signer } from '../_helpers/box-app.ts';
import { carouselFeed, makeBox } from '../_helpers/box-fixtures.ts';

const engine = await loadEngine();
const keys = await signer();
const built = await guideApp(keys);
const bytes = built.manifestBytes;
const sigFile = built.signature;
const sig = (parseSignature(sigFile) as { sig: Uint8Array }).sig;
const key = keys.trusted[0] as TrustedKey;

test('boxes asking at once for the same check share one verification', async (t) => {
  const share = new VerifyShare();
  const boxKeys = Array.from({ length: 50 }, () => share.keys(keys.trusted)[0] as TrustedKey);
  const all = await Promise.all(boxKeys.map((k) => verifyManifest(bytes, sigFile, [k])));
  t.true(all.every((r) => r.ok));
  t.like(share.stats(), { verified: 1, shared: 49, refused: 0, entries: 1 });
});

test('a wrong signature, a changed byte or another key fails through the share, after the good one was kept', async (t) => {
  const share = new VerifyShare();
  const [k] = share.keys(keys.trusted) as [TrustedKey];
  t.true(await share.verify(bytes, sig, k));
  const badSig = sig.slice();
  badSig[0] = (badSig[0] as number) ^ 1;
  t.false(await share.verify(bytes, badSig, k), 'a flipped signature bit');
  const badBytes = bytes.slice(0, -1);
  t.false(await share.verify(badBytes, sig, k), 'other bytes under the good signature');
  const other = await trustedKey((await generateSigningKey()).key.publicKey);
  t.false(await share.verify(bytes, sig, { ...other, keyId: key.keyId }), 'another public key under the same key id');
  // And asked again: still no, from the share.
  t.false(await share.verify(bytes, badSig, k));
  t.like(share.stats(), { verified: 4, shared: 1, refused: 3 });
  // Through verifyManifest, as the box asks: the error names the failure.
  const forged = utf8(JSON.stringify({ v: 1, alg: 'Ed25519', keyId: key.keyId, sig: Buffer.from(badSig).toString('base64') }));
  const r = await verifyManifest(bytes, forged, share.keys(keys.trusted));
  t.false(r.ok);
  t.is(r.ok ? undefined : (r.error as { problem?: string }).problem, 'bad-signature');
});

test('the share is bounded: the least recently used verdict goes first', async (t) => {
  const share = new VerifyShare({ maxEntries: 2 });
  const signed = await Promise.all(['a', 'b', 'c'].map(async (x) => ({ b: utf8(x), s: (parseSignature(await signManifest(utf8(x), keys.key)) as { sig: Uint8Array }).sig })));
  const [a, b, c] = signed as [(typeof signed)[0], (typeof signed)[0], (typeof signed)[0]];
  await share.verify(a.b, a.s, key);
  await share.verify(b.b, b.s, key);
  await share.verify(a.b, a.s, key); // a is used again: b is the oldest now
  await share.verify(c.b, c.s, key);
  t.like(share.stats(), { verified: 3, shared: 1, evicted: 1, entries: 2 });
  await share.verify(a.b, a.s, key);
  t.like(share.stats(), { verified: 3, shared: 2 }, 'a was kept');
  await share.verify(b.b, b.s, key);
  t.like(share.stats(), { verified: 4 }, 'b was dropped and verified again');
});

test('unknown options are refused by name; the bound is checked', (t) => {
  t.throws(() => new VerifyShare({ max: 3 } as never), { message: /unknown option "max"/ });
  t.throws(() => new VerifyShare({ maxEntries: 0 }), { message: /maxEntries/ });
});

test('boxes whose keys come from one share verify their manifest once; a forged signature still refuses the app on every box', async (t) => {
  const share = new VerifyShare();
  const app = built;
  const fan = new TunerFanout(carouselFeed(app.set).tuner);
  const boxes = ['box-1', 'box-2', 'box-3'].map((boxId) => makeBox(engine, share.keys(keys.trusted), fan.tuner(), undefined, { boxId, profile: profile('broadcast-only') }));
  t.teardown(async () => {
    for (const b of boxes) await b.box.stop();
  });
  for (const b of boxes) await b.box.start();
  await Promise.all(boxes.map((b) => b.box.waitFor((x) => x.state === 'degraded', 20_000)));
  // Each box checks the manifest more than once (the boot tier, then each fallback tier): all from one verification.
  t.like(share.stats(), { verified: 1, refused: 0 });
  t.true(share.stats().shared >= 2);

  // The same manifest with a signature by another key, labelled as the trusted key's.
  const mallory = await generateSigningKey();
  const bad = parseSignature(await signManifest(app.manifestBytes, mallory.key)) as { sig: Uint8Array };
  const forged = utf8(`${JSON.stringify({ v: 1, alg: 'Ed25519', keyId: key.keyId, sig: Buffer.from(bad.sig).toString('base64') })}\n`);
  const set = { ...app.set, modules: app.set.modules.map((m) => (m.name === 'manifest.sig' ? makeModule('manifest.sig', 'signature', 'boot', forged) : m)) };
  const fan2 = new TunerFanout(carouselFeed(set).tuner);
  const share2 = new VerifyShare();
  const forgedBoxes = ['box-4', 'box-5'].map((boxId) => makeBox(engine, share2.keys(keys.trusted), fan2.tuner(), undefined, { boxId, profile: profile('broadcast-only') }));
  t.teardown(async () => {
    for (const b of forgedBoxes) await b.box.stop();
  });
  for (const b of forgedBoxes) await b.box.start();
  await Promise.all(forgedBoxes.map((b) => b.box.waitFor(() => b.events.some((e) => e.kind === 'refused' && e.problem === 'bad-signature'), 20_000)));
  for (const b of forgedBoxes) t.is(b.box.app, undefined, `${b.box.id} runs nothing`);
  t.true(share2.stats().refused >= 1);
});
