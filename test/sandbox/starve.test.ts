// A deadline that passed while the process was starved of CPU is not the guest's [issue 13.3]:
// time is a counter read at each interrupt poll, and CPU time is injected, so what is compared is
// polls against CPU, never milliseconds.
import test from 'ava';
import { loadEngine, type SandboxError } from '../../sandbox/index.ts';
import { StarveCheck } from '../../sandbox/starve.ts';
import { Apps, one } from './_harness.ts';

const engine = await loadEngine();
const from = { queue: 'tester' };
// A healthy handler that takes well over its 100-poll deadline of wall time.
const LONG = `weft.on('request', () => { for (let j = 0; j < 40; j++) { for (let i = 0; i < 30000; i++) {} } return 'done'; });`;

function ticking(): { now: () => number } {
  let t = 0;
  return { now: () => ++t };
}

test('starved: the wall clock ran past the deadline but the process had no CPU, so the handler finishes', async (t) => {
  const apps = new Apps(engine);
  const app = apps.make({ ...ticking(), cpu: () => 0, limits: { deadlineMs: 100, watchdogGraceMs: 100_000 } });
  const m = app.load(await one(LONG, { name: 'long' }));
  if (!m.ok) return t.fail(m.error.message);
  m.value.start();
  t.is(await m.value.serve({}, from), 'done');
  apps.finish(t);
});

test('the same handler with the CPU time keeping up with the wall clock is stopped at its deadline', async (t) => {
  const apps = new Apps(engine);
  const time = ticking();
  const app = apps.make({ now: time.now, cpu: () => time.now(), limits: { deadlineMs: 100, watchdogGraceMs: 100_000 } });
  const m = app.load(await one(LONG, { name: 'long' }));
  if (!m.ok) return t.fail(m.error.message);
  m.value.start();
  const err = (await t.throwsAsync(m.value.serve({}, from))) as SandboxError;
  t.is(err.fault, 'deadline');
  apps.finish(t);
});

test('starvation has a cap: a guest that spins forever is stopped even with no CPU time counted', async (t) => {
  const apps = new Apps(engine);
  const app = apps.make({ ...ticking(), cpu: () => 0, limits: { deadlineMs: 100, watchdogGraceMs: 100_000 } });
  const m = app.load(await one(`weft.on('request', () => { for (;;) {} });`, { name: 'spin' }));
  if (!m.ok) return t.fail(m.error.message);
  m.value.start();
  const err = (await t.throwsAsync(m.value.serve({}, from))) as SandboxError;
  t.is(err.fault, 'deadline');
  apps.finish(t);
});

test('starved past deadline + grace: the watchdog does not judge a handler the CPU never reached', async (t) => {
  const apps = new Apps(engine);
  const app = apps.make({ ...ticking(), cpu: () => 0, limits: { deadlineMs: 100, watchdogGraceMs: 1 } });
  const m = app.load(await one(LONG, { name: 'long' }));
  if (!m.ok) return t.fail(m.error.message);
  m.value.start();
  t.is(await m.value.serve({}, from), 'done');
  apps.finish(t);
});

test('with the CPU keeping up, an overrun past deadline + grace is still the watchdog\'s or the deadline\'s', async (t) => {
  const apps = new Apps(engine);
  const time = ticking();
  const app = apps.make({ now: time.now, cpu: () => time.now(), limits: { deadlineMs: 100, watchdogGraceMs: 1 } });
  const m = app.load(await one(LONG, { name: 'long' }));
  if (!m.ok) return t.fail(m.error.message);
  m.value.start();
  const err = (await t.throwsAsync(m.value.serve({}, from))) as SandboxError;
  t.true(err.fault === 'deadline' || err.fault === 'watchdog', err.fault);
  apps.finish(t);
});

test('events that begin within a millisecond share one CPU reading (a system call)', async (t) => {
  const apps = new Apps(engine);
  let wall = 0;
  let reads = 0;
  const app = apps.make({ now: () => wall, cpu: () => (reads++, wall), limits: { deadlineMs: 100, watchdogGraceMs: 100_000 } });
  const m = app.load(await one(`weft.on('request', (b) => b);`, { name: 'quick' }));
  if (!m.ok) return t.fail(m.error.message);
  m.value.start();
  for (let i = 0; i < 5; i++) t.is(await m.value.serve(i, from), i);
  t.is(reads, 1, 'load, start and five requests at one wall instant read the CPU once');
  wall += 5;
  t.is(await m.value.serve('later', from), 'later');
  t.is(reads, 2, 'an event 5 ms later reads it again');
  apps.finish(t);
});

test('checks that share a reading (the sandboxes of a thread on its own clocks) read the CPU once per millisecond between them', (t) => {
  let reads = 0;
  const cpu = (): number => (reads++, 0);
  const last = { value: 0, at: -Infinity };
  const checks = Array.from({ length: 10 }, () => new StarveCheck(cpu, last));
  for (const c of checks) c.begin(100);
  t.is(reads, 1, 'ten sandboxes starting in the same millisecond');
  checks[0]?.begin(101.5);
  t.is(reads, 2);
  t.true(checks[1]?.starved(300, 1000), 'the deadline check reads afresh: no CPU since its begin');
  t.is(reads, 3);
});

// Seen in npm run test:stress (cluster-processes, a node's `search` portion at load ~30): "promise
// jobs used up the event's 100 ms CPU slice" for a job whose thread got part of a core: more than
// half of the wall time, less than the slice in CPU. The slice is CPU, so it is judged in CPU.
test('a guest with part of a core has not used its span until its CPU time reaches it; the wall cap still ends it', (t) => {
  let cpu = 0;
  const check = new StarveCheck(() => cpu);
  check.begin(0);
  cpu = 66; // 60% of 110 ms of wall: more than half, less than the 100 ms span
  t.false(check.starved(110, 400), 'the half-wall rule alone judges it spinning');
  t.true(check.starved(110, 400, 100), 'short of its span in CPU: slow, not spinning');
  cpu = 100; // its CPU reached the span: a spinner with most of a core
  t.false(check.starved(160, 400, 100));
  cpu = 10; // little CPU, but the wall cap passed
  t.false(check.starved(400, 400, 100));
  cpu = 30; // under half the wall time: starved with or without a span, as before
  t.true(check.starved(100, 400));
});
