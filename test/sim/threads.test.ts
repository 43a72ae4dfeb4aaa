import test from 'ava';
import { FixedPool, HillClimbController, WaitTargetController } from '../../policy/index.ts';
import { reactionMs, simulateThreads, throughputBetween } from '../../sim/index.ts';

// A portion at 400 requests/s whose critical section (a 32-permit semaphore) slows down 4x at
// t = 1 s: 8 workers carried it before; about 20 are needed after.
const run = { stepAtMs: 1000, durationMs: 4000 };

test('the same seed gives the same run', (t) => {
  const a = simulateThreads(new FixedPool(8), run);
  const b = simulateThreads(new FixedPool(8), run);
  t.deepEqual(a, b);
  t.is(a.bins.length, 40);
});

test('after a 4x step the wait-target controller is back at 90% of the best fixed pool within 1 s [c20, c27]', (t) => {
  const fixed = [8, 16, 24, 32, 48].map((n) => simulateThreads(new FixedPool(n), run));
  const best = fixed.reduce((a, b) => (throughputBetween(b, 1000, 4000) > throughputBetween(a, 1000, 4000) ? b : a));
  t.not(best.controller, 'fixed-8');
  const wt = simulateThreads(new WaitTargetController({ targetWaitMs: 20 }), run);
  const hc = simulateThreads(new HillClimbController(), run);
  const small = fixed[0];
  const reactWt = reactionMs(wt, best, 1000);
  const reactHc = reactionMs(hc, best, 1000);
  t.log(`react: wait-target ${reactWt} ms, hill-climb ${reactHc} ms, best ${best.controller}`);
  t.true(reactWt <= 1000);
  t.true(reactHc > 2 * reactWt);
  t.is(small && reactionMs(small, best, 1000), Infinity); // 8 workers never catch up
  t.true(wt.maxWorkers >= 16 && wt.maxWorkers <= 40, `max workers ${wt.maxWorkers}`);
});

test('when the lock itself is the limit the controller does not pile on threads', (t) => {
  // One permit: the critical section serves 100/s before the step, whatever the thread count.
  const r = simulateThreads(new WaitTargetController({ targetWaitMs: 20, maxWorkers: 64 }), { permits: 1, durationMs: 2000 });
  t.true(r.maxWorkers <= 16, `max workers ${r.maxWorkers}`);
  const many = simulateThreads(new FixedPool(64), { permits: 1, durationMs: 2000 });
  t.true(Math.abs(many.completed - r.completed) / many.completed < 0.1); // and loses nothing by it
});

test('after the load falls the controller gives workers back, one per hold time', (t) => {
  // The step is a 4x speed-up here (stepX 0.25): the pool grown for slow requests is too big.
  const r = simulateThreads(new WaitTargetController({ targetWaitMs: 20, holdMs: 500 }), { criticalMs: 40, stepX: 0.25, stepAtMs: 1500, durationMs: 6000, workers: 8 });
  const at = (ms: number) => r.bins.find((b) => b.t === ms)?.workers ?? NaN;
  t.true(at(1500) >= 16, `before ${at(1500)}`);
  t.true(at(6000) < at(1500) - 4, `${at(1500)} -> ${at(6000)}`);
});
