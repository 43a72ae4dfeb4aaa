import test from 'ava';
import { ArgumentError } from '../../runtime/index.ts';
import {
  Balancer, JsqPolicy, LeastConnectionsPolicy, P2CPolicy, PlacementLedger, RandomPolicy, RoundRobinPolicy, SeededRandom,
  createPolicy, selectConfig, selectNode, OVERLOADED, score,
} from '../../policy/index.ts';
import type { ClusterView, NodeReport } from '../../policy/index.ts';

const NOW = 100_000;

function node(id: string, over: Partial<NodeReport> = {}): NodeReport {
  return { node: id, at: NOW - 500, capacity: 8, load: 0, sessions: 0, queue: 0, util: 0.5, waitMs: 0, memUsed: 100, memLimit: 1000, ...over };
}
const view = (nodes: NodeReport[], now = NOW): ClusterView => ({ now, nodes });
const rnd = (seed = 1) => new SeededRandom(seed).uniform();

test('selectNode with k = n picks the node with the lowest load per capacity', (t) => {
  const v = view([node('a', { load: 6, capacity: 8 }), node('b', { load: 5, capacity: 16 }), node('c', { load: 2, capacity: 4 })]);
  const cfg = selectConfig({ choices: 3 });
  for (let s = 0; s < 20; s++) {
    const r = selectNode(v, { app: 'g', cost: 1 }, cfg, rnd(s));
    t.true(r.ok);
    if (r.ok) {
      t.is(r.value.node, 'b'); // (5+1)/16 < (2+1)/4 < (6+1)/8
      t.is(r.value.index, 1);
      t.is(r.value.score, 6 / 16);
    }
  }
});

test('dead, stale, near-memory-limit and excluded nodes are never chosen; none left is a value', (t) => {
  const nodes = [
    node('dead', { alive: false }),
    node('stale', { at: NOW - 60_000 }),
    node('full', { memUsed: 880 }),
    node('excl'),
    node('ok', { load: 100 }),
  ];
  const cfg = selectConfig({ choices: 5, maxReportAgeMs: 5000, memHighWater: 0.9 });
  for (let s = 0; s < 50; s++) {
    const r = selectNode(view(nodes), { app: 'g', mem: 30, exclude: ['excl'] }, cfg, rnd(s));
    t.true(r.ok && r.value.node === 'ok');
  }
  const none = selectNode(view(nodes.slice(0, 4)), { app: 'g', mem: 30, exclude: ['excl'] }, cfg, rnd());
  t.false(none.ok);
  if (!none.ok) t.deepEqual(none.error, { reason: 'no-eligible-node', nodes: 4, dead: 1, stale: 1, memory: 1, excluded: 1 });
});

test('a node with no report at all (at = 0) counts as stale', (t) => {
  const r = selectNode(view([node('never', { at: 0 })]), { app: 'g' }, selectConfig(), rnd());
  t.false(r.ok);
  if (!r.ok) t.is(r.error.stale, 1);
});

test('capacity sampling gives each node placements in proportion to its capacity; uniform caps big nodes', (t) => {
  const nodes = [node('small', { capacity: 4 }), node('mid', { capacity: 8 }), ...Array.from({ length: 8 }, (_, i) => node(`big${i}`, { capacity: 32 }))];
  const count = (sampling: 'capacity' | 'uniform') => {
    const cfg = selectConfig({ choices: 1, sampling });
    const r = rnd(7);
    const c = new Map<string, number>();
    for (let i = 0; i < 26_800; i++) {
      const p = selectNode(view(nodes), { app: 'g' }, cfg, r);
      if (p.ok) c.set(p.value.node, (c.get(p.value.node) ?? 0) + 1);
    }
    return c;
  };
  const cap = count('capacity');
  // total capacity 268: small expects 400, mid 800, each big 3200.
  t.true(Math.abs((cap.get('small') ?? 0) - 400) < 80);
  t.true(Math.abs((cap.get('mid') ?? 0) - 800) < 120);
  t.true(Math.abs((cap.get('big0') ?? 0) - 3200) < 250);
  const uni = count('uniform');
  t.true(Math.abs((uni.get('small') ?? 0) - 2680) < 250);
});

