// A node syncs its catalog every second (catalog-sync.ts); the store's bytes are read only for a
// version the catalog does not hold yet (or whose bytes were replaced), never once per sync: the
// sync reads heads (app, version, state, publishedAt, rev). Deterministic: memory store, no timers.
import test from 'ava';
import { AppCatalog } from '../../headend/app-catalog.ts';
import { CatalogSync, FULL_SYNC_EVERY } from '../../headend/releases/catalog-sync.ts';
import { MemoryReleaseStore, Releases, type ReleaseStore } from '../../headend/releases/index.ts';
import { guideApp, signer } from '../_helpers/box-app.ts';

const keys = await signer();
const v1 = await guideApp(keys, { version: '1.0.0' });
const v2 = await guideApp(keys, { version: '1.0.1' });

/** A store that counts the calls that carry module bytes, and the heads it is asked for. */
function counted(store: ReleaseStore): { store: ReleaseStore; calls: { list: number; get: number; heads: number } } {
  const calls = { list: 0, get: 0, heads: 0 };
  const proxy = new Proxy(store, {
    get(target, p) {
      if (p === 'list' || p === 'get' || p === 'heads') calls[p]++;
      const v = Reflect.get(target, p, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { store: proxy, calls };
}

/** guide 1.0.0 published and live in a memory store; a catalog and its sync over the counted store. */
async function rig() {
  const mem = new MemoryReleaseStore();
  const releases = new Releases({ store: mem, trusted: () => keys.trusted, now: () => 1 });
  const pub = (b: typeof v1) => releases.publish({ manifestBytes: b.manifestBytes, signature: b.signature, sources: b.sources }, 'operator');
  await pub(v1);
  await releases.promote('guide', '1.0.0', { now: true });
  const { store, calls } = counted(mem);
  const catalog = new AppCatalog();
  return { mem, releases, pub, calls, catalog, sync: new CatalogSync({ catalog, store }) };
}

test('a sync of an unchanged store reads no bytes; a new version\'s bytes are read once; a promotion re-reads none', async (t) => {
  const { releases, pub, calls, catalog, sync } = await rig();
  await sync.sync();
  t.is(catalog.get('guide')?.manifest.version, '1.0.0');
  t.like(calls, { list: 0, get: 1 }, 'the first sync reads the live version\'s bytes once');
  for (let i = 0; i < 5; i++) await sync.sync();
  t.like(calls, { list: 0, get: 1 }, 'five syncs of an unchanged store: no bytes');
  await pub(v2);
  await releases.promote('guide', '1.0.1');
  await sync.sync();
  await sync.sync();
  t.deepEqual(catalog.versions('guide'), ['1.0.0', '1.0.1']);
  t.is(calls.get, 2, 'the candidate\'s bytes, once');
  await releases.promote('guide', '1.0.1', { now: true });
  await sync.sync();
  t.is(catalog.get('guide')?.manifest.version, '1.0.1', 'live now');
  t.is(calls.get, 2, 'made current from the bytes the catalog holds');
  t.is(sync.stats().syncs, 9);
});

test('a sync of an unchanged store reads only its change token; a change, a failed read or a pinned version makes the next one full', async (t) => {
  const { mem, releases, pub, calls, catalog, sync } = await rig();
  await sync.sync();
  t.is(calls.heads, 1);
  for (let i = 0; i < 5; i++) await sync.sync();
  t.is(calls.heads, 1, 'five syncs of an unchanged store read no heads');
  t.like(sync.stats(), { syncs: 6, unchanged: 5 });
  for (let i = 6; i < FULL_SYNC_EVERY; i++) await sync.sync();
  t.is(calls.heads, 1);
  await sync.sync();
  t.is(calls.heads, 2, `a full sync every ${FULL_SYNC_EVERY} whatever the token says (a writer that does not move it)`);
  // A session still pinned to 1.0.0 keeps it: the sync must look again once the session ends,
  // though nothing in the store changes then.
  catalog.pin('s1', 'guide', '1.0.0');
  await pub(v2);
  await releases.promote('guide', '1.0.1', { now: true });
  await sync.sync();
  t.is(calls.heads, 3, 'a promotion elsewhere is seen at the next sync');
  t.is(catalog.get('guide')?.manifest.version, '1.0.1');
  await sync.sync();
  t.is(calls.heads, 4, 'full while a removal waits for a session');
  t.deepEqual(catalog.versions('guide'), ['1.0.0', '1.0.1']);
  catalog.unpin('s1');
  await sync.sync();
  t.deepEqual(catalog.versions('guide'), ['1.0.1'], 'let go once its session ended');
  await sync.sync();
  t.is(calls.heads, 5, 'then unchanged again');
  // A version whose bytes could not be read is tried again at the next sync.
  await pub(await guideApp(keys, { version: '1.0.3' }));
  await releases.promote('guide', '1.0.3');
  const get = mem.get.bind(mem);
  let down = true;
  mem.get = async (app, v) => (down ? Promise.reject(new Error('store away')) : get(app, v));
  await sync.sync();
  t.deepEqual(catalog.versions('guide'), ['1.0.1']);
  down = false;
  await sync.sync();
  t.deepEqual(catalog.versions('guide'), ['1.0.1', '1.0.3'], 'read at the next sync');
  t.like(sync.stats(), { failed: 1 });
});
