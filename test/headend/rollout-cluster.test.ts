// One rollout driver per cluster (issue 15), on the deterministic tier: two nodes on one registry
// and one release store; the registry's lease picks the node that drives, the other relays its
// boxes' reports to it, so a wave is judged over the whole fleet. When the holder dies the other
// node takes the lease over and drives with every report relayed again.
import test from 'ava';
import { ManualClock, SessionOps, type ResourceReport } from '../../runtime/index.ts';
import { cohort01 } from '../../runtime/app/index.ts';
import { MemoryReleaseStore, Releases } from '../../headend/releases/index.ts';
import { startRollout } from '../../headend/releases/rollout-start.ts';
import { ClusterRollout, DRIVER_VADDR } from '../../headend/releases/rollout-cluster.ts';
import { MIXED_APP, signedApp } from '../_helpers/apps.ts';
import { guideApp, signer } from '../_helpers/box-app.ts';
import { memoryNode, memoryRegistry, type MemoryNode } from '../_helpers/headend.ts';
import { MemoryNet } from '../_helpers/memory-net.ts';
import { settle, memoryBox, clockStepper } from '../_helpers/memory-tier.ts';

const INTERVAL = 1000;
const keys = await signer();
const v1 = await guideApp(keys, { version: '1.0.0' });
const v2 = await guideApp(keys, { version: '1.0.1' });
const PLAN = { waves: [{ percent: 50, probationS: 60, errorBudget: 0.3 }, { percent: 100, probationS: 60, errorBudget: 0.3 }], quorum: 0.5, stallS: 300 };
/** Boxes in the first wave (cohort below 50%). */
const WAVE = Array.from({ length: 400 }, (_, i) => `box-${i}`).filter((b) => cohort01(b, 'guide') < 0.5);

async function cluster() {
  const { pub, trusted } = await signedApp('mix', MIXED_APP);
  const clock = new ManualClock();
  const net = new MemoryNet();
  const registry = memoryRegistry(clock);
  const store = new MemoryReleaseStore();
  const at = { now: 1_000_000 };
  const nodes: MemoryNode[] = [];
  const drivers: ClusterRollout[] = [];
  for (const id of ['n1', 'n2']) {
    const n = await memoryNode({ id, net, clock, registry, apps: [pub], trusted, intervalMs: INTERVAL });
    const releases = new Releases({ store, trusted: () => keys.trusted, now: () => at.now });
    const loop = await startRollout({ releases, store, carousels: new Map(), reports: n.sessions, now: () => at.now });
    nodes.push(n);
    drivers.push(new ClusterRollout(n, loop, n.sessions));
  }
  for (const n of nodes) await n.refreshPeers();
  const ops = new Releases({ store, trusted: () => keys.trusted, now: () => at.now });
  for (const b of [v1, v2]) await ops.publish({ manifestBytes: b.manifestBytes, signature: b.signature, sources: b.sources }, 'operator');
  await ops.promote('guide', '1.0.0', { now: true });
  await ops.promote('guide', '1.0.1', { plan: PLAN });
  const { box, transport: boxT } = memoryBox(net, clock);
  /** A box reports its outcome for 1.0.1 to one node's stats endpoint. */
  const report = async (n: MemoryNode, boxId: string, outcome: 'committed' | 'reverted'): Promise<void> => {
    const body: ResourceReport = { boxId, profile: 'hd-dvr', freeMemoryBytes: 1, appMemoryBytes: 1, cpuClass: 'mid', cpuLoad: 0, storageFreeBytes: 0, sandboxBytes: 0, twoWayUp: true, at: at.now, rollout: [{ app: 'guide', version: '1.0.1', outcome, at: at.now }] } as ResourceReport;
    await box.send({ vaddr: `weft://headend/${n.id}/stats`, udp: n.udpAddress }, body, { op: SessionOps.report, kind: 'stat' });
  };
  const advance = clockStepper(clock, INTERVAL);
  const close = async (): Promise<void> => {
    for (const n of nodes) await n.close();
    await boxT.close();
    await registry.close();
  };
  return { nodes: nodes as [MemoryNode, MemoryNode], drivers: drivers as [ClusterRollout, ClusterRollout], store, registry, net, at, report, advance, close };
}

