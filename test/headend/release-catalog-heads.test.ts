// A node syncs its catalog every second (catalog-sync.ts); the store's bytes are read only for a
// version the catalog does not hold yet (or whose bytes were replaced), never once per sync: the
// sync reads heads (app, version, state, publishedAt, rev). Deterministic: memory store, no timers.
import test from 'ava';
import { AppCatalog } from '../../headend/app-catalog.ts';
import { CatalogSync } from '../../headend/releases/catalog-sync.ts';
import { MemoryReleaseStore, Releases, type ReleaseStore } from '../../headend/releases/index.ts';
import { guideApp, signer } from '../_helpers/box-app.ts';

const keys = await signer();
const v1 = await guideApp(keys, { version: '1.0.0' });
const v2 = await guideApp(keys, { version: '1.0.1' });

/** A store that counts the calls that carry module bytes. */
function counted(store: ReleaseStore): { store: ReleaseStore; calls: { list: number; get: number } } {
  const calls = { list: 0, get: 0 };
  const proxy = new Proxy(store, {
    get(target, p) {
      if (p === 'list' || p === 'get') calls[p]++;
      const v = Reflect.get(target, p, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { store: proxy, calls };
}

test('a sync of an unchanged store reads no bytes; a new version\'s bytes are read once; a promotion re-reads none', async (t) => {
  const mem = new MemoryReleaseStore();
  const releases = new Releases({ store: mem, trusted: () => keys.trusted, now: () => 1 });
  const pub = (b: typeof v1) => releases.publish({ manifestBytes: b.manifestBytes, signature: b.signature, sources: b.sources }, 'operator');
  await pub(v1);
  await releases.promote('guide', '1.0.0', { now: true });
  const { store, calls } = counted(mem);
  const catalog = new AppCatalog();
  const sync = new CatalogSync({ catalog, store });
  await sync.sync();
  t.is(catalog.get('guide')?.manifest.version, '1.0.0');
  t.deepEqual(calls, { list: 0, get: 1 }, 'the first sync reads the live version\'s bytes once');
  for (let i = 0; i < 5; i++) await sync.sync();
  t.deepEqual(calls, { list: 0, get: 1 }, 'five syncs of an unchanged store: no bytes');
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
