// Dead-path judgement that tells slow from dead (issue 13.4, 13.5), on an injected clock with
// injected lag: RTT with variance (RFC 6298), deadlines that confirm over the local loop's lag,
// a dead path still found within 3 RTT + 50 ms on an idle CPU, and idle probing that finds a
// silent cut within 5 s.
import test from 'ava';
import { type Clock, ManualClock, systemClock, type TimerHandle } from '../../runtime/index.ts';
import { confirmingClock, eventLoopLag } from '../../transport/lag.ts';
import { LinkWatch, RttEstimator, connectTimeoutMs, deadPathPolicy } from '../../transport/reconnect.ts';

const RTT = 100;
// The box dialer's policy: margin 45 ms so the verdict lands within 3 RTT + 50.
const POLICY = deadPathPolicy('t', { marginMs: 45 });
const BOUND = 3 * RTT + 50;

/** A clock whose timers fire `late()` ms after they fall due: a busy local event loop. */
class BusyClock implements Clock {
  constructor(
    readonly inner: ManualClock,
    readonly late: () => number,
  ) {}
  now(): number {
    return this.inner.now();
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.inner.setTimeout(fn, ms + this.late());
  }
  clearTimeout(h: TimerHandle): void {
    this.inner.clearTimeout(h);
  }
}

interface Rig {
  watch: LinkWatch;
  probes: number[];
  dead: number | undefined;
}

/** A link watch with answers owed, probing after 1 s of silence, its probe timeout from the estimator. */
function rig(clock: Clock, o: { lag?: () => number; answerAfterMs?: number; answering?: () => boolean; idleProbeMs?: number; owed?: number } = {}): Rig {
  const est = new RttEstimator(RTT);
  const r: Rig = { watch: undefined as unknown as LinkWatch, probes: [], dead: undefined };
  r.watch = new LinkWatch(
    clock,
    1000,
    () => connectTimeoutMs(est, POLICY),
    () => o.owed ?? 1,
    () => {
      r.probes.push(clock.now());
      // The broker answers; the box reads the answer `answerAfterMs` later (network + a busy loop).
      if (o.answerAfterMs !== undefined && (o.answering?.() ?? true)) clock.setTimeout(() => r.watch.heard(), o.answerAfterMs);
    },
    () => (r.dead = clock.now()),
    { ...(o.lag === undefined ? {} : { lag: o.lag }), ...(o.idleProbeMs === undefined ? {} : { idleProbeMs: o.idleProbeMs }) },
  );
  r.watch.arm();
  return r;
}

test('RTT with variance: a steady path keeps 3 RTT + margin; a jittery one gets SRTT + 4 RTTVAR', (t) => {
  const steady = new RttEstimator(RTT);
  t.is(steady.rttVarMs, RTT / 2, 'before any sample: RTTVAR = RTT/2');
  t.is(connectTimeoutMs(steady, POLICY), BOUND - 5);
  for (let i = 0; i < 50; i++) steady.sample(RTT);
  t.true(steady.rttVarMs < 1);
  t.is(Math.round(connectTimeoutMs(steady, POLICY)), 3 * RTT + 45, 'never below 3 x SRTT');
  const jittery = new RttEstimator(RTT);
  for (let i = 0; i < 50; i++) jittery.sample(i % 2 === 0 ? 40 : 260);
  t.true(jittery.rttVarMs > 80, `rttvar ${jittery.rttVarMs}`);
  t.true(connectTimeoutMs(jittery, POLICY) > jittery.rttMs + 4 * 80, 'variance widens the deadline');
  t.is(connectTimeoutMs(RTT, POLICY), connectTimeoutMs(new RttEstimator(RTT), POLICY), 'a bare RTT reads as one sample');
});

test('idle CPU, dead path: the verdict comes within 3 RTT + 50 ms of the probe', (t) => {
  const clock = new ManualClock(0);
  const r = rig(clock, { lag: () => 0 });
  clock.advance(1000);
  t.deepEqual(r.probes, [1000]);
  clock.advance(BOUND);
  t.truthy(r.dead);
  t.true((r.dead as number) - 1000 <= BOUND, `verdict ${(r.dead as number) - 1000} ms after the probe`);
});

test('slow CPU (600 ms of measured lag), live broker: the answer read late is no false verdict', (t) => {
  const clock = new ManualClock(0);
  const r = rig(clock, { lag: () => 600, answerAfterMs: 500 });
  clock.advance(1000 + 5000);
  t.is(r.dead, undefined, 'slow is not dead');
  t.true(r.probes.length >= 1);
});

test('a busy spell (600 ms of lag, then calm), dead path: still a verdict, within the bound plus the measured lag', (t) => {
  const clock = new ManualClock(0);
  let reads = 0;
  const r = rig(clock, { lag: () => (reads++ === 0 ? 600 : 0) });
  clock.advance(1000 + BOUND + 600);
  t.truthy(r.dead);
  t.true((r.dead as number) - 1000 <= BOUND + 600);
});

