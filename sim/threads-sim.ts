// A discrete-event model of one server portion's worker threads [c20, c24, c27]: requests wait
// for a worker, then for a counting semaphore guarding the critical section, then use a core
// (processor sharing). A worker controller (policy/) resizes the pool as it would live.

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

type Resolved = Required<ThreadSimOptions>;

export function simulateThreads(controller: WorkerController, options: ThreadSimOptions = {}): ThreadSimResult {
  const o: Resolved = {
    seed: 1, ratePerS: 400, criticalMs: 10, stepX: 4, stepAtMs: 2000, cpuMs: 2, cores: 2, permits: 32, workers: 8,
    spawnMs: 1, threadOverhead: 0.01, tickMs: 50, durationMs: 8000, binMs: 100, ...options,
  };
  return new ThreadSim(controller, o).run();
}

/** One run's state; each event kind is one method. */
class ThreadSim {
  readonly #c: WorkerController;
  readonly #o: Resolved;
  readonly #rng: SeededRandom;
  readonly #heap = new EventHeap(1024);
  readonly #start: number[] = [];
  readonly #cpuLeft: number[] = [];
  readonly #waitQ: number[] = [];
  #waitHead = 0;
  readonly #lockQ: number[] = [];
  #lockHead = 0;
  #holders = 0;
  #workers: number;
  #target: number;
  #busy = 0;
  #now = 0;
  // Processor sharing: jobs in the CPU phase progress together at `rate` each.
  readonly #cpuJobs: number[] = [];
  readonly #cpuEnd: number[] = [];
  #vt = 0;
  #vtAt = 0;
  #cpuVersion = 0;
  readonly #bins: ThreadSimBin[] = [];
  #binDone = 0;
  #binWait = 0;
  #binWaits = 0;
  #completed = 0;
  #waitSum = 0;
  #waits = 0;
  #maxWorkers: number;
  // Every request draws its numbers at arrival, so every controller sees the same trace.
  readonly #critUnit: number[] = [];
  // Time with every permit held, for PoolState.lockBusy.
  #fullMs = 0;
  #fullSince = -1;
  #fullAtTick = 0;

  constructor(controller: WorkerController, o: Resolved) {
    this.#c = controller;
    this.#o = o;
    this.#rng = new SeededRandom(o.seed);
    this.#workers = o.workers;
    this.#target = o.workers;
    this.#maxWorkers = o.workers;
  }

