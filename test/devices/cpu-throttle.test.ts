// The emulated box CPU charges a box what a job cost the host's CPU, not the wall time it took:
// a fleet process descheduled by the machine's other work must not make its boxes slower [issue 19.5].
import test from 'ava';
import { ThrottledCpu } from '../../devices/index.ts';

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