test('an overloaded node (busy with a backlog) loses to any other candidate', (t) => {
  const cfg = selectConfig({ choices: 2 });
  const hot = node('hot', { load: 0, util: 0.99, queue: 40 });
  t.true(score(hot, 0, 1, cfg) >= OVERLOADED);
  const v = view([hot, node('busy', { load: 7.5 })]);
  for (let s = 0; s < 20; s++) {
    const r = selectNode(v, { app: 'g' }, cfg, rnd(s));
    t.true(r.ok && r.value.node === 'busy');
  }
});

test('optimistic local increments: a balancer on a frozen view spreads work instead of herding', (t) => {
  // One node looks empty in the (stale) view; the others look busy.
  const nodes = [node('empty', { load: 0 }), ...Array.from({ length: 9 }, (_, i) => node(`n${i}`, { load: 6 }))];
  const v = view(nodes);
  const cfg = selectConfig({ choices: 10 });
  // Without the ledger every placement goes to the node that looked emptiest.
  const herd = new Map<string, number>();
  for (let i = 0; i < 100; i++) {
    const r = selectNode(v, { app: 'g', cost: 0.5 }, cfg, rnd(i));
    if (r.ok) herd.set(r.value.node, (herd.get(r.value.node) ?? 0) + 1);
  }
  t.is(herd.get('empty'), 100);
  // With it, the empty node is filled up to the others' level and then work spreads evenly.
  const b = new Balancer({ random: rnd(3), choices: 10 });
  const got = new Map<string, number>();
  for (let i = 0; i < 100; i++) {
    const r = b.place(v, { app: 'g', cost: 0.5 });
    if (r.ok) got.set(r.value.node, (got.get(r.value.node) ?? 0) + 1);
  }
  const empty = got.get('empty') ?? 0;
  t.true(empty >= 12 && empty <= 22, `empty got ${empty}`);
  for (let i = 0; i < 9; i++) t.true((got.get(`n${i}`) ?? 0) >= 6);
});

test('the ledger forgets placements once a report measured after them arrives; releases count negative', (t) => {
  const l = new PlacementLedger();
  l.record('a', 10, 1, 5);
  l.record('a', 20, 2, 5);
  l.record('a', 30, -1, -5);
  t.deepEqual(l.pending('a', 0), { cost: 2, mem: 5, count: 3 });
  t.deepEqual(l.pending('a', 15), { cost: 1, mem: 0, count: 2 });
  t.deepEqual(l.pending('a', 30), { cost: 0, mem: 0, count: 0 });
  t.is(l.size, 0);
  t.deepEqual(l.pending('nobody', 0), { cost: 0, mem: 0, count: 0 });
});

test('pending memory of our own placements makes a node ineligible before its report says so', (t) => {
  const v = view([node('a', { memUsed: 500, memLimit: 1000 })]);
  const b = new Balancer({ random: rnd(), memHighWater: 0.9 });
  const placed = [];
  for (let i = 0; i < 10; i++) placed.push(b.place(v, { app: 'vod', mem: 100 }).ok);
  t.deepEqual(placed, [true, true, true, true, false, false, false, false, false, false]);
  // A fresh report measured after the placements (now showing them) takes over from the ledger.
  const later = view([node('a', { at: NOW + 1, memUsed: 500, memLimit: 1000 })], NOW + 2);
  t.true(b.place(later, { app: 'vod', mem: 100 }).ok);
});

test('peers multiplies this balancer\'s pending work (the others place about as much)', (t) => {
  const v = view([node('a', { load: 0, capacity: 10 }), node('b', { load: 2.5, capacity: 10 })]);
  const one = new Balancer({ random: rnd(), choices: 2 });
  const four = new Balancer({ random: rnd(), choices: 2, peers: 4 });
  const seq = (b: Balancer) => Array.from({ length: 4 }, () => (b.place(v, { app: 'g', cost: 1 }) as { value: { node: string } }).value.node).join('');
  t.is(seq(one), 'aaab'); // a scores 0.1, 0.2, 0.3, then 0.4 > b's 0.35
  t.is(seq(four).slice(0, 2), 'ab'); // after one placement a counts 4: 0.5 > b's 0.35
});

