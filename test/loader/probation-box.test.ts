// Box probation end to end in process (issue 15): the real carousel carries the live version, the
// candidate under next/ and the signed rollout directive; broadcast-only boxes (no return
// channel at all) pick, try, commit or revert, and follow a rollback directive. The box's clock
// is a SkewClock: probation time passes only when the test says so.
import test from 'ava';
import { profile } from '../../devices/profiles.ts';
import { MemoryStorage, ModuleCache, type Box, type BoxEvent } from '../../loader/index.ts';
import { RollbackFloor } from '../../loader/rollback-floor.ts';
import { signManifest, type SigningKey } from '../../runtime/app/index.ts';
import { rolloutModuleSet, type RolloutView } from '../../headend/releases/rollout-carousel.ts';
import type { Release, ReleaseState } from '../../headend/releases/index.ts';
import { loadEngine } from '../../sandbox/index.ts';
import { guideApp, signer, UI, type BuiltApp } from '../_helpers/box-app.ts';
import { carouselFeed, makeBox } from '../_helpers/box-fixtures.ts';
import { SkewClock } from '../_helpers/skew-clock.ts';

const engine = await loadEngine();
const keys = await signer();
const MB = 1024 * 1024;
type Scene = { version?: string } | undefined;
const BAD_UI = `${UI('1.0.1')}\nweft.on('start', () => { throw new Error('ui faults on start'); });\n`;

function release(b: BuiltApp, state: ReleaseState, plan = ''): Release {
  return { app: 'guide', version: b.manifest.version, manifestBytes: b.manifestBytes, signature: b.signature, sources: b.sources, state, publishedBy: 't', publishedAt: 0, plan, rev: 1 };
}

const rolling = (percent: number, probationS: number): string => JSON.stringify({ waves: [{ percent, probationS, errorBudget: 0 }, ...(percent < 100 ? [{ percent: 100, probationS, errorBudget: 0 }] : [])], quorum: 0.9, stallS: 60, wave: 0 });

async function setOf(view: RolloutView, seq: number, key: SigningKey = keys.key) {
  return (await rolloutModuleSet(view, seq, (b) => signManifest(b, key))).set;
}

/** A broadcast-only box that booted the live v1.0.0 and committed it (its last-known-good version). */
async function committedBox(t: import('ava').ExecutionContext, v1: BuiltApp, boxId: string) {
  const clock = new SkewClock();
  t.teardown(() => clock.close());
  const storage = new MemoryStorage(8 * MB);
  const feed = carouselFeed(await setOf({ live: release(v1, 'live') }, 1));
  const b = makeBox(engine, keys.trusted, feed.tuner, undefined, { profile: profile('broadcast-only'), storage, boxId, clock });
  t.teardown(() => b.box.stop());
  await b.box.start();
  await until(b, (x) => uiStarted(x.events) >= 1 && x.box.app?.manifest.version === '1.0.0');
  await until(b, (x) => stat(x).committed === 1); // a first version has nothing to go back to: committed once ready
  return { ...b, clock, storage, feed };
}

/** Resolve once `n` more datagrams went to the box. */
function datagrams(feed: { impair(fn: ((d: Uint8Array) => Uint8Array[]) | undefined): void }, n: number): Promise<void> {
  let left = n;
  return new Promise((resolve) =>
    feed.impair((d) => {
      if (--left === 0) {
        feed.impair(undefined);
        resolve();
      }
      return [d];
    }),
  );
}

/** Times the ui module started (ready), so far. */
const uiStarted = (events: BoxEvent[]): number => events.filter((e) => e.kind === 'module' && e.module === 'ui' && e.action === 'started').length;

function stat(b: { box: { stats(): Record<string, unknown> } }): { committed: number; reverted: number; trial?: string; directivesRefused: number } {
  return b.box.stats().probation as never;
}

async function until(b: { box: Box; events: BoxEvent[] }, pred: (x: typeof b) => boolean): Promise<void> {
  await b.box.waitFor(() => pred(b), 20_000).catch((e: unknown) => {
    const shown = b.events.filter((x) => x.kind !== 'scene' && x.kind !== 'state').slice(-12);
    throw new Error(`${(e as Error).message}; probation ${JSON.stringify(b.box.stats().probation)} floor ${JSON.stringify(b.box.stats().rollbackFloor)} app ${b.box.app?.manifest.version} screen ${JSON.stringify(b.box.screen('ui'))}; last events ${JSON.stringify(shown)}`);
  });
}

test('a box the directive selects runs the candidate on probation, commits it after the probation time, and only then raises its floor', async (t) => {
  const v1 = await guideApp(keys, { version: '1.0.0' });
  const v2 = await guideApp(keys, { version: '1.0.1' });
  const b = await committedBox(t, v1, 'box-p1');
  b.feed.update(await setOf({ live: release(v1, 'live'), candidate: release(v2, 'rolling', rolling(100, 30)) }, 2));
  await until(b, (x) => x.box.app?.manifest.version === '1.0.1' && stat(x).trial === '1.0.1' && uiStarted(x.events) === 2);
  t.is(new RollbackFloor(b.storage).floor('guide'), '1.0.0', 'the floor holds while the candidate is on probation');
  b.clock.advance(29_000);
  t.is(stat(b).committed, 1, 'not before the probation time');
  b.clock.advance(1_000);
  await until(b, (x) => stat(x).committed === 2);
  t.is(new RollbackFloor(b.storage).floor('guide'), '1.0.1');
  t.like(b.box.stats().probation, { trial: undefined, reverted: 0 });
});

