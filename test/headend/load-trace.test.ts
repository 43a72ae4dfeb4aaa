// One definition of a node's load (issue 14 finding 1, D16): the live policy path (session
// ingress -> portion.start on the chosen node -> its sampler -> the statistics aggregator -> the
// balancer) and the simulator (sim/replay.ts) replay one trace and place every session alike.
// Every session enters at n1, as in the probe that found n1 reporting all of them as its load.
import test from 'ava';
import { ManualClock, SessionOps, type Envelope, type ResourceReport } from '../../runtime/index.ts';
import { Balancer, SeededRandom, type ClusterView } from '../../policy/index.ts';
import { replayTrace, type TraceEvent } from '../../sim/index.ts';
import { NodeSampler } from '../../headend/stats/statistics-sampler.ts';
import { StatsAggregator } from '../../headend/stats/statistics-aggregate.ts';
import { hostedWork } from '../../headend/stats/hosted-work.ts';
import { MIXED_APP, signedApp } from '../_helpers/apps.ts';
import { memoryRegistry } from '../_helpers/headend.ts';
import { sessionPair } from '../_helpers/session-pair.ts';

const NODES = [
  { node: 'n1', capacity: 2 },
  { node: 'n2', capacity: 4 },
  { node: 'n3', capacity: 6 },
];
const SESSIONS = 60;
const REPORT_EVERY = 5; // sessions between two rounds of reports
const SEED = 1234;

function openEnv(i: number): Envelope {
  const report: ResourceReport = { boxId: `b${i}`, profile: 'legacy-sd', freeMemoryBytes: 1 << 20, appMemoryBytes: 4 << 20, cpuClass: 'low', cpuLoad: 0, storageFreeBytes: 0, sandboxBytes: 0, twoWayUp: true, at: 0 };
  return { v: 1, kind: 'req', id: i + 1, op: SessionOps.open, src: { vaddr: `weft://box/b${i}/inbox` }, dst: { vaddr: 'weft://headend/*/sessions' }, body: { app: 'mix', version: '1.0.0', boxId: `b${i}`, report } };
}

test('one trace, the live policy path and the simulator: the same placements and the same hosted counts', async (t) => {
  const { pub } = await signedApp('mix', MIXED_APP);
  const registry = memoryRegistry();
  const clock = new ManualClock(0);
  const aggregator = new StatsAggregator({ staleAfterMs: 60_000 });
  let view: ClusterView = { now: 0, nodes: [] };
  const ids = NODES.map((n) => n.node);
  const pair = sessionPair(ids, registry, pub, { policy: new Balancer({ random: new SeededRandom(SEED).uniform() }), view: () => view, autoDeliver: true });
  const readings = () => ({ util: 0, loop: { p50Ms: 0, p99Ms: 0, maxMs: 0 }, rss: 0, heapUsed: 0 });
  const samplers = NODES.map(({ node, capacity }) => {
    const sessions = pair.nodes.get(node)!.sessions;
    return new NodeSampler({ node, clock, memLimit: 1, readings, load: () => ({ workers: 1, capacity, work: hostedWork(sessions.perApp(), []), portions: [] }) });
  });
  const live: string[] = [];
  const trace: TraceEvent[] = [];
  for (let i = 0; i < SESSIONS; i++) {
    if (i % REPORT_EVERY === 0) {
      clock.advance(1000);
      for (const s of samplers) aggregator.ingestNode(s.sample(), clock.now());
      view = aggregator.clusterView(clock.now());
      trace.push({ kind: 'report', at: clock.now() });
    }
    // As on a live node: the view is read at decision time, after the reports it holds.
    clock.advance(1);
    view = aggregator.clusterView(clock.now());
    const reply = (await pair.nodes.get('n1')!.sessions.handle(openEnv(i))) as { node: string; session: string };
    live.push(reply.node);
    trace.push({ kind: 'open', session: reply.session, app: 'mix' });
  }
  const sim = replayTrace(NODES, trace, new Balancer({ random: new SeededRandom(SEED).uniform() }));
  t.deepEqual(live, sim.placements.map((p) => p.node), 'every decision the same');
  const hosted = Object.fromEntries(ids.map((id) => [id, pair.nodes.get(id)!.sessions.count]));
  t.deepEqual(hosted, sim.hosted);
  // The load follows capacity (2:4:6), not the ingress node.
  t.true(hosted.n3! > hosted.n2! && hosted.n2! > hosted.n1!, JSON.stringify(hosted));
  for (const s of samplers) s.close();
  await registry.close();
});
