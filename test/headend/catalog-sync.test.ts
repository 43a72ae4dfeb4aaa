// Version pairing's catalog side (issue 15.6): a node's catalog serves the live version as its
// current one and the rolling candidate beside it, from the release store's states, and lets a
// withdrawn version go once no session is pinned to it. Deterministic: memory store, no timers.
import test from 'ava';
import { AppCatalog } from '../../headend/app-catalog.ts';
import { MemoryReleaseStore, Releases } from '../../headend/releases/index.ts';
import { startRollout } from '../../headend/releases/rollout-start.ts';
import type { ResourceReport } from '../../runtime/index.ts';
import { guideApp, signer } from '../_helpers/box-app.ts';

const keys = await signer();
const v1 = await guideApp(keys, { version: '1.0.0' });
const v2 = await guideApp(keys, { version: '1.0.1' });

async function rig() {
  const store = new MemoryReleaseStore();
  const releases = new Releases({ store, trusted: () => keys.trusted, now: () => 1 });
  const catalog = new AppCatalog();
  const reports = { onReport: (_r: ResourceReport): void => {} };
  const loop = await startRollout({ releases, store, carousels: new Map(), reports, now: () => 1, catalog });
  const pub = (b: typeof v1) => releases.publish({ manifestBytes: b.manifestBytes, signature: b.signature, sources: b.sources }, 'operator');
  return { store, releases, catalog, loop, pub };
}

test('the rolling candidate is served beside live; live stays current; a rollback withdraws it once its last pinned session ends', async (t) => {
  const r = await rig();
  await r.pub(v1);
  await r.releases.promote('guide', '1.0.0', { now: true });
  await r.loop.sync?.sync();
  t.deepEqual(r.catalog.versions('guide'), ['1.0.0']);
  await r.pub(v2);
  await r.releases.promote('guide', '1.0.1');
  await r.loop.sync?.sync();
  t.deepEqual(r.catalog.versions('guide'), ['1.0.0', '1.0.1'], 'the candidate beside live');
  t.is(r.catalog.get('guide')?.manifest.version, '1.0.0', 'live is what a session naming no version gets');
  t.is(r.catalog.get('guide', '1.0.1')?.manifest.version, '1.0.1');
  r.catalog.pin('s-cand', 'guide', '1.0.1');
  await r.releases.rollback('guide', '1.0.1');
  await r.loop.sync?.sync();
  t.deepEqual(r.catalog.versions('guide'), ['1.0.0', '1.0.1'], 'a session still runs it');
  r.catalog.unpin('s-cand');
  await r.loop.sync?.sync();
  t.deepEqual(r.catalog.versions('guide'), ['1.0.0'], 'withdrawn');
  t.true((r.loop.sync?.stats().removed ?? 0) >= 1);
});

test('a version made live through another node becomes current here at the next sync; the retired one stays while pinned', async (t) => {
  const r = await rig();
  await r.pub(v1);
  await r.releases.promote('guide', '1.0.0', { now: true });
  await r.loop.sync?.sync();
  r.catalog.pin('s-old', 'guide', '1.0.0');
  // Another node's Releases over the same store: this node hears no onChange.
  const other = new Releases({ store: r.store, trusted: () => keys.trusted, now: () => 2 });
  await other.publish({ manifestBytes: v2.manifestBytes, signature: v2.signature, sources: v2.sources }, 'operator');
  await other.promote('guide', '1.0.1', { now: true });
  t.is(r.catalog.get('guide')?.manifest.version, '1.0.0', 'not yet');
  await r.loop.sync?.sync();
  t.is(r.catalog.get('guide')?.manifest.version, '1.0.1');
  t.deepEqual(r.catalog.versions('guide').sort(), ['1.0.0', '1.0.1']);
  r.catalog.unpin('s-old');
  await r.loop.sync?.sync();
  t.deepEqual(r.catalog.versions('guide'), ['1.0.1']);
});

test('AppCatalog: unknown options refused by name; at most MAX_VERSIONS per app, never dropping the current one', async (t) => {
  const c = new AppCatalog();
  t.throws(() => c.add(v1, { curent: true } as never), { message: /unknown option "curent"/ });
  c.add(v1);
  c.add({ ...v2, manifest: { ...v2.manifest, version: '1.0.2' } }, { current: false });
  c.pin('s-old', 'guide', '1.0.2');
  for (let i = 3; i < 12; i++) c.add({ ...v2, manifest: { ...v2.manifest, version: `1.0.${i}` } }, { current: false });
  t.is(c.versions('guide').length, 8);
  t.is(c.get('guide')?.manifest.version, '1.0.0');
  t.true(c.versions('guide').includes('1.0.0'), 'the current version stays');
  t.true(c.versions('guide').includes('1.0.2'), 'a version a session is pinned to stays');
  t.false(c.versions('guide').includes('1.0.3'), 'the oldest unpinned went first');
});

test('AppCatalog: a pin keeps its own app\'s version only; a re-pinned or ended session keeps none', async (t) => {
  const c = new AppCatalog();
  c.add(v1);
  c.add(v2, { current: false });
  // Another app's session on the same version string: before, any pin named by version alone kept
  // guide 1.0.1 (a rolled-back candidate) servable while that other app ran "1.0.1".
  c.pin('s-chat', 'chat', '1.0.1');
  t.true(c.remove('guide', '1.0.1'), 'chat\'s 1.0.1 does not keep guide\'s');
  c.add(v2, { current: false });
  c.pin('s1', 'guide', '1.0.1');
  c.pin('s2', 'guide', '1.0.1');
  t.false(c.remove('guide', '1.0.1'), 'two sessions run it');
  c.pin('s1', 'guide', '1.0.0'); // switched back
  c.unpin('s2');
  c.unpin('s2'); // twice: counted once
  t.is(c.pinned('s1'), '1.0.0');
  t.true(c.remove('guide', '1.0.1'), 'no session of guide runs it any more');
  t.false(c.remove('guide', '1.0.0'), 'the current version stays');
});