test('Balancer.release counts a departure until the next report', (t) => {
  const v = view([node('a', { load: 5, capacity: 10 }), node('b', { load: 4, capacity: 10 })]);
  const b = new Balancer({ random: rnd(), choices: 2 });
  b.release('a', 2, NOW);
  const r = b.place(v, { app: 'g', cost: 1 });
  t.true(r.ok && r.value.node === 'a');
});

test('options are validated and unknown ones rejected by name', (t) => {
  const e = t.throws(() => selectConfig({ choices: 2, colour: 'red' } as never), { instanceOf: ArgumentError });
  t.is(e?.option, 'colour');
  t.throws(() => selectConfig({ choices: 0 }), { instanceOf: ArgumentError });
  t.throws(() => selectConfig({ memHighWater: 1.5 }), { instanceOf: ArgumentError });
  t.throws(() => selectConfig({ sampling: 'best' as never }), { instanceOf: ArgumentError });
  t.throws(() => new Balancer({ random: rnd(), peers: 0 }), { instanceOf: ArgumentError });
  t.throws(() => createPolicy('fastest' as never, { random: rnd() }), { instanceOf: ArgumentError });
});

test('round-robin interleaves by capacity (smooth weighted)', (t) => {
  const v = view([node('a', { capacity: 1 }), node('b', { capacity: 2 })]);
  const p = new RoundRobinPolicy({ random: rnd(), maxReportAgeMs: 5000 });
  const seq = Array.from({ length: 6 }, () => (p.place(v, { app: 'g' }) as { value: { node: string } }).value.node).join('');
  t.is(seq, 'babbab');
});

test('least-connections counts its own live work per capacity and forgets released work', (t) => {
  const v = view([node('a', { capacity: 1 }), node('b', { capacity: 3 })]);
  const p = new LeastConnectionsPolicy({ random: rnd(), maxReportAgeMs: 5000 });
  const seq = Array.from({ length: 4 }, () => (p.place(v, { app: 'g' }) as { value: { node: string } }).value.node);
  t.deepEqual(seq.filter((x) => x === 'b').length, 3);
  p.release('b', 1);
  p.release('b', 1);
  t.true(((p.place(v, { app: 'g' }) as { value: { node: string } }).value.node) === 'b');
});

test('p2c takes the lower reported queue per capacity of two; jsq the lowest of all', (t) => {
  const v = view([node('a', { queue: 8, capacity: 8 }), node('b', { queue: 2, capacity: 4 }), node('c', { queue: 30, capacity: 16 })]);
  const p2c = new P2CPolicy({ random: rnd(), maxReportAgeMs: 5000 });
  const jsq = new JsqPolicy({ random: rnd(), maxReportAgeMs: 5000 });
  for (let i = 0; i < 30; i++) {
    const r = p2c.place(v, { app: 'g' });
    t.true(r.ok && r.value.node !== 'c'); // c (1.875) loses to either other
    t.true(((jsq.place(v, { app: 'g' }) as { value: { node: string } }).value.node) === 'b');
  }
});

test('random is weighted by capacity and skips unhealthy nodes', (t) => {
  const v = view([node('a', { capacity: 1 }), node('b', { capacity: 3 }), node('d', { alive: false, capacity: 100 })]);
  const p = new RandomPolicy({ random: rnd(5), maxReportAgeMs: 5000 });
  let b = 0;
  for (let i = 0; i < 4000; i++) {
    const r = p.place(v, { app: 'g' });
    t.true(r.ok && r.value.node !== 'd');
    if (r.ok && r.value.node === 'b') b++;
  }
  t.true(Math.abs(b - 3000) < 120, `b got ${b}`);
});

test('every kind from createPolicy answers with a placement on the same view', (t) => {
  const v = view([node('a'), node('b')]);
  for (const k of ['weft', 'random', 'round-robin', 'least-connections', 'p2c', 'jsq'] as const) {
    const p = createPolicy(k, { random: rnd() });
    t.is(p.name, k);
    t.true(p.place(v, { app: 'g' }).ok);
  }
});