  run(): ThreadSimResult {
    const o = this.#o;
    const heap = this.#heap;
    heap.push(this.#rng.exp(1000 / o.ratePerS), EV_ARRIVE, 0);
    heap.push(o.tickMs, EV_TICK, 0);
    let nextBin = o.binMs;
    while (heap.pop()) {
      this.#now = heap.time;
      while (this.#now >= nextBin) {
        this.#bins.push({ t: nextBin, throughputPerS: (this.#binDone * 1000) / o.binMs, workers: this.#workers, meanWaitMs: this.#binWaits > 0 ? this.#binWait / this.#binWaits : 0 });
        this.#binDone = this.#binWait = this.#binWaits = 0;
        nextBin += o.binMs;
      }
      if (this.#now > o.durationMs) break;
      if (heap.kind === EV_ARRIVE) this.#arrive();
      else if (heap.kind === EV_LOCK_DONE) this.#lockDone(heap.arg);
      else if (heap.kind === EV_CPU_DONE) this.#cpuDone(heap.aux);
      else if (heap.kind === EV_TICK) this.#tick();
      else if (heap.kind === EV_READY) this.#ready(heap.arg);
    }
    return { controller: this.#c.name, bins: this.#bins, completed: this.#completed, maxWorkers: this.#maxWorkers, meanWaitMs: this.#waits > 0 ? this.#waitSum / this.#waits : 0 };
  }

  #rate(): number {
    const o = this.#o;
    return Math.min(1, o.cores / Math.max(1, this.#cpuJobs.length)) / (1 + o.threadOverhead * Math.max(0, this.#workers - o.cores));
  }

  #advanceVt(): void {
    this.#vt += (this.#now - this.#vtAt) * this.#rate();
    this.#vtAt = this.#now;
  }

  #scheduleCpu(): void {
    this.#cpuVersion++;
    if (this.#cpuJobs.length === 0) return;
    let m = Infinity;
    for (const e of this.#cpuEnd) m = Math.min(m, e);
    this.#heap.push(this.#now + Math.max(0, m - this.#vt) / this.#rate(), EV_CPU_DONE, 0, this.#cpuVersion);
  }

  #crit(r: number): number {
    const o = this.#o;
    return (this.#critUnit[r] as number) * (this.#now >= o.stepAtMs ? o.criticalMs * o.stepX : o.criticalMs);
  }

  #fullNow(): number {
    return this.#fullMs + (this.#fullSince >= 0 ? this.#now - this.#fullSince : 0);
  }

  #acquire(r: number): void {
    this.#holders++;
    if (this.#holders >= this.#o.permits && this.#fullSince < 0) this.#fullSince = this.#now;
    const wait = this.#now - (this.#start[r] as number);
    this.#c.observe(this.#now, wait);
    this.#waitSum += wait;
    this.#waits++;
    this.#binWait += wait;
    this.#binWaits++;
    this.#heap.push(this.#now + this.#crit(r), EV_LOCK_DONE, r);
  }

  #onWorker(r: number): void {
    this.#busy++;
    if (this.#holders < this.#o.permits && this.#lockHead === this.#lockQ.length) this.#acquire(r);
    else this.#lockQ.push(r);
  }

  #freeWorker(): void {
    this.#busy--;
    if (this.#workers > this.#target && this.#busy < this.#workers) {
      this.#workers--;
      return;
    }
    if (this.#waitHead < this.#waitQ.length) this.#onWorker(this.#waitQ[this.#waitHead++] as number);
  }

  #arrive(): void {
    const r = this.#start.length;
    this.#start.push(this.#now);
    this.#cpuLeft.push(this.#rng.exp(this.#o.cpuMs));
    this.#critUnit.push(this.#rng.exp(1));
    this.#heap.push(this.#now + this.#rng.exp(1000 / this.#o.ratePerS), EV_ARRIVE, 0);
    if (this.#busy < this.#workers) this.#onWorker(r);
    else this.#waitQ.push(r);
  }

  #lockDone(r: number): void {
    this.#holders--;
    while (this.#holders < this.#o.permits && this.#lockHead < this.#lockQ.length) this.#acquire(this.#lockQ[this.#lockHead++] as number);
    if (this.#holders < this.#o.permits && this.#fullSince >= 0) {
      this.#fullMs += this.#now - this.#fullSince;
      this.#fullSince = -1;
    }
    this.#advanceVt();
    this.#cpuJobs.push(r);
    this.#cpuEnd.push(this.#vt + (this.#cpuLeft[r] as number));
    this.#scheduleCpu();
  }

  #cpuDone(version: number): void {
    if (version !== this.#cpuVersion) return;
    this.#advanceVt();
    const ends = this.#cpuEnd;
    let k = 0;
    for (let j = 1; j < ends.length; j++) if ((ends[j] as number) < (ends[k] as number)) k = j;
    this.#cpuJobs.splice(k, 1);
    ends.splice(k, 1);
    this.#completed++;
    this.#binDone++;
    this.#c.completed(this.#now, 1);
    this.#freeWorker();
    this.#scheduleCpu();
  }

  #tick(): void {
    const o = this.#o;
    const oldest = this.#waitHead < this.#waitQ.length ? this.#now - (this.#start[this.#waitQ[this.#waitHead] as number] as number) : 0;
    const full = this.#fullNow();
    const d = this.#c.decide(this.#now, { workers: this.#target, oldestWaitMs: oldest, lockBusy: (full - this.#fullAtTick) / o.tickMs });
    this.#fullAtTick = full;
    if (d.workers > this.#target) this.#heap.push(this.#now + o.spawnMs, EV_READY, d.workers - this.#target);
    else if (d.workers < this.#target) {
      // Idle workers leave now; busy ones when they finish.
      this.#advanceVt();
      const idle = Math.max(0, this.#workers - this.#busy);
      this.#workers -= Math.min(idle, this.#target - d.workers);
      this.#scheduleCpu();
    }
    this.#target = d.workers;
    this.#heap.push(this.#now + o.tickMs, EV_TICK, 0);
  }

  #ready(added: number): void {
    this.#advanceVt();
    this.#workers += added;
    this.#maxWorkers = Math.max(this.#maxWorkers, this.#workers);
    while (this.#busy < this.#workers && this.#waitHead < this.#waitQ.length) this.#onWorker(this.#waitQ[this.#waitHead++] as number);
    this.#scheduleCpu();
  }
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
