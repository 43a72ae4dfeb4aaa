import test from 'ava';
import { ArgumentError, ManualClock, TimeoutError } from '../../runtime/index.ts';
import { QueueLock, Semaphore, WaitStats } from '../../headend/portions/critical/index.ts';

const settle = async () => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

test('the queue lock serves waiters in arrival order and measures each wait from the request start [c22, c24]', async (t) => {
  const clock = new ManualClock(0);
  const seen: [number, number][] = [];
  const lock = new QueueLock({ clock, onAcquire: (wait, lockWait) => seen.push([wait, lockWait]) });
  const order: string[] = [];
  const first = lock.tryAcquire(0);
  t.truthy(first);
  t.is(lock.tryAcquire(), undefined);
  // b started earlier than it reached the lock (it waited for a worker first).
  clock.advance(10);
  const pb = lock.acquire({ startedAt: 5 }).then((r) => (order.push('b'), r));
  clock.advance(10);
  const pc = lock.acquire().then((r) => (order.push('c'), r));
  t.is(lock.waiting, 2);
  t.is(lock.oldestStartedAt(), 5);
  clock.advance(30);
  first?.();
  await settle();
  t.deepEqual(order, ['b']);
  const rb = await pb;
  clock.advance(5);
  t.true(rb());
  t.false(rb()); // idempotent
  const rc = await pc;
  t.deepEqual(order, ['b', 'c']);
  rc();
  // waits from start: a 0; b 50-5=45 (40 on the lock); c 55-20=35 (all on the lock)
  t.deepEqual(seen, [[0, 0], [45, 40], [35, 35]]);
  const snap = lock.snapshot();
  t.is(snap.count, 3);
  t.is(snap.maxMs, 45);
  t.is(lock.held, 0);
});

test('a newcomer cannot barge past the line even when a permit is free for an instant', async (t) => {
  const clock = new ManualClock(0);
  const s = new Semaphore(1, { clock });
  const r1 = s.tryAcquire() as () => boolean;
  const p2 = s.acquire();
  r1(); // hands the permit to the waiter synchronously
  t.is(s.tryAcquire(), undefined);
  (await p2)();
  t.truthy(s.tryAcquire());
});

test('the semaphore admits up to its permits and can be resized [c23]', async (t) => {
  const clock = new ManualClock(0);
  const s = new Semaphore(2, { clock });
  const rs = [s.tryAcquire(), s.tryAcquire()];
  t.true(rs.every((r) => r !== undefined));
  t.is(s.tryAcquire(), undefined);
  const got: number[] = [];
  const waiters = [0, 1, 2].map((i) => s.acquire().then((r) => (got.push(i), r)));
  s.setPermits(4);
  await settle();
  t.deepEqual(got, [0, 1]);
  t.is(s.held, 4);
  s.setPermits(1); // holders keep theirs; the third waiter waits until fewer than 1 hold
  for (const r of rs) r?.();
  const r0 = await waiters[0];
  r0?.();
  await settle();
  t.deepEqual(got, [0, 1]);
  (await waiters[1])?.();
  await settle();
  t.deepEqual(got, [0, 1, 2]);
  t.throws(() => s.setPermits(0), { instanceOf: ArgumentError });
  t.throws(() => new Semaphore(0, { clock }), { instanceOf: ArgumentError });
});

test('a deadline drops the waiter from the line with TimeoutError; later waiters move up', async (t) => {
  const clock = new ManualClock(1000);
  const lock = new QueueLock({ clock, name: 'db' });
  const held = lock.tryAcquire() as () => boolean;
  const late = lock.acquire({ startedAt: 990, deadline: 1100 });
  const next = lock.acquire();
  clock.advance(100);
  const e = await t.throwsAsync(late, { instanceOf: TimeoutError });
  t.is(e.afterMs, 110);
  t.regex(e.message, /^db:/);
  t.is(lock.waiting, 1);
  held();
  (await next)();
  t.is(lock.held, 0);
  t.is(clock.pending, 0);
  // A deadline already past fails at once when the lock is busy, and never takes a place in line.
  const h = lock.tryAcquire() as () => boolean;
  await t.throwsAsync(lock.acquire({ deadline: 500 }), { instanceOf: TimeoutError });
  t.is(lock.waiting, 0);
  h();
});

