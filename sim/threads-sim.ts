// A discrete-event model of one server portion's worker threads [c20, c24, c27]: requests wait
// for a worker, then for a counting semaphore guarding the critical section, then use a core
// (processor sharing). A worker controller (headend/policy) resizes the pool as it would live.

import { SeededRandom } from '../policy/index.ts';
import type { WorkerController } from '../policy/index.ts';
import { EventHeap } from './heap.ts';

export interface ThreadSimOptions {
  seed?: number;
  /** Request arrivals per second (Poisson). Default 400. */
  ratePerS?: number;
  /** Mean time inside the critical section (ms, exponential) before and after the step. Default 10 -> 40. */
  criticalMs?: number;
  stepX?: number;
  /** When the critical section slows down (ms). Default 2000. */
  stepAtMs?: number;
  /** Mean CPU time after the critical section (ms). Default 2. */
  cpuMs?: number;
  cores?: number;
  /** Semaphore permits (e.g. a connection pool). Default 32. */
  permits?: number;
  /** Workers at the start. Default 8. */
  workers?: number;
  /** Time for an added worker to take requests (pre-warmed: small). Default 1 ms. */
  spawnMs?: number;
  /** CPU slowdown per thread beyond the cores (context switches). Default 0.01. */
  threadOverhead?: number;
  /** Controller cadence (ms). Default 50. */
  tickMs?: number;
  durationMs?: number;
  /** Series bin width (ms). Default 100. */
  binMs?: number;
}

export interface ThreadSimBin {
  readonly t: number;
  readonly throughputPerS: number;
  readonly workers: number;
  readonly meanWaitMs: number;
}

export interface ThreadSimResult {
  readonly controller: string;
  readonly bins: readonly ThreadSimBin[];
  readonly completed: number;
  readonly maxWorkers: number;
  readonly meanWaitMs: number;
}

const EV_ARRIVE = 0;
const EV_LOCK_DONE = 1;
const EV_CPU_DONE = 2;
const EV_TICK = 3;
const EV_READY = 4;

