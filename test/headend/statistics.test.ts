import test from 'ava';
import fc from 'fast-check';
import { ArgumentError, EnvelopeCodec, type Envelope } from '../../runtime/index.ts';
import { healthy, selectConfig, selectNode } from '../../policy/index.ts';
import { type BoxStats, type NodeStats, parseBoxStats, parseNodeStats, STAT_OPS } from '../../headend/stats/statistics.ts';
import { StatsAggregator } from '../../headend/stats/statistics-aggregate.ts';

const T0 = 1_700_000_000_000;

function nodeStats(node: string, over: Partial<NodeStats> = {}): NodeStats {
  return {
    node,
    incarnation: T0,
    seq: 1,
    at: T0,
    intervalMs: 1000,
    cpu: { cores: 2, util: 0.25 },
    memory: { rss: 100e6, heapUsed: 40e6, limit: 1e9 },
    loop: { p50Ms: 10.1, p99Ms: 12, maxMs: 15 },
    workers: 4,
    capacity: 4,
    load: 2,
    apps: { guide: 1.5, vod: 0.5 },
    sessions: 20,
    queue: 3,
    util: 0.5,
    waitMs: 1.5,
    portions: [{ vaddr: 'weft://guide/*/epg', workers: 2, queue: 3, served: 900, waitEwmaMs: 1.5, waitP50Ms: 1, waitP99Ms: 4, waitMaxMs: 6 }],
    ...over,
  };
}

const box = (id: string, over: Partial<BoxStats> = {}): BoxStats => ({
  box: id,
  profile: 'hd-dvr',
  session: 's1',
  seq: 1,
  at: T0,
  memory: { total: 32e6, free: 20e6 },
  cpuLoad: 0.3,
  storage: { total: 64e6, free: 60e6 },
  sandbox: { used: 4e6, limit: 16e6 },
  ...over,
});

const env = (op: string, body: unknown, kind: Envelope['kind'] = 'stat'): Envelope => ({ v: 1, kind, id: 1, src: { queue: 'x' }, dst: { queue: 'stats' }, op, body });

test('[c38] node and box reports survive the envelope codec and parse back equal', (t) => {
  const codec = new EnvelopeCodec();
  const n = nodeStats('node-a', { udp: { host: '127.0.0.1', port: 7000 } });
  const back = codec.decode(codec.encode(env(STAT_OPS.node, n)));
  t.deepEqual(parseNodeStats(back.body), { ok: true, value: n });
  const b = box('box-1');
  t.deepEqual(parseBoxStats(codec.decode(codec.encode(env(STAT_OPS.box, b))).body), { ok: true, value: b });
});

test('malformed reports are refused as values naming the field; unknown fields are dropped', (t) => {
  const bad = (over: Record<string, unknown>): unknown => ({ ...nodeStats('n'), ...over });
  t.deepEqual(parseNodeStats(bad({ cpu: { cores: 2, util: 1.5 } })), { ok: false, error: 'node stats.cpu.util must be a number in 0..1' });
  t.deepEqual(parseNodeStats(bad({ node: 'a b' })), { ok: false, error: 'node stats.node must be an id' });
  t.deepEqual(parseNodeStats(bad({ seq: 1.5 })), { ok: false, error: 'node stats.seq must be an integer' });
  t.regex((parseNodeStats(bad({ portions: [{ vaddr: 'x' }] })) as { error: string }).error, /portions\[0\]\.workers/);
  t.regex((parseNodeStats(bad({ udp: { host: '1.2.3.4', port: 0 } })) as { error: string }).error, /udp\.port/);
  t.false(parseNodeStats(null).ok);
  t.false(parseBoxStats({ ...box('b'), memory: 5 }).ok);
  const extra = parseNodeStats({ ...nodeStats('n'), secret: 'x' });
  t.true(extra.ok && !('secret' in extra.value));
});

