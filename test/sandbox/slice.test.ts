// The CPU slice of one event and lag-aware deadlines (issue 12 finding 8 / issue 13 finding 3).
// Time is a counter: `now` advances one unit per call, so the engine's interrupt polls are what
// is counted, never milliseconds.
import test from 'ava';
import { ManualClock } from '../../runtime/index.ts';
import { LagMeter, type LagSource, loadEngine, type SandboxError } from '../../sandbox/index.ts';
import { Apps, one } from './_harness.ts';

const engine = await loadEngine();
const from = { queue: 'tester' };

function ticking(): { now: () => number; calls: () => number } {
  let t = 0;
  return { now: () => ++t, calls: () => t };
}

test('jobs each within their deadline, together past the event slice: stopped at the slice', async (t) => {
  const apps = new Apps(engine);
  const time = ticking();
  const app = apps.make({ now: time.now, limits: { deadlineMs: 100_000, sliceMs: 400 } });
  // Each job is a few interrupt polls; 2000 of them are far past a 400-poll slice.
  const src = `weft.on('request', async () => { for (let j = 0; j < 2000; j++) { await null; for (let i = 0; i < 30000; i++) {} } return 'done'; });`;
  const m = app.load(await one(src, { name: 'chunky' }));
  if (!m.ok) return t.fail(m.error.message);
  m.value.start();
  const err = (await t.throwsAsync(m.value.serve({}, from))) as SandboxError;
  t.is(err.fault, 'deadline');
  t.regex(err.message, /used up the event's 400 ms CPU slice/);
  t.is(app.stats().slices, 1);
  t.is(app.slices, 1, 'the load sweep\'s count agrees with stats()');
  t.true(time.calls() < 2000, `the slice cut it short: ${time.calls()} clock reads`);
  apps.finish(t);
});

test('a spinning handler is cut at the slice, not at its longer deadline; the next event gets a new slice', async (t) => {
  const apps = new Apps(engine);
  const time = ticking();
  const app = apps.make({ now: time.now, limits: { deadlineMs: 100_000, sliceMs: 300, watchdogGraceMs: 100_000 } });
  const spin = app.load(await one(`weft.on('request', () => { for (;;) {} });`, { name: 'spin' }));
  const light = app.load(await one(`let n = 0; weft.on('request', async () => { await null; return ++n; });`, { name: 'light' }));
  if (!spin.ok || !light.ok) return t.fail();
  spin.value.start();
  light.value.start();
  const before = time.calls();
  const err = (await t.throwsAsync(spin.value.serve({}, from))) as SandboxError;
  t.regex(err.message, /request handler used up its event's 300 ms CPU slice/);
  t.true(time.calls() - before < 400, 'interrupted near the slice, far from the deadline');
  for (let i = 1; i <= 3; i++) t.is(await light.value.serve({}, from), i);
  t.is(app.stats().slices, 1);
  t.is(app.slices, 1, 'the load sweep\'s count agrees with stats()');
  apps.finish(t);
});

const fixedLag = (ms: number): LagSource & { busyMs: number } => ({ busyMs: 0, value: () => ms, busy(x) { this.busyMs += x; } });

test('a slow device: measured lag keeps the watchdog from stopping a trivial ui start handler', async (t) => {
  // The reported case: a start handler held the host 908 ms on a loaded box (100 ms + 250 ms grace).
  for (const [lag, held, killed] of [
    [0, 908, true],
    [600, 908, false],
    [5000, 2500, true], // capped by maxLagMs: a frozen device does not get unbounded patience
  ] as const) {
    const apps = new Apps(engine);
    let clock = 0;
    const faults: SandboxError[] = [];
    const app = apps.make({
      now: () => clock,
      lag: fixedLag(lag),
      ui: () => void (clock += held),
      limits: { deadlineMs: 100, maxLagMs: 1000 },
      onFault: (e) => faults.push(e),
    });
    const m = app.load(await one(`weft.on('start', () => weft.ui.show({ hello: 1 })); weft.on('request', () => 'alive');`, { name: 'ui', uses: ['ui'] }));
    if (!m.ok) return t.fail();
    m.value.start();
    t.is(m.value.state === 'destroyed', killed, `lag ${lag}, held ${held}: ${faults[0]?.message ?? 'running'}`);
    if (killed) t.regex(faults[0]?.message ?? '', new RegExp(`held the host for ${held} ms \\(deadline 100 ms \\+ 250 ms grace${lag > 0 ? ' \\+ 1000 ms measured lag' : ''}\\)`));
    else t.is(await m.value.serve({}, from), 'alive');
    apps.finish(t);
  }
});

test('LagMeter: lateness of its tick, less the time guest code held the thread', (t) => {
  const clock = new ManualClock();
  let now = 0;
  const meter = new LagMeter({ clock, now: () => now, intervalMs: 100, window: 3 });
  meter.start();
  now = 100;
  clock.advance(100);
  t.is(meter.value(), 0);
  // The thread was away 400 ms, 150 of them in guest code: 250 ms of it is the device's.
  meter.busy(150);
  now = 600;
  clock.advance(100);
  t.is(meter.value(), 250);
  // A spinning module alone does not raise it: its time is excused.
  meter.busy(500);
  now = 1200;
  clock.advance(100);
  t.is(meter.value(), 250, 'still the earlier sample within the window');
  for (let i = 0; i < 3; i++) {
    now += 100;
    clock.advance(100);
  }
  t.is(meter.value(), 0, 'the window forgot the slow moment');
  t.is(meter.ticks, 6);
  meter.stop();
  t.throws(() => new LagMeter({ clock, intervalMs: 0 }), { message: /intervalMs/ });
  t.throws(() => new LagMeter({ clock, every: 1 } as never), { message: /every/ });
});

test('sandboxes report the time guest code held the thread to the lag source', async (t) => {
  const apps = new Apps(engine);
  const time = ticking();
  const lag = fixedLag(0);
  const app = apps.make({ now: time.now, lag, limits: { deadlineMs: 100_000 } });
  const m = app.load(await one(`weft.on('request', () => { for (let i = 0; i < 300000; i++) {} return 1; });`, { name: 'busy' }));
  if (!m.ok) return t.fail();
  m.value.start();
  await m.value.serve({}, from);
  t.true(lag.busyMs > 20, `entries reported ${lag.busyMs} units held`);
  apps.finish(t);
});