test('a candidate whose ui faults on start reverts to the last-known-good version from the cache, with no return channel, and is not taken again', async (t) => {
  const v1 = await guideApp(keys, { version: '1.0.0' });
  const bad = await guideApp(keys, { version: '1.0.1', uiSource: BAD_UI });
  const b = await committedBox(t, v1, 'box-p2');
  b.feed.update(await setOf({ live: release(v1, 'live'), candidate: release(bad, 'rolling', rolling(100, 30)) }, 2));
  await until(b, (x) => stat(x).reverted === 1);
  await until(b, (x) => x.box.app?.manifest.version === '1.0.0' && (x.box.screen('ui') as Scene)?.version === '1.0.0');
  t.is(new ModuleCache(b.storage).loadApp('guide')?.version, '1.0.0', 'a power cut now boots the last-known-good version');
  t.is(new RollbackFloor(b.storage).floor('guide'), '1.0.0');
  await datagrams(b.feed, 2000); // several more cycles of the same directive
  t.is(b.box.app?.manifest.version, '1.0.0', 'the reverted candidate is not picked again');
  t.is(stat(b).reverted, 1);
});

test('a signed rollback directive brings a box that committed the candidate back; a directive signed by a stranger or replayed is ignored', async (t) => {
  const v1 = await guideApp(keys, { version: '1.0.0' });
  const v2 = await guideApp(keys, { version: '1.0.1' });
  const b = await committedBox(t, v1, 'box-p3');
  b.feed.update(await setOf({ live: release(v1, 'live'), candidate: release(v2, 'rolling', rolling(100, 0)) }, 2));
  await until(b, (x) => x.box.app?.manifest.version === '1.0.1' && uiStarted(x.events) === 2);
  b.clock.advance(1);
  await until(b, (x) => stat(x).committed === 2);
  const stranger = await signer();
  const back: RolloutView = { live: release(v1, 'live'), above: release(v2, 'rolled-back') };
  b.feed.update(await setOf(back, 3, stranger.key));
  await until(b, (x) => stat(x).directivesRefused > 0);
  t.is(b.box.app?.manifest.version, '1.0.1', 'a stranger cannot roll boxes back');
  b.feed.update(await setOf(back, 1)); // a genuine but old directive (seq 1 < 2 seen)
  await until(b, (x) => stat(x).directivesRefused > 1);
  t.is(b.box.app?.manifest.version, '1.0.1', 'a replayed older directive changes nothing');
  b.feed.update(await setOf(back, 4));
  await until(b, (x) => x.box.app?.manifest.version === '1.0.0' && (x.box.screen('ui') as Scene)?.version === '1.0.0');
  t.like(b.box.stats().rollbackFloor, { directivesAccepted: 1 });
});

test('a box outside the wave stays on the live version; one that joins later follows the plan it finds', async (t) => {
  const v1 = await guideApp(keys, { version: '1.0.0' });
  const v2 = await guideApp(keys, { version: '1.0.1' });
  const set = await setOf({ live: release(v1, 'live'), candidate: release(v2, 'rolling', rolling(100, 30)) }, 5);
  const clock = new SkewClock();
  t.teardown(() => clock.close());
  const b = makeBox(engine, keys.trusted, carouselFeed(set).tuner, undefined, { profile: profile('broadcast-only'), storage: new MemoryStorage(8 * MB), boxId: 'box-late', clock });
  t.teardown(() => b.box.stop());
  await b.box.start();
  await until(b, (x) => x.box.app?.manifest.version === '1.0.1' && x.box.running().includes('ui'));
  const zero = await setOf({ live: release(v1, 'live'), candidate: release(v2, 'rolling', rolling(0.001, 30)) }, 6);
  const c = makeBox(engine, keys.trusted, carouselFeed(zero).tuner, undefined, { profile: profile('broadcast-only'), storage: new MemoryStorage(8 * MB), boxId: 'box-out', clock });
  t.teardown(() => c.box.stop());
  await c.box.start();
  await until(c, (x) => x.box.running().includes('ui'));
  t.is(c.box.app?.manifest.version, '1.0.0');
});

test('a box without storage (legacy-sd) follows the rollback directive too: its floor lives in memory, it has no cache to revert from', async (t) => {
  const v1 = await guideApp(keys, { version: '1.0.0' });
  const v2 = await guideApp(keys, { version: '1.0.1' });
  const clock = new SkewClock();
  t.teardown(() => clock.close());
  const feed = carouselFeed(await setOf({ live: release(v1, 'live'), candidate: release(v2, 'rolling', rolling(100, 0)) }, 1));
  const b = makeBox(engine, keys.trusted, feed.tuner, undefined, { profile: profile('legacy-sd'), storage: new MemoryStorage(0), boxId: 'box-sd', clock });
  t.teardown(() => b.box.stop());
  await b.box.start();
  await until(b, (x) => x.box.app?.manifest.version === '1.0.1' && stat(x).committed === 1);
  feed.update(await setOf({ live: release(v1, 'live'), above: release(v2, 'rolled-back') }, 2));
  await until(b, (x) => x.box.app?.manifest.version === '1.0.0' && stat(x).committed === 2);
  t.like(b.box.stats().rollbackFloor, { directivesAccepted: 1 });
});
