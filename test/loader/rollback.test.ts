// Anti-rollback (issue 12.9): a box never runs an app version older than the highest it
// verified, unless an operator-signed rollback directive names that version.
import test from 'ava';
import { profile } from '../../devices/profiles.ts';
import { type BoxEvent, MemoryStorage, ModuleCache } from '../../loader/index.ts';
import { RollbackFloor, compareVersions } from '../../loader/rollback-floor.ts';
import { signManifest } from '../../runtime/app/index.ts';
import { loadEngine } from '../../sandbox/index.ts';
import { guideApp, signer } from '../_helpers/box-app.ts';
import { carouselFeed, makeBox } from '../_helpers/box-fixtures.ts';

const engine = await loadEngine();
const keys = await signer();
const MB = 1024 * 1024;
type Scene = { screen?: string; version?: string } | undefined;
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const directive = (version: string, maxFloor: string): Uint8Array => utf8(JSON.stringify({ kind: 'weft-rollback', app: 'guide', version, maxFloor }));
const refusedRollback = (events: BoxEvent[]): boolean => events.some((e) => e.kind === 'refused' && e.problem === 'rollback');
const versionsShown = (events: BoxEvent[]): (string | undefined)[] =>
  events.filter((e): e is Extract<BoxEvent, { kind: 'scene' }> => e.kind === 'scene').map((e) => (e.scene as Scene)?.version);

/** A box that verified and cached `version` (broadcast-only: the carousel is all it has). */
async function boxAt(version: string, storage: MemoryStorage, boxId: string): Promise<void> {
  const app = await guideApp(keys, { version });
  const b = makeBox(engine, keys.trusted, carouselFeed(app.set).tuner, undefined, { profile: profile('broadcast-only'), storage, boxId });
  await b.box.start();
  await b.box.waitFor((x) => x.app?.manifest.version === version && x.running().includes('ui'), 10_000);
  await b.box.stop();
}

test('semver order, not the 8-bit carousel versions: 1.0.10 > 1.0.9, a pre-release below its release', (t) => {
  t.true(compareVersions('1.0.10', '1.0.9') > 0);
  t.true(compareVersions('1.0.0', '1.0.1') < 0);
  t.true(compareVersions('2.0.0', '1.99.99') > 0);
  t.true(compareVersions('1.0.0-rc.1', '1.0.0') < 0);
  t.true(compareVersions('1.0.0-rc.2', '1.0.0-rc.10') < 0);
  t.true(compareVersions('1.0.0-alpha', '1.0.0-1') > 0);
  t.is(compareVersions('1.0.0+build.7', '1.0.0'), 0);
  t.throws(() => compareVersions('1.0', '1.0.0'));
});

test('a box warm-booted from its cached v1.0.1 refuses a replayed, validly signed v1.0.0', async (t) => {
  const storage = new MemoryStorage(8 * MB);
  await boxAt('1.0.1', storage, 'box-4');
  const old = await guideApp(keys, { version: '1.0.0' });
  const b = makeBox(engine, keys.trusted, carouselFeed(old.set).tuner, undefined, { profile: profile('broadcast-only'), storage, boxId: 'box-4' });
  t.teardown(() => b.box.stop());
  await b.box.start();
  await b.box.waitFor(() => refusedRollback(b.events), 10_000);
  t.is(b.box.app?.manifest.version, '1.0.1');
  t.false(versionsShown(b.events).includes('1.0.0'), 'v1.0.0 never ran');
  t.false(b.box.history.some((h) => h.event === 'update'));
  t.is(new ModuleCache(storage).loadApp('guide')?.version, '1.0.1', 'the cache still holds v1.0.1');
  // The carousel is heard while the cached app is checked (issue 18.6, wave 7): a receiver the
  // box then replaced may have refused the replay too before this reads the count.
  t.true((b.box.stats().rollbackFloor as { refused: number }).refused >= 1);
});

test('the floor outlives the cache: a box whose cache was lost still refuses the older version, and boots nothing older', async (t) => {
  const storage = new MemoryStorage(8 * MB);
  await boxAt('1.0.1', storage, 'box-5');
  for (const k of storage.keys()) if (!k.startsWith('f.')) storage.remove(k); // the module cache is gone
  const old = await guideApp(keys, { version: '1.0.0' });
  const b = makeBox(engine, keys.trusted, carouselFeed(old.set).tuner, undefined, { profile: profile('broadcast-only'), storage, boxId: 'box-5' });
  t.teardown(() => b.box.stop());
  await b.box.start();
  await b.box.waitFor(() => refusedRollback(b.events), 10_000);
  t.is(b.box.app, undefined);
  t.deepEqual(b.box.running(), []);
});

test('an operator-signed directive lets the box go back to the version it names, once; a stranger\'s or a stale one is refused', async (t) => {
  const storage = new MemoryStorage(8 * MB);
  await boxAt('1.0.1', storage, 'box-6');
  const old = await guideApp(keys, { version: '1.0.0' });
  const stranger = await signer();
  const b = makeBox(engine, keys.trusted, carouselFeed(old.set).tuner, undefined, { profile: profile('broadcast-only'), storage, boxId: 'box-6' });
  t.teardown(() => b.box.stop());
  await b.box.start();
  await b.box.waitFor(() => refusedRollback(b.events), 10_000);
  const forged = await b.box.allowRollback(directive('1.0.0', '1.0.1'), await signManifest(directive('1.0.0', '1.0.1'), stranger.key));
  t.false(forged.ok, 'a directive signed by an unknown key');
  const stale = await b.box.allowRollback(directive('1.0.0', '1.0.0'), await signManifest(directive('1.0.0', '1.0.0'), keys.key));
  t.false(stale.ok, 'a directive for boxes at most at 1.0.0 does not apply at 1.0.1');
  const ok = await b.box.allowRollback(directive('1.0.0', '1.0.1'), await signManifest(directive('1.0.0', '1.0.1'), keys.key));
  t.true(ok.ok);
  await b.box.waitFor((x) => (x.screen('ui') as Scene)?.version === '1.0.0', 10_000);
  t.is(new RollbackFloor(storage).floor('guide'), '1.0.0', 'the floor followed the operator down');
});

test('the same directive replayed after a later release is refused', async (t) => {
  const storage = new MemoryStorage(1024);
  const floor = new RollbackFloor(storage);
  floor.raise('guide', '1.0.2');
  const d = directive('1.0.0', '1.0.1');
  const r = await floor.accept(d, await signManifest(d, keys.key), keys.trusted);
  t.false(r.ok);
  t.false(floor.check('guide', '1.0.0').ok);
  t.is(new RollbackFloor(storage).floor('guide'), '1.0.2', 'kept in device storage');
});

test('a profile without storage (legacy-sd, storageBytes 0) keeps the floor in memory until power-off', (t) => {
  const floor = new RollbackFloor(new MemoryStorage(0));
  floor.raise('guide', '1.0.1');
  t.false(floor.check('guide', '1.0.0').ok);
  t.true(floor.check('guide', '1.0.1').ok);
  t.is(floor.stats().unsaved, 0, 'nothing was even tried on a device without storage');
  t.is(new RollbackFloor(new MemoryStorage(0)).floor('guide'), undefined, 'after power-off: no floor');
});
