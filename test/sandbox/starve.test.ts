// A deadline that passed while the process was starved of CPU is not the guest's [issue 13.3]:
// time is a counter read at each interrupt poll, and CPU time is injected, so what is compared is
// polls against CPU, never milliseconds.
import test from 'ava';
import { loadEngine, type SandboxError } from '../../sandbox/index.ts';
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