test('a loop that stays saturated, dead path: the spans double, four at most, then the verdict', (t) => {
  const clock = new ManualClock(0);
  const r = rig(clock, { lag: () => 600 });
  clock.advance(1000 + BOUND + 600 * 14);
  t.is(r.dead, undefined, 'no verdict while the loop never had time to read');
  clock.advance(600);
  t.true((r.dead as number) - 1000 <= BOUND + 600 * 15);
});

test('a loop busy in bursts (every timer 400 ms late): the deadline waits it out, the answer read late counts', (t) => {
  const inner = new ManualClock(0);
  const clock = new BusyClock(inner, () => 400);
  const r = rig(clock, { answerAfterMs: 1500 });
  inner.advance(8000);
  t.true(r.probes.length >= 1);
  t.is(r.dead, undefined, 'slow is not dead');
});

test('idle CPU, live broker answering after 3 RTT + 45 ms: that is too late, the bound stays tight', (t) => {
  const clock = new ManualClock(0);
  const r = rig(clock, { lag: () => 0, answerAfterMs: 500 });
  clock.advance(1000 + 5000);
  t.truthy(r.dead);
});

test('confirming clock: on an idle loop a deadline fires on time; a late one is confirmed, a bounded number of times', (t) => {
  const inner = new ManualClock(0);
  const fired: number[] = [];
  const onTime = confirmingClock(inner, () => 0);
  onTime.setTimeout(() => fired.push(inner.now()), 345);
  inner.advance(1000);
  t.deepEqual(fired, [345]);

  let late = 300;
  const confirms: number[] = [];
  const busy = confirmingClock(new BusyClock(inner, () => late), () => 0, { onConfirm: (ms) => confirms.push(ms) });
  const start = inner.now();
  busy.setTimeout(() => fired.push(inner.now() - start), 345);
  inner.advance(60_000);
  t.is(confirms.length, 4, 'a loop that never catches up still gets a verdict');
  // Fired 300 late, then four spans of 300 x 2^k, each firing 300 late again.
  t.is(fired[1], 345 + 300 + 300 * 15 + 4 * 300);
  late = 0;
  const h = busy.setTimeout(() => fired.push(-1), 100);
  busy.clearTimeout(h);
  inner.advance(1000);
  t.is(fired.length, 2, 'cleared');
});

test('idle link: a broker-answered probe every 4 s finds a silent cut within 5 s', (t) => {
  const clock = new ManualClock(0);
  let answered = true;
  const r = rig(clock, { owed: 0, idleProbeMs: 4000, answerAfterMs: RTT, answering: () => answered });
  clock.advance(12_000);
  t.is(r.probes[0], 4000, 'the first probe after 4 s of silence');
  t.true(r.probes.length >= 2);
  t.is(r.dead, undefined, 'answered probes keep it up');
  answered = false;
  const cutAt = clock.now();
  for (let i = 0; i < 6 && r.dead === undefined; i++) clock.advance(1000);
  t.truthy(r.dead);
  t.true((r.dead as number) - cutAt <= 5000, `found ${(r.dead as number) - cutAt} ms after the cut`);
});

test('event-loop lag: a loop that did nothing but work for a slice reads as saturated, by the slice', (t) => {
  const lag = eventLoopLag({ sliceMs: 100, windowMs: 1000 });
  const end = performance.now() + 150;
  while (performance.now() < end); // the loop never idles: every answer would queue behind this
  const ms = lag();
  t.true(ms >= 100 && ms <= 1000, `lag ${ms} ms`);
  t.is(lag(), ms, 'callers within one slice share the reading');
});

test('a probe whose window the loop spent held (the answer queued behind it) is put off, not judged dead: the lag is read over the probe\'s own window [D115]', async (t) => {
  // Real loop and clock: the lag source reads this loop's utilization. Found in bench scale's
  // 5,000 full boxes: the box's idle probe went out, its fleet process was held ~450 ms, the
  // answer came back through the emulated return path after the 500 ms deadline, and the verdict
  // read the loop's saturation since the last reading, seconds ago, diluted to nothing.
  const lag = eventLoopLag(); // made now: its first slice starts here, as a box's dialer's does
  let probes = 0;
  let dead = false;
  const confirms: number[] = [];
  let watch: LinkWatch | undefined;
  await new Promise<void>((end) => {
    watch = new LinkWatch(
      systemClock,
      0,
      () => 500,
      () => 0,
      () => {
        probes++;
        if (probes > 1) return end();
        setImmediate(() => {
          const until = performance.now() + 480;
          while (performance.now() < until); // the loop held through most of the window
          setTimeout(() => watch?.heard(), 40); // the answer, one return-path latency after the loop is free: past the deadline
        });
      },
      () => {
        dead = true;
        end();
      },
      { lag, idleProbeMs: 1000, onConfirm: (ms) => confirms.push(ms) },
    );
  });
  watch?.stop();
  t.false(dead, 'no dead-path verdict');
  t.is(probes, 2, 'the link stayed up until the next idle probe');
  t.true(confirms.length >= 1, 'the deadline was put off over the held loop');
});
