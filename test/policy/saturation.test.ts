import test from 'ava';
import fc from 'fast-check';
import { ArgumentError } from '../../runtime/index.ts';
import { SeededRandom, decideScale, pickShare, portionShares, saturated, scaleConfig, splitShares } from '../../policy/index.ts';
import type { ClusterView, NodeReport, PortionState } from '../../policy/index.ts';

const NOW = 50_000;
function node(id: string, over: Partial<NodeReport> = {}): NodeReport {
  return { node: id, at: NOW - 200, capacity: 8, load: 4, sessions: 10, queue: 2, util: 0.5, waitMs: 1, memUsed: 1, memLimit: 100, ...over };
}
const rnd = () => new SeededRandom(9).uniform();
const cfg = scaleConfig({ highUtil: 0.95, waitTargetMs: 50, hotHoldMs: 0, lowUtil: 0.6, holdMs: 10_000, cooldownMs: 2000, maxNodes: 3 });
const HOT = { util: 0.99, waitMs: 120 };

test('saturated: busy and waiting too long for the critical section, both', (t) => {
  t.true(saturated(node('a', { util: 0.96, waitMs: 80 }), cfg));
  t.false(saturated(node('a', { util: 0.96, waitMs: 10 }), cfg)); // busy but nobody waits: fine
  t.false(saturated(node('a', { util: 0.5, waitMs: 80 }), cfg)); // idle workers: a lock problem
});

test('saturation must last hotHoldMs before a spawn', (t) => {
  const held = scaleConfig({ hotHoldMs: 3000 });
  const v = (now: number): ClusterView => ({ now, nodes: [node('a', { at: now, ...HOT }), node('b', { at: now })] });
  let p: PortionState = { app: 'g', nodes: ['a'], shares: [1], demand: 4 };
  let r = decideScale(v(NOW), p, held, rnd());
  t.deepEqual([r.decision.reason, r.hotSince], ['saturated, holding', NOW]);
  p = { ...p, hotSince: r.hotSince };
  t.is(decideScale(v(NOW + 2999), p, held, rnd()).decision.kind, 'none');
  r = decideScale(v(NOW + 3000), p, held, rnd());
  t.deepEqual([r.decision.kind, r.hotSince], ['spawn', undefined]);
  // One calm report in between starts the hold again.
  const calm: ClusterView = { now: NOW + 1000, nodes: [node('a', { at: NOW + 1000 }), node('b', { at: NOW + 1000 })] };
  t.is(decideScale(calm, p, held, rnd()).hotSince, undefined);
});

test('spawn on the node with the most room (all apps\' load) once every serving node saturates [c30]', (t) => {
  const view: ClusterView = {
    now: NOW,
    nodes: [
      node('home', { ...HOT, load: 8 }),
      node('busy', { load: 7, apps: { vod: 7 } }),
      node('roomy', { load: 1, capacity: 8, apps: { guide: 1 } }),
      node('dead', { alive: false, load: 0 }),
      node('hot', { load: 0, ...HOT }),
    ],
  };
  const p: PortionState = { app: 'guide', nodes: ['home'], shares: [1], demand: 6 };
  const { decision } = decideScale(view, p, cfg, rnd());
  t.deepEqual(decision, { kind: 'spawn', app: 'guide', node: 'roomy', reason: 'every serving node saturated' });
  // A replica with headroom left: no spawn, the split shifts instead.
  const two: PortionState = { ...p, nodes: ['home', 'roomy'], shares: [0.7, 0.3] };
  t.is(decideScale(view, two, cfg, rnd()).decision.kind, 'none');
});

test('no spawn while cooling down, at maxNodes, or when every candidate is saturated too', (t) => {
  const hotAll: ClusterView = { now: NOW, nodes: [node('a', HOT), node('b', HOT), node('c', HOT), node('d', HOT)] };
  const base: PortionState = { app: 'g', nodes: ['a'], shares: [1], demand: 4 };
  t.is(decideScale(hotAll, base, cfg, rnd()).decision.reason, 'saturated, every candidate is too');
  const cooling = { ...base, changedAt: NOW - 1000 };
  t.is(decideScale(hotAll, cooling, cfg, rnd()).decision.reason, 'saturated, cooling down');
  const full = { ...base, nodes: ['a', 'b', 'c'], shares: [0.4, 0.3, 0.3] };
  t.is(decideScale(hotAll, full, cfg, rnd()).decision.reason, 'saturated at maxNodes');
});

test('a replica retires only after every node stayed calm for the hold time', (t) => {
  const calm = (now: number): ClusterView => ({ now, nodes: [node('a', { at: now, util: 0.3 }), node('b', { at: now, util: 0.2 })] });
  let p: PortionState = { app: 'g', nodes: ['a', 'b'], shares: [0.5, 0.5], demand: 2, changedAt: NOW - 60_000 };
  let r = decideScale(calm(NOW), p, cfg, rnd());
  t.is(r.decision.kind, 'none');
  t.is(r.calmSince, NOW);
  p = { ...p, calmSince: r.calmSince };
  r = decideScale(calm(NOW + 9_999), p, cfg, rnd());
  t.is(r.decision.kind, 'none');
  // A busy moment resets the hold.
  const busy: ClusterView = { now: NOW + 5000, nodes: [node('a', { at: NOW + 5000, util: 0.8 }), node('b', { at: NOW + 5000 })] };
  t.is(decideScale(busy, p, cfg, rnd()).calmSince, undefined);
  r = decideScale(calm(NOW + 10_000), p, cfg, rnd());
  t.deepEqual(r.decision, { kind: 'retire', app: 'g', node: 'b', reason: 'calm for 10000 ms' });
});

