// What a node holds and does for the store's announcements (D103): a body that names no app is
// counted and dropped; a flood for one app costs one sync running and one queued; a flood of
// distinct names costs at most MAX_ANNOUNCED_APPS app syncs, then one sync of every app.
// Deterministic: a memory store whose announcements the test makes, and whose heads() reads wait
// until the test lets each go (no timers).
import test from 'ava';
import { AppCatalog } from '../../headend/app-catalog.ts';
import { CatalogSync, MAX_ANNOUNCED_APPS } from '../../headend/releases/catalog-sync.ts';
import { MemoryReleaseStore, Releases } from '../../headend/releases/index.ts';
import type { ReleaseHead, StoreAnnouncement } from '../../headend/releases/store.ts';
import { guideApp, signer } from '../_helpers/box-app.ts';

const keys = await signer();
const v1 = await guideApp(keys, { version: '1.0.0' });

/** A memory store whose announcements come from `say`, and whose heads() reads each wait for `next()`'s go-ahead. */
class HeldStore extends MemoryReleaseStore {
  readonly asked: (string | undefined)[] = [];
  #listener: ((a: StoreAnnouncement) => void) | undefined;
  #waiting: (() => void)[] = [];
  #arrived: (() => void) | undefined;

  override watch(listener: (a: StoreAnnouncement) => void): () => void {
    this.#listener = listener;
    return () => void (this.#listener = undefined);
  }

  say(a: StoreAnnouncement): void {
    this.#listener?.(a);
  }

  override async heads(app?: string): Promise<ReleaseHead[]> {
    this.asked.push(app);
    await new Promise<void>((go) => {
      this.#waiting.push(go);
      this.#arrived?.();
    });
    return super.heads(app);
  }

  /** Wait until a heads() read is waiting, and give the function that lets it go. */
  async next(): Promise<() => void> {
    while (this.#waiting.length === 0) await new Promise<void>((r) => (this.#arrived = r));
    return this.#waiting.shift() as () => void;
  }
}

async function rig(log?: (line: string) => void) {
  const store = new HeldStore();
  const releases = new Releases({ store, trusted: () => keys.trusted, now: () => 1 });
  await releases.publish({ manifestBytes: v1.manifestBytes, signature: v1.signature, sources: v1.sources }, 'operator');
  await releases.promote('guide', '1.0.0', { now: true });
  const catalog = new AppCatalog();
  const sync = new CatalogSync({ catalog, store, ...(log === undefined ? {} : { log }) });
  sync.listen();
  return { store, catalog, sync };
}

const changed = (body: unknown): StoreAnnouncement => ({ kind: 'changed', body });

test('a body that names no app is counted and dropped: no sync', async (t) => {
  const { store, sync } = await rig();
  for (const body of [42, {}, null, undefined, '', 'Guide', 'guide/x', 'x'.repeat(64), 'g'.repeat(100_000), ['guide']]) store.say(changed(body));
  t.like(sync.stats(), { announcements: 10, badAnnouncements: 10, announcedSyncs: 0 });
  t.deepEqual(store.asked, []);
});

test('a flood of bad bodies is counted each time but logged once per thousand', async (t) => {
  const lines: string[] = [];
  const { store, sync } = await rig((l) => lines.push(l));
  for (let i = 0; i < 2500; i++) store.say(changed(i));
  t.is(sync.stats().badAnnouncements, 2500);
  t.is(lines.filter((l) => l.includes('naming no app')).length, 3, 'the 1st, 1,001st and 2,001st');
});

test('a flood of announcements for one app: one sync running, one queued, the rest folded into it', async (t) => {
  const { store, catalog, sync } = await rig();
  store.say(changed('guide'));
  const first = await store.next();
  for (let i = 0; i < 99; i++) store.say(changed('guide'));
  t.like(sync.stats(), { announcements: 100, announcedSyncs: 1, coalesced: 98 });
  first();
  (await store.next())(); // the one queued
  const last = sync.sync('guide'); // runs after the queued one ends: a third would have been counted by then
  (await store.next())();
  await last;
  t.deepEqual(store.asked, ['guide', 'guide', 'guide'], 'two announced syncs, then the test\'s');
  t.like(sync.stats(), { announcedSyncs: 2, badAnnouncements: 0 }, 'no third');
  t.is(catalog.get('guide')?.manifest.version, '1.0.0');
});

test('a flood of distinct app names: at most MAX_ANNOUNCED_APPS app syncs, then one sync of every app', async (t) => {
  const { store, sync } = await rig();
  const extra = 8;
  for (let i = 0; i < MAX_ANNOUNCED_APPS + extra; i++) store.say(changed(`app-${i}`));
  t.like(sync.stats(), { announcedSyncs: MAX_ANNOUNCED_APPS + 1, coalesced: extra - 2 }, 'the first name past the bound starts a full sync, the next queues one, the rest fold');
  store.say({ kind: 'resync' });
  t.like(sync.stats(), { announcedSyncs: MAX_ANNOUNCED_APPS + 1, coalesced: extra - 1 }, 'a resync joins the full sync');
  // Let every read go: the app syncs one at a time, then the full one.
  for (let i = 0; i < MAX_ANNOUNCED_APPS; i++) (await store.next())();
  (await store.next())();
  t.deepEqual(store.asked, [...Array.from({ length: MAX_ANNOUNCED_APPS }, (_, i) => `app-${i}`), undefined], 'then a sync of every app');
});
