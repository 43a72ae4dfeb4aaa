import test from 'ava';
import { ArgumentError } from '../../runtime/index.ts';
import { FixedPool, HillClimbController, WaitTargetController } from '../../policy/index.ts';

test('wait-target adds in proportion to the overshoot, at most doubling, then cools down', (t) => {
  const c = new WaitTargetController({ targetWaitMs: 20, cooldownMs: 100, maxWorkers: 64 });
  for (let i = 0; i < 10; i++) c.observe(0, 30); // 1.5x target -> +25%
  t.deepEqual(c.decide(1000, { workers: 8 }), { action: 'add', workers: 10, reason: 'wait 30.0 ms > 20 ms' });
  c.observe(1050, 500);
  t.is(c.decide(1050, { workers: 10 }).reason, 'cooling down');
  c.observe(1100, 500); // 25x target -> capped at doubling
  t.deepEqual(c.decide(1100, { workers: 10 }).workers, 20);
  c.observe(1200, 21); // just over: at least one
  t.is(c.decide(1200, { workers: 20 }).workers, 21);
});

test('wait-target reacts to the oldest waiting request even before any sample arrives [c24]', (t) => {
  const c = new WaitTargetController({ targetWaitMs: 20 });
  t.is(c.decide(0, { workers: 4, oldestWaitMs: 0 }).action, 'keep');
  t.deepEqual(c.decide(50, { workers: 4, oldestWaitMs: 100 }).action, 'add');
});

test('wait-target keeps when the lock itself is saturated (threads would not help)', (t) => {
  const c = new WaitTargetController({ targetWaitMs: 20 });
  for (let i = 0; i < 5; i++) c.observe(0, 100);
  t.deepEqual(c.decide(10, { workers: 8, lockBusy: 0.99 }), { action: 'keep', workers: 8, reason: 'lock-bound' });
  for (let i = 0; i < 5; i++) c.observe(20, 100);
  t.is(c.decide(200, { workers: 8, lockBusy: 0.6 }).action, 'add');
});

test('wait-target shrinks one worker per hold time of calm, never below minWorkers', (t) => {
  const c = new WaitTargetController({ targetWaitMs: 20, holdMs: 1000, minWorkers: 2 });
  let w = 4;
  const actions: string[] = [];
  for (let now = 0; now <= 5000; now += 250) {
    c.observe(now, 1);
    const d = c.decide(now, { workers: w });
    if (d.action !== 'keep') actions.push(`${now}:${d.action}:${d.workers}`);
    w = d.workers;
  }
  t.deepEqual(actions, ['1000:shrink:3', '2000:shrink:2']);
  // A wait between low and target is not calm: the hold starts again.
  const c2 = new WaitTargetController({ targetWaitMs: 20, holdMs: 1000 });
  c2.observe(0, 1);
  c2.decide(0, { workers: 4 });
  c2.observe(900, 10);
  c2.decide(900, { workers: 4 });
  c2.observe(1000, 1);
  t.is(c2.decide(1000, { workers: 4 }).action, 'keep');
});

test('wait-target stays within bounds', (t) => {
  const c = new WaitTargetController({ targetWaitMs: 10, maxWorkers: 6, minWorkers: 2 });
  c.observe(0, 1000);
  t.is(c.decide(0, { workers: 5 }).workers, 6);
  c.observe(500, 1000);
  t.deepEqual(c.decide(500, { workers: 6 }), { action: 'keep', workers: 6, reason: 'at maxWorkers' });
  t.deepEqual(c.decide(600, { workers: 1 }), { action: 'add', workers: 2, reason: 'outside bounds' });
  t.throws(() => new WaitTargetController({ minWorkers: 4, maxWorkers: 2 }), { instanceOf: ArgumentError });
  t.throws(() => new WaitTargetController({ lowWaitMs: 30, targetWaitMs: 20 }), { instanceOf: ArgumentError });
  t.throws(() => new WaitTargetController({ speed: 1 } as never), { instanceOf: ArgumentError });
});

test('hill-climb moves once per interval and reverses when throughput falls', (t) => {
  const c = new HillClimbController({ intervalMs: 500, step: 1 });
  let w = 8;
  const feed = (from: number, perS: number) => c.completed(from, Math.round(perS / 2));
  t.is(c.decide(0, { workers: w }).action, 'keep'); // starts measuring
  feed(0, 400);
  let d = c.decide(500, { workers: w, oldestWaitMs: 5 });
  t.is(d.workers, 9);
  w = d.workers;
  feed(500, 500); // better: keep going up
  d = c.decide(1000, { workers: w, oldestWaitMs: 5 });
  t.is(d.workers, 10);
  w = d.workers;
  feed(1000, 300); // worse: reverse
  d = c.decide(1500, { workers: w, oldestWaitMs: 5 });
  t.is(d.workers, 9);
  t.is(c.decide(1600, { workers: 9 }).reason, 'measuring');
});

test('a fixed pool always answers its size', (t) => {
  const f = new FixedPool(12);
  t.deepEqual(f.decide(0, { workers: 12 }), { action: 'keep', workers: 12, reason: 'fixed' });
  t.is(f.decide(0, { workers: 4 }).action, 'add');
  t.is(f.name, 'fixed-12');
  t.throws(() => new FixedPool(0), { instanceOf: ArgumentError });
});
