// A session counts in its host's load from the moment the host takes its start, not when the
// worker has finished starting it [c13, c16, D16]. The balancer's ledger forgets a placement once
// a report measured after the decision arrives; a report sampled while the start was still in
// the worker left the session out, so the live balancer saw one session fewer than the simulator
// (bench balance, three node processes: 144 of 300 decisions saw a host one short).
import test from 'ava';
import { ManualClock, SessionOps, type Envelope, type ResourceReport } from '../../runtime/index.ts';
import { Balancer, SeededRandom, type ClusterView } from '../../policy/index.ts';
import { replayTrace, type TraceEvent } from '../../sim/index.ts';
import { NodeSampler } from '../../headend/stats/statistics-sampler.ts';
import { StatsAggregator } from '../../headend/stats/statistics-aggregate.ts';
import { hostedWork } from '../../headend/stats/hosted-work.ts';
import { MIXED_APP, signedApp } from '../_helpers/apps.ts';
import { memoryRegistry } from '../_helpers/headend.ts';
import { gate, sessionPair, type Pair } from '../_helpers/session-pair.ts';

const report = (box: string): ResourceReport => ({ boxId: box, profile: 'legacy-sd', freeMemoryBytes: 1 << 20, appMemoryBytes: 4 << 20, cpuClass: 'low', cpuLoad: 0, storageFreeBytes: 0, sandboxBytes: 0, twoWayUp: true, at: 0 });
const openEnv = (i: number): Envelope => ({ v: 1, kind: 'req', id: i + 1, op: SessionOps.open, src: { vaddr: `weft://box/b${i}/inbox` }, dst: { vaddr: 'weft://headend/*/sessions' }, body: { app: 'mix', version: '1.0.0', boxId: `b${i}`, report: report(`b${i}`) } });

/** Hold every node's next worker start; `launched` resolves when one begins (the host has taken it). */
function holdStarts(pair: Pair): { launched: Promise<string>; release: () => void } {
  const g = gate();
  let began!: (node: string) => void;
  const launched = new Promise<string>((r) => (began = r));
  for (const n of pair.nodes.values()) {
    n.hold = {
      wait: () => {
        began(n.id);
        return g.wait();
      },
    };
  }
  return { launched, release: g.open };
}

test('a session whose start is still in the worker counts on its host, remote or local', async (t) => {
  const { pub } = await signedApp('mix', MIXED_APP);
  for (const host of ['n2', 'n1']) {
    const registry = memoryRegistry();
    const pair = sessionPair(['n1', 'n2'], registry, pub, { placeOn: host, autoDeliver: true });
    const held = holdStarts(pair);
    const opened = pair.nodes.get('n1')!.sessions.handle(openEnv(0));
    t.is(await held.launched, host);
    t.deepEqual(pair.nodes.get(host)!.sessions.perApp(), { mix: 1 }, `${host} hosts it while its worker starts it`);
    t.is(pair.nodes.get(host === 'n1' ? 'n2' : 'n1')!.sessions.count, 0, 'and nobody else counts it');
    held.release();
    await opened;
    t.deepEqual(pair.nodes.get(host)!.sessions.perApp(), { mix: 1 });
    await registry.close();
  }
});

test('reports sampled while starts are in flight: the live policy path and the simulator place alike', async (t) => {
  const { pub } = await signedApp('mix', MIXED_APP);
  const registry = memoryRegistry();
  const clock = new ManualClock(0);
  const aggregator = new StatsAggregator({ staleAfterMs: 60_000 });
  let view: ClusterView = { now: 0, nodes: [] };
  const ids = ['n1', 'n2', 'n3'];
  const pair = sessionPair(ids, registry, pub, { policy: new Balancer({ random: new SeededRandom(77).uniform() }), view: () => view, autoDeliver: true });
  const readings = () => ({ util: 0, loop: { p50Ms: 0, p99Ms: 0, maxMs: 0 }, rss: 0, heapUsed: 0 });
  const samplers = ids.map((node) => {
    const sessions = pair.nodes.get(node)!.sessions;
    return new NodeSampler({ node, clock, memLimit: 1, readings, load: () => ({ workers: 1, capacity: 2, work: hostedWork(sessions.perApp(), []), portions: [] }) });
  });
  const round = () => {
    clock.advance(1000);
    for (const s of samplers) aggregator.ingestNode(s.sample(), clock.now());
    view = aggregator.clusterView(clock.now());
  };
  round();
  const trace: TraceEvent[] = [{ kind: 'report', at: clock.now() }];
  const live: string[] = [];
  for (let i = 0; i < 60; i++) {
    // As on a live node: the view is read at decision time, after the reports it holds.
    clock.advance(1);
    view = aggregator.clusterView(clock.now());
    const held = holdStarts(pair);
    const opened = pair.nodes.get('n1')!.sessions.handle(openEnv(i)) as Promise<{ node: string; session: string }>;
    await held.launched;
    // Every third session, the nodes report while its start is in the worker (after the decision).
    const reportNow = i % 3 === 0;
    if (reportNow) round();
    held.release();
    const reply = await opened;
    live.push(reply.node);
    trace.push({ kind: 'open', session: reply.session, app: 'mix' });
    if (reportNow) trace.push({ kind: 'report', at: clock.now() });
  }
  const sim = replayTrace(ids.map((node) => ({ node, capacity: 2 })), trace, new Balancer({ random: new SeededRandom(77).uniform() }));
  t.deepEqual(live, sim.placements.map((p) => p.node), 'every decision the same');
  t.deepEqual(Object.fromEntries(ids.map((id) => [id, pair.nodes.get(id)!.sessions.count])), sim.hosted);
  for (const s of samplers) s.close();
  await registry.close();
});
