import test from 'ava';
import fc from 'fast-check';
import { ArgumentError } from '../../runtime/index.ts';
import { SeededRandom, decideScale, pickShare, portionShares, saturated, scaleConfig, splitShares } from '../../headend/policy/index.ts';
import type { ClusterView, NodeReport, PortionState } from '../../headend/policy/index.ts';

const NOW = 50_000;
function node(id: string, over: Partial<NodeReport> = {}): NodeReport {
  return { node: id, at: NOW - 200, capacity: 8, load: 4, sessions: 10, queue: 2, util: 0.5, waitMs: 1, memUsed: 1, memLimit: 100, ...over };
}
const rnd = () => new SeededRandom(9).uniform();
const cfg = scaleConfig({ highUtil: 0.95, waitTargetMs: 50, lowUtil: 0.6, holdMs: 10_000, cooldownMs: 2000, maxNodes: 3 });

test('saturated: too busy or waiting too long for the critical section', (t) => {
  t.true(saturated(node('a', { util: 0.96 }), cfg));
  t.true(saturated(node('a', { waitMs: 80 }), cfg));
  t.false(saturated(node('a', { util: 0.9, waitMs: 10 }), cfg));
});

test('spawn on the node with the most room (all apps\' load) once every serving node saturates [c30]', (t) => {
  const view: ClusterView = {
    now: NOW,
    nodes: [
      node('home', { util: 0.99, load: 8 }),
      node('busy', { load: 7, apps: { vod: 7 } }),
      node('roomy', { load: 1, capacity: 8, apps: { guide: 1 } }),
      node('dead', { alive: false, load: 0 }),
      node('hot', { load: 0, util: 0.97 }),
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
  const hotAll: ClusterView = { now: NOW, nodes: [node('a', { util: 0.99 }), node('b', { util: 0.99 }), node('c', { util: 0.99 }), node('d', { util: 0.99 })] };
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

test('portionShares moves part of the way (damping) and gives a dead node nothing', (t) => {
  const view: ClusterView = { now: NOW, nodes: [node('a', { load: 8, capacity: 8 }), node('b', { load: 0, capacity: 8 }), node('c', { alive: false })] };
  const p: PortionState = { app: 'g', nodes: ['a', 'b'], shares: [1, 0], demand: 4 };
  // other load: a 4, b 0 -> target level (4+4)/16 = 0.5 -> a 0, b 4: target [0, 1]; halfway [0.5, 0.5]
  t.deepEqual(portionShares(view, p, 0.5), [0.5, 0.5]);
  t.deepEqual(portionShares(view, p, 1), [0, 1]);
  const withDead: PortionState = { app: 'g', nodes: ['a', 'c'], shares: [0.5, 0.5], demand: 4 };
  t.deepEqual(portionShares(view, withDead, 0.5), [1, 0]);
});

test('pickShare maps a uniform draw onto the shares', (t) => {
  t.is(pickShare([0.25, 0.75], 0.1), 0);
  t.is(pickShare([0.25, 0.75], 0.25), 1);
  t.is(pickShare([0.25, 0.75], 0.999), 1);
  t.is(pickShare([0.5, 0.5 - 1e-12], 0.9999999999999), 1);
});
