// bench/scale's loaded probe [issue 19.6]: one full box's requests while the node holds the light
// fleet, with what the machine did over the same window: the node's loop delay and GC pauses, and
// the CPU each party spent (the node's main thread, its other threads, the broker process, the
// fleet's processes). Two cores are shared by all of them, so the probe's p99 reads the node's
// own delays only when the others leave a core free. `waitS` waits that long after the last box
// came up first: the held state, not the tail of the arrivals (checkpoints of the last sessions,
// their first reports, the GC of the arrivals' garbage).

import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import type { RunningFleet } from './_scale-fleet.ts';

export interface HeldWindow {
  p99?: number;
  /** Loop delay p99 / max over the window, ms. */
  loopP99Ms: number;
  loopMaxMs: number;
  /** CPU over the window, in cores (CPU s per wall s). */
  cores: { nodeMain: number; nodeThreads: number; broker: number; fleet: number };
}

/** utime + stime of a process or one of its threads, ms (Linux /proc; 100 ticks a second). */
function procCpuMs(path: string): number {
  try {
    const f = readFileSync(path, 'utf8');
    const fields = f.slice(f.lastIndexOf(')') + 2).split(' '); // fields from the 3rd (state) on
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}

interface CpuMark {
  at: number;
  main: number;
  all: number;
  broker: number;
  fleet: number;
}

function mark(brokerPid: number | undefined, fleet: RunningFleet): CpuMark {
  const all = process.cpuUsage();
  return {
    at: performance.now(),
    main: procCpuMs(`/proc/${process.pid}/task/${process.pid}/stat`),
    all: (all.user + all.system) / 1000,
    broker: brokerPid === undefined ? 0 : procCpuMs(`/proc/${brokerPid}/stat`),
    fleet: fleet.last()?.cpuMs ?? NaN,
  };
}

/**
 * Wait `waitS`, then run `request` (the loaded probe) with the loop delay, GC pauses and CPU of each
 * party measured over it.
 */
export async function heldWindow(
  o: { kind: string; waitS: number; brokerPid?: number; fleet: RunningFleet; log: (line: string) => void },
  request: () => Promise<{ p99?: number }>,
): Promise<HeldWindow> {
  if (o.waitS > 0) {
    const t = performance.now();
    await o.fleet.until(() => performance.now() - t >= o.waitS * 1000, (o.waitS + 60) * 1000, `the ${o.waitS} s hold`);
  }
  const held = monitorEventLoopDelay({ resolution: 10 });
  held.enable();
  const gc = { n: 0, sumMs: 0, maxMs: 0 }; // the node's GC pauses over the same window (part of its loop delay)
  const gcs = new PerformanceObserver((l) => {
    for (const e of l.getEntries()) {
      gc.n++;
      gc.sumMs += e.duration;
      gc.maxMs = Math.max(gc.maxMs, e.duration);
    }
  });
  gcs.observe({ entryTypes: ['gc'] });
  const m0 = mark(o.brokerPid, o.fleet);
  let p99: number | undefined;
  try {
    p99 = (await request()).p99;
  } finally {
    held.disable();
    gcs.disconnect();
  }
  // The fleet's CPU is in its summary lines (one a second): wait for the next one after the probe.
  const t1 = performance.now();
  await o.fleet.until(() => performance.now() - t1 >= 1500, 30_000, 'a fleet line after the loaded probe').catch(() => undefined);
  const m1 = mark(o.brokerPid, o.fleet);
  const s = (m1.at - m0.at) / 1000;
  const cores = { nodeMain: (m1.main - m0.main) / 1000 / s, nodeThreads: (m1.all - m0.all - (m1.main - m0.main)) / 1000 / s, broker: (m1.broker - m0.broker) / 1000 / s, fleet: (m1.fleet - m0.fleet) / 1000 / s };
  const ms = (ns: number): number => Math.round(ns / 1e5) / 10;
  const c = (x: number): string => x.toFixed(2);
  o.log(`${o.kind}: held ${o.waitS} s more, then the loaded probe: head-end loop delay p50 ${ms(held.percentile(50))} ms, p99 ${ms(held.percentile(99))} ms, max ${ms(held.max)} ms; GC ${gc.n} pauses, ${Math.round(gc.sumMs)} ms in all, longest ${ms(gc.maxMs * 1e6)} ms; cores: node main ${c(cores.nodeMain)}, node threads ${c(cores.nodeThreads)}, broker ${c(cores.broker)}, fleet ${c(cores.fleet)} (over ${s.toFixed(1)} s)`);
  return { p99, loopP99Ms: ms(held.percentile(99)), loopMaxMs: ms(held.max), cores };
}
