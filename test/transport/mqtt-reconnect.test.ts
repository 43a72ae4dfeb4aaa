// Connection behaviour as pure functions and a fake clock: the connect timeout follows the
// measured RTT; reconnects back off with jitter under a cap; and 10,000 boxes that lose their
// broker at the same instant come back spread over the configured window, not in one spike.

import test from 'ava';
import { ArgumentError, ManualClock } from '../../runtime/index.ts';
import {
  DEFAULT_BACKOFF,
  DEFAULT_DEAD_PATH,
  LinkWatch,
  Reconnector,
  RttEstimator,
  backoffPolicy,
  connectTimeoutMs,
  deadPathPolicy,
  reconnectDelay,
  seededRandom,
} from '../../transport/reconnect.ts';

test('connect timeout is 3 RTT + 50 ms, doubling per consecutive timeout up to the cap', (t) => {
  const p = deadPathPolicy('t');
  t.is(connectTimeoutMs(20, p), 110);
  t.is(connectTimeoutMs(20, p, 1), 220);
  t.is(connectTimeoutMs(20, p, 3), 880);
  t.is(connectTimeoutMs(20, p, 30), p.maxMs);
  t.is(connectTimeoutMs(0.2, p), 50.6);
  t.is(connectTimeoutMs(100, deadPathPolicy('t', { rttFactor: 4, marginMs: 10 })), 410);
  // Against mqtt.js's default of 30 s, a dead 30 ms path is found >100x sooner.
  t.true(30_000 / connectTimeoutMs(30, p) >= 100);
});

test('the RTT estimate starts at the initial guess and follows samples smoothly', (t) => {
  const r = new RttEstimator(100);
  t.is(r.rttMs, 100);
  r.sample(8);
  t.is(r.rttMs, 8);
  r.sample(16);
  t.is(r.rttMs, 9);
  r.sample(-1);
  r.sample(Number.NaN);
  t.is(r.samples, 2);
  for (let i = 0; i < 200; i++) r.sample(40);
  t.true(Math.abs(r.rttMs - 40) < 0.01);
});

test('backoff: attempt 0 spreads over the window, later ones grow with jitter and never pass the cap', (t) => {
  const p = backoffPolicy('t', { windowMs: 5000, baseMs: 100, capMs: 3000, jitter: 0.5 });
  t.is(reconnectDelay(0, p, () => 0), 0);
  t.is(reconnectDelay(0, p, () => 0.5), 2500);
  t.is(reconnectDelay(0, p, () => 0.999), 3000); // the cap bounds even the window
  t.is(reconnectDelay(1, p, () => 0), 50);
  t.is(reconnectDelay(1, p, () => 0.999), 99.95);
  t.is(reconnectDelay(4, p, () => 0), 400);
  const rnd = seededRandom(7);
  for (let n = 0; n < 100; n++) {
    const d = reconnectDelay(n, p, rnd);
    t.true(d >= 0 && d <= p.capMs, `attempt ${n}: ${d}`);
  }
  t.true(reconnectDelay(50, p, () => 0) >= p.capMs / 2);
  t.is(reconnectDelay(1, backoffPolicy('t', { jitter: 0 }), () => 0.7), DEFAULT_BACKOFF.baseMs);
});

test('policies reject unknown and out-of-range settings by name', (t) => {
  t.throws(() => backoffPolicy('t', { windw: 1 } as never), { instanceOf: ArgumentError, message: /"windw"/ });
  t.throws(() => backoffPolicy('t', { jitter: 2 }), { instanceOf: ArgumentError, message: /jitter/ });
  t.throws(() => backoffPolicy('t', { capMs: -1 }), { instanceOf: ArgumentError, message: /capMs/ });
  t.throws(() => deadPathPolicy('t', { rttFactor: 0.5 }), { instanceOf: ArgumentError, message: /rttFactor/ });
  t.deepEqual(deadPathPolicy('t'), { ...DEFAULT_DEAD_PATH });
});