export function simulateThreads(controller: WorkerController, options: ThreadSimOptions = {}): ThreadSimResult {
  const o = {
    seed: 1, ratePerS: 400, criticalMs: 10, stepX: 4, stepAtMs: 2000, cpuMs: 2, cores: 2, permits: 32, workers: 8,
    spawnMs: 1, threadOverhead: 0.01, tickMs: 50, durationMs: 8000, binMs: 100, ...options,
  };
  const rng = new SeededRandom(o.seed);
  const heap = new EventHeap(1024);
  const start: number[] = [];
  const cpuLeft: number[] = [];
  const waitQ: number[] = [];
  let waitHead = 0;
  const lockQ: number[] = [];
  let lockHead = 0;
  let holders = 0;
  let workers = o.workers;
  let target = o.workers;
  let busy = 0;
  let now = 0;
  // Processor sharing: jobs in the CPU phase progress together at `rate` each.
  const cpuJobs: number[] = [];
  const cpuEnd: number[] = [];
  let vt = 0;
  let vtAt = 0;
  let cpuVersion = 0;
  const rate = (): number => Math.min(1, o.cores / Math.max(1, cpuJobs.length)) / (1 + o.threadOverhead * Math.max(0, workers - o.cores));
  const advanceVt = (): void => {
    vt += (now - vtAt) * rate();
    vtAt = now;
  };
  const scheduleCpu = (): void => {
    cpuVersion++;
    if (cpuJobs.length === 0) return;
    let m = Infinity;
    for (const e of cpuEnd) m = Math.min(m, e);
    heap.push(now + Math.max(0, m - vt) / rate(), EV_CPU_DONE, 0, cpuVersion);
  };

  const bins: ThreadSimBin[] = [];
  let binDone = 0;
  let binWait = 0;
  let binWaits = 0;
  let completed = 0;
  let waitSum = 0;
  let waits = 0;
  let maxWorkers = workers;
  // Every request draws its numbers at arrival, so every controller sees the same trace.
  const critUnit: number[] = [];
  const crit = (r: number): number => (critUnit[r] as number) * (now >= o.stepAtMs ? o.criticalMs * o.stepX : o.criticalMs);

  // Time with every permit held, for PoolState.lockBusy.
  let fullMs = 0;
  let fullSince = -1;
  let fullAtTick = 0;
  const fullNow = (): number => fullMs + (fullSince >= 0 ? now - fullSince : 0);
  const acquire = (r: number): void => {
    holders++;
    if (holders >= o.permits && fullSince < 0) fullSince = now;
    const wait = now - (start[r] as number);
    controller.observe(now, wait);
    waitSum += wait;
    waits++;
    binWait += wait;
    binWaits++;
    heap.push(now + crit(r), EV_LOCK_DONE, r);
  };
  const onWorker = (r: number): void => {
    busy++;
    if (holders < o.permits && lockHead === lockQ.length) acquire(r);
    else lockQ.push(r);
  };
  const freeWorker = (): void => {
    busy--;
    if (workers > target && busy < workers) {
      workers--;
      return;
    }
    if (waitHead < waitQ.length) onWorker(waitQ[waitHead++] as number);
  };

  heap.push(rng.exp(1000 / o.ratePerS), EV_ARRIVE, 0);
  heap.push(o.tickMs, EV_TICK, 0);
  let nextBin = o.binMs;
  while (heap.pop()) {
    now = heap.time;
    while (now >= nextBin) {
      bins.push({ t: nextBin, throughputPerS: (binDone * 1000) / o.binMs, workers, meanWaitMs: binWaits > 0 ? binWait / binWaits : 0 });
      binDone = binWait = binWaits = 0;
      nextBin += o.binMs;
    }
    if (now > o.durationMs) break;
    switch (heap.kind) {
      case EV_ARRIVE: {
        const r = start.length;
        start.push(now);
        cpuLeft.push(rng.exp(o.cpuMs));
        critUnit.push(rng.exp(1));
        heap.push(now + rng.exp(1000 / o.ratePerS), EV_ARRIVE, 0);
        if (busy < workers) onWorker(r);
        else waitQ.push(r);
        break;
      }
      case EV_LOCK_DONE: {
        const r = heap.arg;
        holders--;
        while (holders < o.permits && lockHead < lockQ.length) acquire(lockQ[lockHead++] as number);
        if (holders < o.permits && fullSince >= 0) {
          fullMs += now - fullSince;
          fullSince = -1;
        }
        advanceVt();
        cpuJobs.push(r);
        cpuEnd.push(vt + (cpuLeft[r] as number));
        scheduleCpu();
        break;
      }
      case EV_CPU_DONE: {
        if (heap.aux !== cpuVersion) break;
        advanceVt();
        let k = 0;
        for (let j = 1; j < cpuEnd.length; j++) if ((cpuEnd[j] as number) < (cpuEnd[k] as number)) k = j;
        cpuJobs.splice(k, 1);
        cpuEnd.splice(k, 1);
        completed++;
        binDone++;
        controller.completed(now, 1);
        freeWorker();
        scheduleCpu();
        break;
      }
      case EV_TICK: {
        const oldest = waitHead < waitQ.length ? now - (start[waitQ[waitHead] as number] as number) : 0;
        const full = fullNow();
        const d = controller.decide(now, { workers: target, oldestWaitMs: oldest, lockBusy: (full - fullAtTick) / o.tickMs });
        fullAtTick = full;
        if (d.workers > target) heap.push(now + o.spawnMs, EV_READY, d.workers - target);
        else if (d.workers < target) {
          // Idle workers leave now; busy ones when they finish.
          advanceVt();
          const idle = Math.max(0, workers - busy);
          workers -= Math.min(idle, target - d.workers);
          scheduleCpu();
        }
        target = d.workers;
        heap.push(now + o.tickMs, EV_TICK, 0);
        break;
      }
      case EV_READY: {
        advanceVt();
        workers += heap.arg;
        maxWorkers = Math.max(maxWorkers, workers);
        while (busy < workers && waitHead < waitQ.length) onWorker(waitQ[waitHead++] as number);
        scheduleCpu();
        break;
      }
    }
  }
  return { controller: controller.name, bins, completed, maxWorkers, meanWaitMs: waits > 0 ? waitSum / waits : 0 };
}

/**
 * Reaction time after the step: how long until the controller's completions, per window of
 * `windowBins` bins, stay at or above `fraction` of the reference run's completions in the same
 * window (the same trace, e.g. the best fixed pool) for the rest of the run. 0 if they never fell
 * below; Infinity if they never recovered.
 */
export function reactionMs(run: ThreadSimResult, reference: ThreadSimResult, stepAtMs: number, fraction = 0.9, windowBins = 2): number {
  const a = run.bins;
  const b = reference.bins;
  const n = Math.min(a.length, b.length);
  let lastBad = -1;
  for (let i = windowBins - 1; i < n; i++) {
    if ((a[i] as ThreadSimBin).t <= stepAtMs) continue;
    let x = 0;
    let y = 0;
    for (let j = i - windowBins + 1; j <= i; j++) {
      x += (a[j] as ThreadSimBin).throughputPerS;
      y += (b[j] as ThreadSimBin).throughputPerS;
    }
    if (x < fraction * y) lastBad = i;
  }
  if (lastBad < 0) return 0;
  if (lastBad === n - 1) return Infinity;
  return (a[lastBad] as ThreadSimBin).t - stepAtMs;
}

/** Mean throughput of a run between two times (ms). */
export function throughputBetween(run: ThreadSimResult, fromMs: number, toMs: number): number {
  const xs = run.bins.filter((x) => x.t > fromMs && x.t <= toMs).map((x) => x.throughputPerS);
  return xs.length === 0 ? 0 : xs.reduce((a, c) => a + c, 0) / xs.length;
}