test('scaleConfig validates its options', (t) => {
  t.throws(() => scaleConfig({ lowUtil: 0.9, highUtil: 0.8 }), { instanceOf: ArgumentError });
  t.throws(() => scaleConfig({ maxNodes: 0 }), { instanceOf: ArgumentError });
  t.throws(() => scaleConfig({ extra: 1 } as never), { instanceOf: ArgumentError });
  t.throws(() => scaleConfig({ select: { choices: -1 } }), { instanceOf: ArgumentError });
});

test('splitShares water-fills: equal nodes split evenly, a busier node takes less, a full one none', (t) => {
  t.deepEqual(splitShares([{ capacity: 4, otherLoad: 0 }, { capacity: 4, otherLoad: 0 }], 2), [0.5, 0.5]);
  const s = splitShares([{ capacity: 8, otherLoad: 2 }, { capacity: 8, otherLoad: 0 }], 4);
  // level L: 8L - 2 + 8L = 4 -> L = 0.375 -> 1 and 3
  t.deepEqual(s.map((x) => Math.round(x * 1000) / 1000), [0.25, 0.75]);
  const full = splitShares([{ capacity: 4, otherLoad: 4 }, { capacity: 4, otherLoad: 0 }], 2);
  t.deepEqual(full, [0, 1]);
  t.deepEqual(splitShares([{ capacity: 1, otherLoad: 0 }, { capacity: 3, otherLoad: 0 }], 0), [0.25, 0.75]);
  t.deepEqual(splitShares([], 1), []);
});

test('property: shares are a distribution and every node taking a share ends at the same utilisation', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ capacity: fc.integer({ min: 1, max: 32 }), otherLoad: fc.double({ min: 0, max: 40, noNaN: true }) }), { minLength: 1, maxLength: 8 }),
      fc.double({ min: 0.01, max: 50, noNaN: true }),
      (entries, demand) => {
        const s = splitShares(entries, demand);
        const sum = s.reduce((a, b) => a + b, 0);
        if (Math.abs(sum - 1) > 1e-9 || s.some((x) => x < 0)) return false;
        const util = entries.map((e, i) => (e.otherLoad + (s[i] as number) * demand) / e.capacity);
        const level = Math.max(...util.filter((_, i) => (s[i] as number) > 1e-12));
        return util.every((u, i) => ((s[i] as number) > 1e-12 ? Math.abs(u - level) < 1e-6 : u >= level - 1e-6));
      },
    ),
  );
  t.pass();
});

test('portionShares: a new node starts from the model (at least 1/2n), then shares follow measured pressure', (t) => {
  const view: ClusterView = {
    now: NOW,
    nodes: [node('a', { load: 8, capacity: 8, util: 1, waitMs: 200 }), node('b', { load: 0, capacity: 8, util: 0.1, waitMs: 0 }), node('c', { alive: false })],
  };
  // other load: a 4, b 0 -> water-filling gives b everything; half of that is b's seed: weights
  // 1 : 0.5. Pressure: a = 1 + 200/50 = 5, b = 0.1, weighted mean 3.367; a is multiplied by
  // exp(-0.5 * 1.633), b by exp(+1.633) capped at e.
  const fresh: PortionState = { app: 'g', nodes: ['a', 'b'], shares: [1, 0], demand: 4 };
  const s = portionShares(view, fresh, { damping: 0.5, waitTargetMs: 50 });
  const mean = (2 / 3) * 5 + (1 / 3) * 0.1;
  const ea = (2 / 3) * Math.exp(-0.5 * (5 - mean));
  const eb = (1 / 3) * Math.E;
  t.deepEqual(s.map((x) => x.toFixed(6)), [ea / (ea + eb), eb / (ea + eb)].map((x) => x.toFixed(6)));
  t.true((s[1] as number) > 0.7);
  // Equal pressure leaves shares where they are.
  const calm: ClusterView = { now: NOW, nodes: [node('a', { util: 0.5 }), node('b', { util: 0.5 })] };
  t.deepEqual(portionShares(calm, { app: 'g', nodes: ['a', 'b'], shares: [0.7, 0.3], demand: 2 }).map((x) => x.toFixed(6)), ['0.700000', '0.300000']);
  // The model can say "no room" for a node that is in fact idle; it still gets 1/(2n) to start.
  const paper: ClusterView = { now: NOW, nodes: [node('a', { load: 2, util: 0.5 }), node('b', { load: 8, util: 0.5 })] };
  t.deepEqual(portionShares(paper, { app: 'g', nodes: ['a', 'b'], shares: [1, 0], demand: 2 }).map((x) => x.toFixed(6)), ['0.800000', '0.200000']);
  // A dead node gets nothing; the rest is renormalised.
  t.deepEqual(portionShares(view, { app: 'g', nodes: ['a', 'c'], shares: [0.5, 0.5], demand: 4 }), [1, 0]);
});

test('pickShare maps a uniform draw onto the shares', (t) => {
  t.is(pickShare([0.25, 0.75], 0.1), 0);
  t.is(pickShare([0.25, 0.75], 0.25), 1);
  t.is(pickShare([0.25, 0.75], 0.999), 1);
  t.is(pickShare([0.5, 0.5 - 1e-12], 0.9999999999999), 1);
});