test('10,000 boxes losing the broker at once reconnect spread over the window, then back off', (t) => {
  const clock = new ManualClock(0);
  const boxes = 10_000;
  const windowMs = 10_000;
  const policy = backoffPolicy('t', { windowMs, baseMs: 1000, capMs: 30_000 });
  const attempts: number[][] = [[], []];
  const loops: Reconnector[] = [];
  for (let i = 0; i < boxes; i++) {
    const r: Reconnector = new Reconnector(clock, policy, seededRandom(1000 + i), () => {
      const n = r.attempts; // 1 for the first attempt after the loss
      attempts[n - 1]?.push(clock.now());
      if (n === 1) r.failed(); // the broker is still down: try again later
    });
    loops.push(r);
  }
  for (const r of loops) r.lost();
  clock.advance(windowMs);
  const first = attempts[0] as number[];
  t.is(first.length, boxes, 'every box tried once within the window');
  t.true(Math.max(...first) < windowMs);
  // Per 100 ms bucket the uniform mean is 100 arrivals; a spike would put thousands in one.
  const buckets = new Array<number>(windowMs / 100).fill(0);
  for (const at of first) buckets[Math.floor(at / 100)]!++;
  t.true(Math.max(...buckets) <= 150, `busiest 100 ms: ${Math.max(...buckets)}`);
  t.true(Math.min(...buckets) >= 55, `quietest 100 ms: ${Math.min(...buckets)}`);
  // The second attempts keep the spread: no 100 ms bucket holds more than 2% of the fleet.
  clock.advance(windowMs + 1000);
  const second = attempts[1] as number[];
  t.is(second.length, boxes);
  const b2 = new Map<number, number>();
  for (const at of second) b2.set(Math.floor(at / 100), (b2.get(Math.floor(at / 100)) ?? 0) + 1);
  t.true(Math.max(...b2.values()) <= boxes * 0.02, `busiest 100 ms of second attempts: ${Math.max(...b2.values())}`);
  for (const r of loops) r.stop();
  t.is(clock.pending, 0);
});

test('a reconnector stops cleanly and restarts its count after success', (t) => {
  const clock = new ManualClock(0);
  let calls = 0;
  const r = new Reconnector(clock, backoffPolicy('t', { windowMs: 100, baseMs: 10, jitter: 0 }), () => 0.5, () => calls++);
  t.is(r.lost(), 50);
  t.true(r.waiting);
  clock.advance(50);
  t.is(calls, 1);
  t.is(r.failed(), 10);
  t.is(r.failed(), 20); // rescheduling replaces the pending timer
  t.is(clock.pending, 1);
  r.succeeded();
  t.is(r.attempts, 0);
  t.is(clock.pending, 0);
  r.lost();
  r.stop();
  clock.advance(1000);
  t.is(calls, 1);
  t.is(r.failed(), -1);
});

test('link watch: silence with answers owed -> one probe; unanswered -> dead; answered -> fine', (t) => {
  const clock = new ManualClock(0);
  let owed = 1;
  let probes = 0;
  let dead: number | undefined;
  const w = new LinkWatch(clock, 1000, () => 60, () => owed, () => probes++, (ms) => (dead = ms));
  w.arm();
  clock.advance(999);
  t.is(probes, 0);
  clock.advance(1);
  t.is(probes, 1, 'probed after 1 s of silence');
  clock.advance(59);
  t.is(dead, undefined);
  clock.advance(1); // timeout reached: one more look a turn later, then dead
  clock.advance(0);
  t.is(dead, 1060);
  t.is(clock.pending, 0);

  // Answered in time: no death; traffic keeps resetting the silence.
  dead = undefined;
  probes = 0;
  const w2 = new LinkWatch(clock, 1000, () => 60, () => owed, () => probes++, (ms) => (dead = ms));
  w2.arm();
  clock.advance(1000);
  t.is(probes, 1);
  clock.advance(30);
  w2.heard(); // the PINGRESP
  for (let i = 0; i < 10; i++) {
    clock.advance(500);
    w2.heard(); // PUBACKs keep coming
  }
  t.is(dead, undefined);
  t.is(probes, 1, 'no probe while the broker keeps answering');
  // Nothing owed: the watch goes quiet.
  owed = 0;
  clock.advance(5000);
  t.is(clock.pending, 0);
  w2.stop();
});
