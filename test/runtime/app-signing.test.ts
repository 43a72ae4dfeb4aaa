// Signing and verification: a signed app verifies; unsigned, unknown-key, forged, tampered and
// missing modules are refused with a typed SignatureError before any module text is returned.
import test from 'ava';
import {
  encodeManifest,
  generateSigningKey,
  importSigningKey,
  parseSignature,
  sha256Hex,
  signManifest,
  SignatureError,
  ManifestError,
  trustedKey,
  trustedKeyFromJson,
  trustedKeyToJson,
  utf8,
  verifyApp,
  verifyManifest,
  type Manifest,
} from '../../runtime/app/index.ts';
import { ArgumentError } from '../../runtime/index.ts';

const sources = { ui: 'weft.on("start", () => weft.ui.show({ title: "hi" }));', search: 'export function snapshot() { return {}; }' };

async function signedApp() {
  const { key, jwk } = await generateSigningKey();
  const bytes = new Map(Object.entries(sources).map(([n, s]) => [n, utf8(s)]));
  const manifest: Manifest = {
    app: 'guide',
    version: '1.0.0',
    modules: await Promise.all(
      [...bytes].map(async ([name, b]) => ({ name, kind: name === 'ui' ? 'client' : 'mutable', tier: 'boot', file: `${name}.js`, sha256: await sha256Hex(b), size: b.length, uses: [], needs: {} }) as Manifest['modules'][number]),
    ),
  };
  const manifestBytes = encodeManifest(manifest);
  const signature = await signManifest(manifestBytes, key);
  return { key, jwk, manifest, manifestBytes, signature, bytes, trusted: [await trustedKey(key.publicKey, 'dev')] };
}

function problem(t: import('ava').ExecutionContext, r: { ok: boolean; error?: unknown }, p: SignatureError['problem']): SignatureError {
  t.false(r.ok);
  t.true(r.error instanceof SignatureError, String(r.error));
  const e = r.error as SignatureError;
  t.is(e.problem, p);
  t.is(e.name, 'SignatureError');
  t.is(e.code, 8); // FORBIDDEN
  return e;
}

test('a signed app verifies and yields its module sources', async (t) => {
  const a = await signedApp();
  const r = await verifyApp({ manifest: a.manifestBytes, signature: a.signature, modules: a.bytes, trusted: a.trusted });
  t.true(r.ok);
  if (!r.ok) return;
  t.is(r.value.keyId, a.key.keyId);
  t.is(r.value.modules.get('ui')?.source, sources.ui);
  t.is(r.value.modules.get('search')?.entry.kind, 'mutable');
});

test('unsigned: no signature file, or an empty one', async (t) => {
  const a = await signedApp();
  problem(t, await verifyManifest(a.manifestBytes, undefined, a.trusted), 'unsigned');
  problem(t, await verifyManifest(a.manifestBytes, new Uint8Array(0), a.trusted), 'unsigned');
});

test('re-signed by a key the device does not trust', async (t) => {
  const a = await signedApp();
  const other = await generateSigningKey();
  const e = problem(t, await verifyManifest(a.manifestBytes, await signManifest(a.manifestBytes, other.key), a.trusted), 'unknown-key');
  t.is(e.keyId, other.key.keyId);
});

test('a signature that claims a trusted key id but was made with another key', async (t) => {
  const a = await signedApp();
  const other = await generateSigningKey();
  const forged = JSON.parse(new TextDecoder().decode(await signManifest(a.manifestBytes, other.key)));
  forged.keyId = a.key.keyId;
  problem(t, await verifyManifest(a.manifestBytes, utf8(JSON.stringify(forged)), a.trusted), 'bad-signature');
});

test('a manifest edited after signing (e.g. a module hash swapped) fails the signature', async (t) => {
  const a = await signedApp();
  const edited = structuredClone(a.manifest);
  edited.modules[0]!.sha256 = await sha256Hex(utf8('evil()'));
  problem(t, await verifyManifest(encodeManifest(edited), a.signature, a.trusted), 'bad-signature');
});

test('a tampered module is refused by name; so is a missing one', async (t) => {
  const a = await signedApp();
  const tampered = new Map(a.bytes);
  tampered.set('search', utf8(sources.search.replace('{}', '{ x: 1 }').slice(0, sources.search.length)));
  const e = problem(t, await verifyApp({ manifest: a.manifestBytes, signature: a.signature, modules: tampered, trusted: a.trusted }), 'tampered-module');
  t.is(e.module, 'search');
  const longer = new Map(a.bytes);
  longer.set('ui', utf8(`${sources.ui};evil()`));
  t.is(problem(t, await verifyApp({ manifest: a.manifestBytes, signature: a.signature, modules: longer, trusted: a.trusted }), 'tampered-module').module, 'ui');
  const missing = new Map(a.bytes);
  missing.delete('ui');
  t.is(problem(t, await verifyApp({ manifest: a.manifestBytes, signature: a.signature, modules: missing, trusted: a.trusted }), 'missing-module').module, 'ui');
  // A box verifies only what it runs: selecting the client module ignores the missing mutable one.
  missing.delete('search');
  missing.set('ui', a.bytes.get('ui')!);
  const only = await verifyApp({ manifest: a.manifestBytes, signature: a.signature, modules: missing, trusted: a.trusted, select: (m) => m.kind === 'client' });
  t.true(only.ok);
});

test('malformed signature files are refused, never thrown', async (t) => {
  const a = await signedApp();
  for (const bad of ['garbage', '{}', '{"v":1,"alg":"Ed25519","keyId":"zz","sig":""}', JSON.stringify({ ...JSON.parse(new TextDecoder().decode(a.signature)), extra: 1 })]) {
    problem(t, await verifyManifest(a.manifestBytes, utf8(bad), a.trusted), 'malformed-signature');
  }
  t.is(parseSignature(new Uint8Array([0xff])), undefined);
});

test('a correctly signed but invalid manifest is a ManifestError', async (t) => {
  const { key } = await generateSigningKey();
  const bytes = utf8('{"app":"guide","version":"1.0.0","modules":[],"x":1}');
  const r = await verifyManifest(bytes, await signManifest(bytes, key), [await trustedKey(key.publicKey)]);
  t.false(r.ok);
  t.true(!r.ok && r.error instanceof ManifestError);
});

test('keys survive their JSON forms; a mismatched key id is refused', async (t) => {
  const a = await signedApp();
  const again = await importSigningKey(JSON.parse(JSON.stringify(a.jwk)));
  t.is(again.keyId, a.key.keyId);
  const trusted = await trustedKeyFromJson(JSON.parse(JSON.stringify(trustedKeyToJson(a.trusted[0]!))));
  t.deepEqual(trusted, a.trusted[0]);
  const sig = await signManifest(a.manifestBytes, again);
  t.true((await verifyManifest(a.manifestBytes, sig, [trusted])).ok);
  await t.throwsAsync(trustedKeyFromJson({ ...trustedKeyToJson(trusted), keyId: '0000000000000000' }), { instanceOf: ArgumentError });
  await t.throwsAsync(importSigningKey({ kty: 'RSA' }), { instanceOf: ArgumentError });
});