test('run() releases however the function ends', async (t) => {
  const clock = new ManualClock(0);
  const lock = new QueueLock({ clock });
  t.is(await lock.run(() => 7), 7);
  await t.throwsAsync(lock.run(async () => {
    throw new Error('boom');
  }), { message: 'boom' });
  t.is(lock.held, 0);
  t.truthy(lock.tryAcquire());
});

test('many waiters: strict FIFO and the line does not grow without bound', async (t) => {
  const clock = new ManualClock(0);
  const lock = new QueueLock({ clock });
  const order: number[] = [];
  let r = lock.tryAcquire() as () => boolean;
  const ps = Array.from({ length: 500 }, (_, i) => lock.acquire().then((rel) => (order.push(i), rel)));
  for (const p of ps) {
    r();
    r = await p;
  }
  r();
  t.deepEqual(order, Array.from({ length: 500 }, (_, i) => i));
  t.is(lock.waiting, 0);
});

test('options are checked: a clock is required and unknown options are named', (t) => {
  t.throws(() => new QueueLock({} as never), { instanceOf: ArgumentError });
  const e = t.throws(() => new QueueLock({ clock: new ManualClock(), fair: true } as never), { instanceOf: ArgumentError });
  t.is(e?.option, 'fair');
});

test('wait statistics: EWMA, and mean/p50/p99/max over the window only', (t) => {
  const s = new WaitStats({ alpha: 0.5, windowMs: 1000, maxSamples: 1000 });
  s.record(0, 1000); // falls out of the window
  for (let i = 1; i <= 100; i++) s.record(5000 + i, i);
  const snap = s.snapshot(5500);
  t.is(snap.count, 101);
  t.is(snap.windowCount, 100);
  t.is(snap.p50Ms, 50);
  t.is(snap.p99Ms, 99);
  t.is(snap.maxMs, 100);
  t.is(snap.meanMs, 50.5);
  t.true(snap.ewmaMs > 98 && snap.ewmaMs < 100);
  const empty = new WaitStats().snapshot(0);
  t.deepEqual([empty.count, empty.windowCount, empty.p99Ms], [0, 0, 0]);
  t.throws(() => new WaitStats({ alpha: 0 }), { instanceOf: ArgumentError });
});

test('wait statistics keep only the most recent samples when the ring is full', (t) => {
  const s = new WaitStats({ maxSamples: 10, windowMs: 1e9 });
  for (let i = 0; i < 25; i++) s.record(i, i);
  const snap = s.snapshot(100);
  t.is(snap.windowCount, 10);
  t.is(snap.maxMs, 24);
  t.is(snap.p50Ms, 19);
});

test('saturatedMs counts the time every permit was held (the lock-busy signal for the thread controller)', async (t) => {
  const clock = new ManualClock(0);
  const s = new Semaphore(2, { clock });
  const a = s.tryAcquire() as () => boolean;
  clock.advance(10);
  t.is(s.saturatedMs(), 0); // one of two permits held
  const b = s.tryAcquire() as () => boolean;
  clock.advance(30);
  t.is(s.saturatedMs(), 30); // still running
  const pc = s.acquire();
  a(); // c takes a's permit at once: still full
  const c = await pc;
  clock.advance(20);
  b();
  clock.advance(100);
  t.is(s.saturatedMs(), 50);
  s.setPermits(1); // c alone now fills it
  clock.advance(5);
  t.is(s.saturatedMs(), 55);
  c();
  t.is(s.saturatedMs(), 55);
});
