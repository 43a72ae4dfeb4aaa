import test from 'ava';
import { ArgumentError, Channel, ChannelClosedError, LocalBus, ManualClock, type Envelope } from '../../runtime/index.ts';
import { selectConfig, selectNode } from '../../policy/index.ts';
import { type NodeStats, parseNodeStats, STAT_OPS } from '../../headend/stats/statistics.ts';
import type { StatsView } from '../../headend/stats/statistics-aggregate.ts';
import { StatisticsProcess } from '../../headend/stats/statistics-process.ts';
import { NodeSampler } from '../../headend/stats/statistics-sampler.ts';
import { TimingProcess } from '../../headend/stats/timing.ts';

const I = 1000;

function fakeStats(node: string, clock: ManualClock, sessions: () => number): () => NodeStats {
  let seq = 0;
  return () => ({
    node,
    incarnation: 1,
    seq: ++seq,
    at: clock.now(),
    intervalMs: I,
    cpu: { cores: 2, util: 0.1 },
    memory: { rss: 1e8, heapUsed: 5e7, limit: 1e9 },
    loop: { p50Ms: 10, p99Ms: 11, maxMs: 12 },
    workers: 2,
    capacity: 2,
    load: sessions() / 10,
    apps: {},
    sessions: sessions(),
    queue: 0,
    util: 0.2,
    waitMs: 0.5,
    portions: [],
  });
}

const cpuMs = (since: NodeJS.CpuUsage): number => {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1000;
};

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A head-end node's statistics and timing processes on a local queue; every `stat` goes to every other node. */
function node(name: string, bus: LocalBus, clock: ManualClock, peers: Map<string, { stats: StatisticsProcess; timing: TimingProcess }>) {
  const q = bus.open(`stats.${name}`);
  const broadcast = (op: string, body: unknown): Promise<void> =>
    Promise.all([...peers.keys()].filter((p) => p !== name).map((p) => q.send({ v: 1, kind: 'stat', id: 0, src: q.address, dst: { queue: `stats.${p}` }, op, body }))).then(() => {});
  const stats = new StatisticsProcess({ sample: fakeStats(name, clock, () => 10), clock, intervalMs: I, send: broadcast });
  const timing = new TimingProcess({
    node: name,
    clock,
    intervalMs: I,
    send: broadcast,
    onDead: (n) => stats.setAlive(n, false),
    onAlive: (n) => stats.setAlive(n, true),
  });
  const channel = new Channel({ self: q.address, write: (e) => q.send(e), clock, onRequest: (e: Envelope) => stats.answer(e), onMessage: (e) => void (timing.receive(e) || stats.receive(e)) });
  q.onEnvelope((e) => channel.receive(e));
  const entry = { stats, timing, stop: () => (stats.stop(), timing.stop(), void q.close()) };
  peers.set(name, entry);
  return entry;
}

test('[c16, c38] every node\'s statistics process holds the same cluster view, readable by request', async (t) => {
  const clock = new ManualClock();
  const bus = new LocalBus();
  const peers = new Map();
  const nodes = ['node-a', 'node-b', 'node-c'].map((n) => node(n, bus, clock, peers));
  for (const n of nodes) {
    n.stats.start();
    n.timing.start();
  }
  await tick();
  for (let i = 0; i < 3; i++) {
    clock.advance(I);
    await tick();
  }
  for (const n of nodes) t.deepEqual(n.stats.view().nodes.map((e) => [e.stats.node, e.state, e.stats.seq]), [['node-a', 'ok', 4], ['node-b', 'ok', 4], ['node-c', 'ok', 4]]);
  // Anyone (the CLI, the dashboard, a box) can ask a node for its view.
  const q = bus.open('cli');
  const cli = new Channel({ self: q.address, write: (e) => q.send(e), clock });
  q.onEnvelope((e) => cli.receive(e));
  const view = (await cli.request({ queue: 'stats.node-b' }, undefined, { op: STAT_OPS.view })) as StatsView;
  t.is(view.totals.nodes, 3);
  t.is(view.totals.sessions, 30);
  t.true(view.nodes.every((e) => e.ageMs === 0));
  for (const n of nodes) n.stop();
  t.is(clock.pending, 0);
});

