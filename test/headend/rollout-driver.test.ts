// The head-end's half of the rollout loop (issue 15), deterministic: box reports feed the tally,
// a tick decides each rolling wave (quorum, error budget, unknown is not failed), and every change
// of state puts one freshly signed directive on the app's carousel. An injected `now`; no timers.
import test from 'ava';
import type { ModuleSet } from '../../carousel/index.ts';
import { MemoryReleaseStore, Releases, type Release } from '../../headend/releases/index.ts';
import { startRollout } from '../../headend/releases/rollout-start.ts';
import { parseRollout, parseSignature, rolloutTarget, signManifest, verifySignature, ROLLOUT_NAMES, type RolloutDirective } from '../../runtime/app/index.ts';
import type { ResourceReport } from '../../runtime/index.ts';
import { guideApp, signer } from '../_helpers/box-app.ts';

const keys = await signer();
const v1 = await guideApp(keys, { version: '1.0.0' });
const v2 = await guideApp(keys, { version: '1.0.1' });
const BOXES = Array.from({ length: 400 }, (_, i) => `box-${i}`);
const PLAN = { waves: [{ percent: 10, probationS: 60, errorBudget: 0.1 }, { percent: 100, probationS: 60, errorBudget: 0.1 }], quorum: 0.9, stallS: 300 };

async function loop(store = new MemoryReleaseStore(), at = { now: 1_000_000 }) {
  const sets: ModuleSet[] = [];
  const releases = new Releases({ store, trusted: () => keys.trusted, now: () => at.now });
  const reports = { onReport: (_r: ResourceReport): void => {} };
  const l = await startRollout({ releases, store, carousels: new Map([['guide', { update: (s: ModuleSet) => void sets.push(s) }]]), reports, sign: (b) => signManifest(b, keys.key), now: () => at.now });
  const onAir = async (): Promise<RolloutDirective> => {
    await l.driver.refresh('none-such'); // waits for refreshes in flight
    const set = sets.at(-1) as ModuleSet;
    const d = set.modules.find((m) => m.name === ROLLOUT_NAMES.directive)?.bytes as Uint8Array;
    const sig = parseSignature(set.modules.find((m) => m.name === ROLLOUT_NAMES.signature)?.bytes as Uint8Array);
    if (sig === undefined || !(await verifySignature(d, sig.sig, keys.trusted[0]!))) throw new Error('directive not signed by the operator key');
    return parseRollout(d) as RolloutDirective;
  };
  /** Every box that the directive on air puts on the candidate reports `outcome`; the rest stay silent or report live. */
  const report = async (outcome: 'committed' | 'reverted' | 'probation', share = 1): Promise<number> => {
    const d = await onAir();
    let n = 0;
    for (const [i, boxId] of BOXES.entries()) {
      const cand = rolloutTarget(d, { boxId, profile: 'hd-dvr' }).candidate;
      const rollout = cand && (i % 100) / 100 < share ? [{ app: 'guide', version: '1.0.1', outcome, at: at.now }] : [{ app: 'guide', version: '1.0.0', outcome: 'committed' as const, at: at.now }];
      if (cand && rollout[0]?.version === '1.0.1') n++;
      reports.onReport({ boxId, profile: 'hd-dvr', freeMemoryBytes: 1, appMemoryBytes: 1, cpuClass: 'mid', cpuLoad: 0, storageFreeBytes: 0, sandboxBytes: 0, twoWayUp: true, at: at.now, rollout });
    }
    return n;
  };
  return { ...l, store, releases, sets, at, onAir, report };
}

async function rolling(l: Awaited<ReturnType<typeof loop>>): Promise<void> {
  const pub = (b: typeof v1) => l.releases.publish({ manifestBytes: b.manifestBytes, signature: b.signature, sources: b.sources }, 'operator');
  await pub(v1);
  await l.releases.promote('guide', '1.0.0', { now: true });
  await pub(v2);
  await l.releases.promote('guide', '1.0.1', { plan: PLAN });
}

const state = async (l: { store: MemoryReleaseStore }, v: string): Promise<Release['state'] | undefined> => (await l.store.get('guide', v))?.state;

test('a wave promotes on the boxes\' reports once probation is over and the quorum reported success; then the version goes live', async (t) => {
  const l = await loop();
  await rolling(l);
  t.like(await l.onAir(), { state: 'rolling', live: '1.0.0', candidate: { version: '1.0.1', percent: 10 }, probationS: 60 });
  const first = await l.report('committed');
  t.true(first > 10 && first < 100, `about a tenth of ${BOXES.length} boxes took the candidate: ${first}`);
  l.at.now += 59_000;
  t.like((await l.driver.tick()).get('guide@1.0.1'), { kind: 'wait' }, 'not before the probation time');
  l.at.now += 1_000;
  t.like((await l.driver.tick()).get('guide@1.0.1'), { kind: 'promote' });
  const d = await l.onAir();
  t.like(d, { state: 'rolling', candidate: { percent: 100 } });
  await l.report('committed');
  l.at.now += 60_000;
  t.like((await l.driver.tick()).get('guide@1.0.1'), { kind: 'done' });
  t.is(await state(l, '1.0.1'), 'live');
  const last = await l.onAir();
  t.like(last, { state: 'steady', live: '1.0.1' });
  t.true(last.seq > d.seq, 'every directive on air has a higher seq');
});