test('random bodies give a value, never a throw', (t) => {
  fc.assert(
    fc.property(fc.anything(), (body) => {
      const a = parseNodeStats(body);
      const b = parseBoxStats(body);
      return typeof a.ok === 'boolean' && typeof b.ok === 'boolean';
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

test('[c16] the cluster view holds every node with its report age measured on the receiver\'s clock', (t) => {
  const agg = new StatsAggregator({ staleAfterMs: 3000 });
  // node-b's clock is an hour ahead: ages must not care.
  t.deepEqual(agg.ingest(env(STAT_OPS.node, nodeStats('node-b', { at: T0 + 3_600_000 })), T0 + 500), { ok: true, value: 'node' });
  t.deepEqual(agg.ingest(env(STAT_OPS.node, nodeStats('node-a')), T0 + 1000), { ok: true, value: 'node' });
  const v = agg.view(T0 + 2000);
  t.deepEqual(v.nodes.map((n) => [n.stats.node, n.ageMs, n.state]), [['node-a', 1000, 'ok'], ['node-b', 1500, 'ok']]);
  t.deepEqual(v.totals, { nodes: 2, alive: 2, sessions: 40, workers: 8, capacity: 8, load: 4 });
  const later = agg.view(T0 + 4000);
  t.deepEqual(later.nodes.map((n) => n.state), ['ok', 'stale']);
});

test('late and duplicate reports are dropped; a new incarnation replaces the old at any seq', (t) => {
  const agg = new StatsAggregator();
  agg.ingestNode(nodeStats('n', { seq: 5, sessions: 5 }), T0);
  t.deepEqual(agg.ingestNode(nodeStats('n', { seq: 4, sessions: 4 }), T0 + 1), { ok: false, error: { reason: 'late', detail: `n report ${T0}/4 after ${T0}/5` } });
  t.false(agg.ingestNode(nodeStats('n', { seq: 5 }), T0 + 2).ok);
  t.is(agg.node('n')?.sessions, 5);
  t.true(agg.ingestNode(nodeStats('n', { incarnation: T0 + 10, seq: 1, sessions: 0 }), T0 + 3).ok);
  t.is(agg.node('n')?.sessions, 0);
  t.false(agg.ingestNode(nodeStats('n', { incarnation: T0, seq: 99 }), T0 + 4).ok, 'the old incarnation is gone');
  t.deepEqual(agg.stats(), { nodeReports: 2, boxReports: 0, late: 3, malformed: 0, ignored: 0 });
});

test('other envelopes are ignored and bad bodies counted as malformed, never thrown', (t) => {
  const agg = new StatsAggregator();
  t.is((agg.ingest(env('session.setup', {}, 'req'), T0) as { error: { reason: string } }).error.reason, 'ignored');
  t.is((agg.ingest(env(STAT_OPS.node, { node: 'x' }), T0) as { error: { reason: string } }).error.reason, 'malformed');
  t.is((agg.ingest(env(STAT_OPS.box, 'junk'), T0) as { error: { reason: string } }).error.reason, 'malformed');
  t.deepEqual(agg.stats(), { nodeReports: 0, boxReports: 0, late: 0, malformed: 2, ignored: 1 });
  t.is(agg.view(T0).nodes.length, 0);
});

test('[c5, c41] box resource reports: the latest wins, lookup by box id, counted in the view', (t) => {
  const agg = new StatsAggregator({ staleAfterMs: 1000 });
  agg.ingest(env(STAT_OPS.box, box('box-1', { seq: 7 })), T0);
  agg.ingest(env(STAT_OPS.box, box('box-1', { seq: 1, memory: { total: 32e6, free: 1e6 } })), T0 + 100); // rebooted box
  agg.ingest(env(STAT_OPS.box, box('box-2')), T0 + 900);
  t.is(agg.box('box-1')?.memory.free, 1e6);
  t.is(agg.box('box-3'), undefined);
  t.deepEqual(agg.view(T0 + 1500).boxes, { count: 2, fresh: 1 });
});

test('[c16] a node the timing process declared dead stays dead in both views until declared alive', (t) => {
  const agg = new StatsAggregator();
  agg.ingestNode(nodeStats('node-a'), T0);
  agg.ingestNode(nodeStats('node-b'), T0);
  agg.setAlive('node-b', false);
  agg.ingestNode(nodeStats('node-b', { seq: 2 }), T0 + 10); // a late report does not revive it
  const v = agg.view(T0 + 20);
  t.deepEqual(v.nodes.map((n) => n.state), ['ok', 'dead']);
  t.is(v.totals.alive, 1);
  t.is(v.totals.sessions, 20);
  const cv = agg.clusterView(T0 + 20);
  t.deepEqual(cv.nodes.map((n) => n.alive), [true, false]);
  agg.setAlive('node-b', true);
  t.deepEqual(agg.view(T0 + 20).nodes.map((n) => n.state), ['ok', 'ok']);
  t.throws(() => agg.setAlive(5 as never, true), { instanceOf: ArgumentError });
});

test('[c13-c16] the policy view feeds the balancer: a dead or memory-full node is never chosen', (t) => {
  const agg = new StatsAggregator();
  agg.ingestNode(nodeStats('node-a', { memory: { rss: 0.99e9, heapUsed: 1, limit: 1e9 } }), T0);
  agg.ingestNode(nodeStats('node-b'), T0);
  agg.ingestNode(nodeStats('node-c', { load: 0 }), T0);
  agg.setAlive('node-c', false);
  const view = agg.clusterView(T0 + 100);
  t.deepEqual(view.nodes[1], {
    node: 'node-b', at: T0, capacity: 4, load: 2, apps: { guide: 1.5, vod: 0.5 }, sessions: 20, queue: 3, util: 0.5, waitMs: 1.5, memUsed: 100e6, memLimit: 1e9, alive: true,
  });
  t.deepEqual(view.nodes.map((n) => healthy(view, n, 5000)), [true, true, false]);
  let seed = 1;
  const rand = (): number => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  for (let i = 0; i < 50; i++) {
    const out = selectNode(view, { app: 'guide', mem: 1e6 }, selectConfig(), rand);
    t.true(out.ok);
    if (out.ok) t.is(out.value.node, 'node-b');
  }
});

test('prune forgets nodes and boxes not heard from; options are checked by name', (t) => {
  const agg = new StatsAggregator({ forgetAfterMs: 10_000 });
  agg.ingestNode(nodeStats('old'), T0);
  agg.ingestNode(nodeStats('new'), T0 + 9000);
  agg.ingestBox(box('b-old'), T0);
  t.is(agg.prune(T0 + 10_001), 2);
  t.deepEqual(agg.view(T0 + 10_001).nodes.map((n) => n.stats.node), ['new']);
  t.throws(() => new StatsAggregator({ staleMs: 1 } as never), { instanceOf: ArgumentError, message: /"staleMs"/ });
});