test('[c16] statistics and timing together: a dead node is marked dead within 3 intervals and never chosen', async (t) => {
  const clock = new ManualClock();
  const bus = new LocalBus();
  const peers = new Map();
  const [a, b, c] = ['node-a', 'node-b', 'node-c'].map((n) => node(n, bus, clock, peers)) as [ReturnType<typeof node>, ReturnType<typeof node>, ReturnType<typeof node>];
  for (const n of [a, b, c]) {
    n.stats.start();
    n.timing.start();
  }
  for (let i = 0; i < 3; i++) {
    clock.advance(I);
    await tick();
  }
  c.stop(); // node-c's process dies right after its beat
  const diedAt = clock.now();
  let declared: number | undefined;
  while (declared === undefined && clock.now() - diedAt < 5 * I) {
    clock.advance(I / 4);
    await tick();
    if (a.stats.view().nodes.find((e) => e.stats.node === 'node-c')?.state === 'dead') declared = clock.now();
  }
  t.not(declared, undefined);
  t.true((declared as number) - diedAt <= 3 * I, `declared after ${(declared as number) - diedAt} ms`);
  const view = a.stats.clusterView();
  t.deepEqual(view.nodes.map((n) => [n.node, n.alive]), [['node-a', true], ['node-b', true], ['node-c', false]]);
  let seed = 3;
  const rand = (): number => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  for (let i = 0; i < 30; i++) {
    const pick = selectNode(view, { app: 'guide' }, selectConfig(), rand);
    t.true(pick.ok && pick.value.node !== 'node-c');
  }
  a.stop();
  b.stop();
});

test('a sample that throws or a send that fails is counted; the process keeps reporting', async (t) => {
  const clock = new ManualClock();
  const errors: unknown[] = [];
  let n = 0;
  const good = fakeStats('n', clock, () => 1);
  const p = new StatisticsProcess({
    sample: () => {
      if (++n === 2) throw new Error('sampler bug');
      return good();
    },
    send: () => Promise.reject(new ChannelClosedError()),
    clock,
    intervalMs: I,
    onError: (e) => errors.push(e),
  });
  p.start();
  clock.advance(3 * I);
  await tick();
  t.is(p.stats().reports, 3);
  t.is(errors.length, 4);
  t.is(p.last?.seq, 3);
  p.stop();
  t.throws(() => new StatisticsProcess({ sample: good, every: 1 } as never), { instanceOf: ArgumentError, message: /"every"/ });
});

test('NodeSampler measures CPU, memory and event-loop delay of this process, and passes the node\'s load on', async (t) => {
  const sampler = new NodeSampler({
    node: 'live',
    intervalMs: 500,
    memLimit: 8e9,
    udp: { host: '127.0.0.1', port: 7777 },
    loopResolutionMs: 5,
    load: () => ({
      workers: 3,
      work: [{ app: 'guide', kind: 'session', count: 12, cost: 1 }],
      portions: [
        { vaddr: 'weft://guide/*/epg', workers: 2, queue: 4, served: 10, waitEwmaMs: 2, waitP50Ms: 1, waitP99Ms: 5, waitMaxMs: 9 },
        { vaddr: 'weft://vod/*/cat', workers: 1, queue: 1, served: 3, waitEwmaMs: 7, waitP50Ms: 6, waitP99Ms: 8, waitMaxMs: 8 },
      ],
    }),
  });
  try {
    sampler.sample();
    const wall0 = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 30));
    // Busy until this process has burnt 100 ms of CPU (however long that takes on a loaded
    // machine): CPU use, and a loop blocked at least that long.
    const cpu0 = process.cpuUsage();
    const blockedFrom = performance.now();
    while (cpuMs(cpu0) < 100 && performance.now() - blockedFrom < 5000);
    const blockedMs = performance.now() - blockedFrom;
    await new Promise((resolve) => setTimeout(resolve, 30));
    const s = sampler.sample();
    const wallMs = performance.now() - wall0;
    t.true(parseNodeStats(s).ok, 'the sample is a valid report');
    const busyMs = s.cpu.util * s.cpu.cores * wallMs;
    t.true(busyMs >= 90 && s.cpu.util <= 1, `cpu util ${s.cpu.util} of ${s.cpu.cores} cores over ${wallMs} ms = ${busyMs} ms busy`);
    t.true(s.loop.maxMs >= blockedMs * 0.8, `loop max ${s.loop.maxMs} ms, blocked ${blockedMs} ms`);
    t.true(s.memory.rss > 1e6 && s.memory.heapUsed > 0);
    t.is(s.memory.limit, 8e9);
    t.deepEqual([s.node, s.seq, s.intervalMs, s.workers, s.capacity, s.load, s.queue, s.waitMs], ['live', 2, 500, 3, 3, 12, 5, 7]);
    t.deepEqual(s.udp, { host: '127.0.0.1', port: 7777 });
  } finally {
    sampler.close();
  }
  t.throws(() => sampler.sample(), { instanceOf: ChannelClosedError });
  t.throws(() => new NodeSampler({ node: 'x', memLimit: -1 }), { instanceOf: ArgumentError, message: /memLimit/ });
});