test('failures past the error budget halt the wave at once and roll it back with one signed directive (rollback directive on air)', async (t) => {
  const l = await loop();
  await rolling(l);
  await l.report('reverted', 0.5);
  t.like((await l.driver.tick()).get('guide@1.0.1'), { kind: 'halt', reason: 'error-budget' });
  t.is(await state(l, '1.0.1'), 'rolled-back');
  t.like(await l.onAir(), { state: 'rolled-back', live: '1.0.0' });
  t.is(l.driver.stats().rolledBack, 1);
  const rb = l.sets.at(-1)?.modules.find((m) => m.name === ROLLOUT_NAMES.rollback);
  t.deepEqual(JSON.parse(new TextDecoder().decode(rb?.bytes)), { kind: 'weft-rollback', app: 'guide', version: '1.0.0', maxFloor: '1.0.1' });
  t.falsy(l.sets.at(-1)?.modules.find((m) => m.name.startsWith(ROLLOUT_NAMES.next)), 'the candidate is off the carousel');
});

test('boxes that never report are unknown, not failed: the wave neither promotes nor fails on them, and halts as stalled after stallS', async (t) => {
  const l = await loop();
  await rolling(l);
  await l.report('committed', 0.5); // half the wave's boxes report success, the rest are cut
  l.at.now += 60_000;
  t.like((await l.driver.tick()).get('guide@1.0.1'), { kind: 'wait' });
  l.at.now += 299_000;
  t.like((await l.driver.tick()).get('guide@1.0.1'), { kind: 'wait' });
  t.is(await state(l, '1.0.1'), 'rolling');
  l.at.now += 1_000;
  t.like((await l.driver.tick()).get('guide@1.0.1'), { kind: 'halt', reason: 'stalled' });
  t.is(await state(l, '1.0.1'), 'rolled-back');
});

test('a restarted head-end resumes the plan from the store: the same wave goes back on air with a higher seq, and the wave keeps its start', async (t) => {
  const store = new MemoryReleaseStore();
  const at = { now: 1_000_000 };
  const a = await loop(store, at);
  await rolling(a);
  const before = await a.onAir();
  at.now += 30_000;
  const b = await loop(store, at); // the restart: a new manager and driver over the same store
  const after = await b.onAir();
  t.like(after, { state: 'rolling', candidate: before.candidate });
  t.true(after.seq > before.seq);
  await b.report('committed');
  at.now += 30_000;
  t.like((await b.driver.tick()).get('guide@1.0.1'), { kind: 'promote' }, 'probation counted from the wave\'s start before the restart');
});

test('a leader whose store lost the counter (a Redis Cluster failover took it back) still puts a higher seq on air: the seq is at least the clock ms [D113]', async (t) => {
  const at = { now: 1_000_000 };
  const a = await loop(new MemoryReleaseStore(), at);
  await rolling(a);
  const before = await a.onAir();
  t.true(before.seq >= 1_000_000, `seq ${before.seq} is at least the clock's ms`);
  at.now += 1_000;
  const b = await loop(new MemoryReleaseStore(), at); // its counter starts again from nothing
  await rolling(b);
  const after = await b.onAir();
  t.true(after.seq > before.seq, `${after.seq} > ${before.seq}: boxes that saw the old leader's directive take the new one`);
});

test('a malformed rollout part is dropped and counted; the tally holds at most maxBoxes boxes', async (t) => {
  const l = await loop();
  l.tally.report({ boxId: 'box-x', rollout: [{ app: 'guide', version: 'nope', outcome: 'committed', at: 1 }] });
  l.tally.report({ boxId: 'box-y', rollout: 'x' });
  t.like(l.tally.stats(), { malformed: 2, boxes: 0 });
  const { RolloutTally } = await import('../../headend/releases/rollout-tally.ts');
  const small = new RolloutTally({ maxBoxes: 2 });
  for (const id of ['a', 'b', 'c']) small.report({ boxId: id });
  t.like(small.stats(), { boxes: 2, overflow: 1 });
});

test('a wave is decided on the report that completes its quorum or passes its budget, not at the next tick; a node that does not drive decides nothing', async (t) => {
  const l = await loop();
  await rolling(l);
  l.at.now += 60_000; // the wave's probation is over when its boxes commit (they began theirs after it started)
  await l.report('committed');
  await l.driver.settled();
  t.is(l.driver.stats().ticks, 0, 'no tick ran');
  t.is(l.driver.stats().onReport, 1);
  t.like(await l.onAir(), { state: 'rolling', candidate: { percent: 100 } }, 'promoted on the report');

  const bad = await loop();
  await rolling(bad);
  bad.driver.active = false; // another node holds the cluster's lease
  await bad.report('reverted', 0.5);
  await bad.driver.settled();
  t.is(await state(bad, '1.0.1'), 'rolling', 'not this node\'s decision');
  bad.driver.active = true;
  await bad.report('reverted', 0.6); // later reports from the same boxes: outcomes unchanged except the new ones
  await bad.driver.settled();
  t.is(await state(bad, '1.0.1'), 'rolled-back', 'halted and rolled back on the report that passed the budget');
  t.is(bad.driver.stats().ticks, 0);
});

test('a decision on reports that fails (the store is down) is counted and logged, and the next tick decides', async (t) => {
  class FlakyStore extends MemoryReleaseStore {
    down = false;
    override async get(app: string, version: string): Promise<Release | undefined> {
      if (this.down) throw new Error('store down');
      return super.get(app, version);
    }
  }
  const store = new FlakyStore();
  const l = await loop(store);
  await rolling(l);
  store.down = true;
  await l.report('reverted', 0.5);
  await l.driver.settled();
  t.is(l.driver.stats().onReportFailed, 1);
  store.down = false;
  t.is(await state(l, '1.0.1'), 'rolling');
  t.like((await l.driver.tick()).get('guide@1.0.1'), { kind: 'halt' });
  t.is(await state(l, '1.0.1'), 'rolled-back');
});