test('one node drives; the wave is judged over both nodes\' boxes: failures reported only to the other node halt and roll back the candidate', async (t) => {
  const c = await cluster();
  const [n1, n2] = c.nodes;
  const [d1, d2] = c.drivers;
  try {
    // The wave's boxes on n1 commit; those on n2 revert: 50% failed, over a 30% budget, but 0% on n1.
    for (const [i, b] of WAVE.entries()) await c.report(i % 2 === 0 ? n1 : n2, b, i % 2 === 0 ? 'committed' : 'reverted');
    for (let i = 0; i < 3; i++) await settle();
    await d1.tick();
    t.is(d1.stats().holder, 'n1', 'the first to ask holds the lease');
    t.is((await c.registry.lookup(DRIVER_VADDR))?.node, 'n1');
    t.is((await c.store.get('guide', '1.0.1'))?.state, 'rolling', 'n1 alone sees no failure');
    await d2.tick();
    t.is(d2.stats().holder, 'n1');
    t.is(d2.stats().relayed, Math.floor(WAVE.length / 2), 'n2 relayed each of its boxes once');
    for (let i = 0; i < 3; i++) await settle();
    await d1.tick();
    t.is((await c.store.get('guide', '1.0.1'))?.state, 'rolled-back', 'halted on the whole fleet\'s count, then rolled back');
    t.is(d2.stats().drove, 0, 'n2 never drove');
    await d2.tick();
    t.is(d2.stats().relayed, Math.floor(WAVE.length / 2), 'nothing changed: nothing relayed again');
  } finally {
    await c.close();
  }
});

test('the holder dies: the other node takes the lease over only once it is declared dead, and drives', async (t) => {
  const c = await cluster();
  const [n1, n2] = c.nodes;
  const [d1, d2] = c.drivers;
  try {
    await d1.tick();
    for (const [i, b] of WAVE.entries()) await c.report(n2, b, i % 3 === 0 ? 'reverted' : 'committed'); // 33% failed: over budget
    for (let i = 0; i < 3; i++) await settle();
    c.net.cut(n1.udpAddress);
    n1.statistics.stop();
    n1.timing.stop();
    await d2.tick();
    t.is(d2.stats().holder, 'n1', 'alive until declared dead: no takeover yet');
    t.is(d2.stats().drove, 0);
    while (n2.timing.isAlive('n1') !== false) await c.advance(INTERVAL / 4);
    await d2.tick();
    t.is(d2.stats().holder, 'n2');
    t.is(d2.stats().takeovers, 1);
    t.is((await c.store.get('guide', '1.0.1'))?.state, 'rolled-back', 'n2 drove with its own boxes\' reports');
  } finally {
    await c.close();
  }
});

test('once the holder is known, a changed report heard by another node is relayed at once and the holder decides on it, no tick needed', async (t) => {
  const c = await cluster();
  const [n1, n2] = c.nodes;
  const [d1, d2] = c.drivers;
  try {
    await d1.tick();
    await d2.tick();
    const ticks = [d1.stats().drove, d2.stats().relayedTicks];
    for (const [i, b] of WAVE.entries()) await c.report(i % 2 === 0 ? n1 : n2, b, i % 2 === 0 ? 'committed' : 'reverted');
    for (let i = 0; i < 20 && (await c.store.get('guide', '1.0.1'))?.state === 'rolling'; i++) await settle();
    t.is((await c.store.get('guide', '1.0.1'))?.state, 'rolled-back', 'halted on the relayed reports');
    t.deepEqual([d1.stats().drove, d2.stats().relayedTicks], ticks, 'no tick ran meanwhile');
    t.true(d2.stats().relayed >= 1, 'n2 relayed on the report');
    t.is(d2.stats().drove, 0, 'n2 never decided');
  } finally {
    await c.close();
  }
});
