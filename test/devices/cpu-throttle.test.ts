// The emulated box CPU charges a box what a job cost the host's CPU, not the wall time it took:
// a fleet process descheduled by the machine's other work must not make its boxes slower [issue 19.5].
import test from 'ava';
import { ThrottledCpu } from '../../devices/index.ts';
import { FRESH_MS, JobCpu, SHORT_MS } from '../../devices/job-cpu.ts';

test('a job costs the box its CPU time, not the wall time a busy host took to run it', async (t) => {
  const wall = { now: 0 };
  const cpuMs = { now: 0 };
  const cpu = new ThrottledCpu(0.5, () => wall.now, () => cpuMs.now);
  const order: string[] = [];
  // 1 ms of CPU that took 20 ms of wall time: the process was off its core for 19 ms.
  const a = cpu.run(() => {
    wall.now += 20;
    cpuMs.now += 1;
    order.push('a');
    setImmediate(() => order.push('next turn'));
  });
  const b = cpu.run(() => order.push('b'));
  await Promise.all([a, b]);
  await new Promise((r) => setImmediate(r));
  // At factor 0.5 the box was busy 2 ms (1 / 0.5), long over at wall 20: b runs at once. Charged
  // by wall time the box was busy 40 ms, and b waited a host timer behind the next turn.
  t.deepEqual(order, ['a', 'b', 'next turn']);
  t.is(cpu.stats().hostMs, 1);
});

test('a job is charged at most its wall time (the process CPU counts other threads too)', async (t) => {
  const wall = { now: 0 };
  const cpuMs = { now: 0 };
  const cpu = new ThrottledCpu(0.25, () => wall.now, () => cpuMs.now);
  await cpu.run(() => {
    wall.now += 2;
    cpuMs.now += 5; // a GC helper thread ran beside the job
  });
  t.is(cpu.stats().hostMs, 2);
});

test('jobs of many boxes run back to back read the process CPU clock once, not twice per job', async (t) => {
  const wall = { now: 0 };
  let reads = 0;
  const clock = new JobCpu(() => wall.now, () => (reads++, 0));
  const boxes = Array.from({ length: 50 }, () => new ThrottledCpu(0.5, undefined, undefined, clock));
  // Each box's job takes 0.005 ms of wall time: 50 jobs fit in one FRESH_MS.
  await Promise.all(boxes.map((b) => b.run(() => (wall.now += 0.005))));
  t.is(reads, 1); // was 100: getrusage before and after every job
  t.is(Math.round(boxes.reduce((s, b) => s + b.stats().hostMs, 0) * 1000) / 1000, 0.25);
});

test('a job longer than SHORT_MS is charged the CPU read after it; a stale reading is read again before one', async (t) => {
  const wall = { now: 0 };
  const cpuMs = { now: 100 };
  const clock = new JobCpu(() => wall.now, () => cpuMs.now);
  const cpu = new ThrottledCpu(1, undefined, undefined, clock);
  await cpu.run(() => (wall.now += SHORT_MS)); // short: its wall time, no reading after it
  t.is(clock.reads, 1);
  wall.now += FRESH_MS * 4; // the loop waited: the next job reads again
  cpuMs.now += 7; // CPU the process spent between jobs is not charged to the next one
  await cpu.run(() => {
    wall.now += 30;
    cpuMs.now += 3; // off its core 27 ms
  });
  t.is(clock.reads, 3);
  t.is(cpu.stats().hostMs, SHORT_MS + 3);
});
