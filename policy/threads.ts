// Worker-thread controllers for one server portion [c14, c20, c27]: fed samples (each request's
// wait from its start to the critical section [c24]) and a clock reading, they answer add / keep /
// shrink. Pure objects: no timers, no threads; the node (or the simulator) applies the answer.

import { ArgumentError, rejectUnknown } from '../runtime/index.ts';

export type ThreadAction = 'add' | 'keep' | 'shrink';

export interface ThreadDecision {
  readonly action: ThreadAction;
  /** The worker count to run with from now on. */
  readonly workers: number;
  readonly reason: string;
}

/** What the node knows at decision time besides the samples. */
export interface PoolState {
  /** Workers running now. */
  readonly workers: number;
  /** Age of the oldest request still waiting for a worker or the lock (ms), if any [c24]. */
  readonly oldestWaitMs?: number;
  /**
   * Fraction of the time since the last decision during which every permit of the critical
   * section was held (WaitLock.saturatedMs). Near 1 the lock itself is the limit.
   */
  readonly lockBusy?: number;
}

export interface WorkerController {
  readonly name: string;
  /** A request reached its critical section `waitMs` after it started [c24]. */
  observe(at: number, waitMs: number): void;
  /** `n` requests finished (throughput, for controllers that climb on it). */
  completed(at: number, n?: number): void;
  decide(now: number, pool: PoolState): ThreadDecision;
}

export interface WaitTargetOptions {
  /** Add workers when the wait passes this (ms). Default 20. */
  targetWaitMs?: number;
  /** Calm below this wait (ms); default targetWaitMs / 4. */
  lowWaitMs?: number;
  minWorkers?: number;
  maxWorkers?: number;
  /** Least time between two adds (ms), so the effect of one shows before the next. Default 100. */
  cooldownMs?: number;
  /** Calm this long before shrinking by one; and again each holdMs after. Default 5000. */
  holdMs?: number;
  /** With the lock saturated this much of the time (PoolState.lockBusy), threads would not help. Default 0.95. */
  lockBusyLimit?: number;
}

const WT_KNOWN: readonly (keyof WaitTargetOptions)[] = ['targetWaitMs', 'lowWaitMs', 'minWorkers', 'maxWorkers', 'cooldownMs', 'holdMs', 'lockBusyLimit'];

function bounds(where: string, min: number, max: number): void {
  if (!Number.isInteger(min) || min < 1) throw new ArgumentError(`${where}: minWorkers must be an integer >= 1`, 'minWorkers');
  if (!Number.isInteger(max) || max < min) throw new ArgumentError(`${where}: maxWorkers must be an integer >= minWorkers`, 'maxWorkers');
}

const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, v));

/**
 * The wait-target controller [c20, c27]. Each decision looks at the samples since the previous
 * one: when the wait (or the age of the oldest waiting request) passes the target, it adds
 * workers in proportion to the overshoot (up to doubling), because after a step in load the
 * right count can be several times the current one and one worker per tick would take seconds.
 * When every permit of the critical section is held nearly all the time, threads would only
 * lengthen the lock's line: it keeps and says `lock-bound` (the case for spawning the portion on
 * another node [c25], which the node reports as saturation). It shrinks by one after
 * the wait has stayed below lowWaitMs for holdMs, and again each holdMs after.
 */
export class WaitTargetController implements WorkerController {
  readonly name = 'wait-target';
  readonly #o: Required<WaitTargetOptions>;
  #sum = 0;
  #n = 0;
  #lastAddAt = -Infinity;
  #calmSince: number | undefined;
  #lastShrinkAt = -Infinity;

  constructor(options: WaitTargetOptions = {}) {
    rejectUnknown('WaitTargetController', options, WT_KNOWN);
    const target = options.targetWaitMs ?? 20;
    this.#o = {
      targetWaitMs: target,
      lowWaitMs: options.lowWaitMs ?? target / 4,
      minWorkers: options.minWorkers ?? 1,
      maxWorkers: options.maxWorkers ?? 64,
      cooldownMs: options.cooldownMs ?? 100,
      holdMs: options.holdMs ?? 5000,
      lockBusyLimit: options.lockBusyLimit ?? 0.95,
    };
    bounds('WaitTargetController', this.#o.minWorkers, this.#o.maxWorkers);
    if (!(target > 0)) throw new ArgumentError('WaitTargetController: targetWaitMs must be > 0', 'targetWaitMs');
    if (!(this.#o.lowWaitMs >= 0 && this.#o.lowWaitMs < target)) throw new ArgumentError('WaitTargetController: lowWaitMs must be in [0, targetWaitMs)', 'lowWaitMs');
  }

  get options(): Readonly<Required<WaitTargetOptions>> {
    return this.#o;
  }

  observe(_at: number, waitMs: number): void {
    this.#sum += waitMs;
    this.#n++;
  }

  completed(): void {}

  decide(now: number, pool: PoolState): ThreadDecision {
    const o = this.#o;
    const mean = this.#n > 0 ? this.#sum / this.#n : 0;
    const wait = Math.max(mean, pool.oldestWaitMs ?? 0);
    this.#sum = this.#n = 0;
    const n = clamp(pool.workers, o.minWorkers, o.maxWorkers);
    if (n !== pool.workers) return { action: n > pool.workers ? 'add' : 'shrink', workers: n, reason: 'outside bounds' };

    if (wait > o.targetWaitMs) {
      this.#calmSince = undefined;
      if ((pool.lockBusy ?? 0) >= o.lockBusyLimit) return { action: 'keep', workers: n, reason: 'lock-bound' };
      if (now - this.#lastAddAt < o.cooldownMs) return { action: 'keep', workers: n, reason: 'cooling down' };
      if (n >= o.maxWorkers) return { action: 'keep', workers: n, reason: 'at maxWorkers' };
      const step = clamp(Math.ceil(n * Math.min(1, (wait / o.targetWaitMs - 1) / 2)), 1, n);
      this.#lastAddAt = now;
      return { action: 'add', workers: Math.min(o.maxWorkers, n + step), reason: `wait ${wait.toFixed(1)} ms > ${o.targetWaitMs} ms` };
    }
    if (wait < o.lowWaitMs) {
      this.#calmSince ??= now;
      const since = Math.max(this.#calmSince, this.#lastShrinkAt);
      if (n > o.minWorkers && now - since >= o.holdMs) {
        this.#lastShrinkAt = now;
        return { action: 'shrink', workers: n - 1, reason: `calm for ${o.holdMs} ms` };
      }
      return { action: 'keep', workers: n, reason: 'calm, holding' };
    }
    this.#calmSince = undefined;
    return { action: 'keep', workers: n, reason: 'within target' };
  }
}

export interface HillClimbOptions {
  minWorkers?: number;
  maxWorkers?: number;
  /** Throughput is measured over this window before each move (ms). Default 500. */
  intervalMs?: number;
  /** Workers added or removed per move. Default 1. */
  step?: number;
  /** Relative throughput change counted as a real change. Default 0.03. */
  tolerance?: number;
}

/**
 * Hill climbing on throughput (the scheme of the .NET thread pool, simplified): every interval it
 * compares completions with the previous interval and keeps moving in the direction that helped,
 * reversing when throughput fell. It needs no wait signal but one move per interval, so it takes
 * seconds to climb after a step in load. For comparison with the wait-target controller.
 */
export class HillClimbController implements WorkerController {
  readonly name = 'hill-climb';
  readonly #o: Required<HillClimbOptions>;
  #done = 0;
  #windowStart: number | undefined;
  #lastThroughput: number | undefined;
  #dir = 1;

  constructor(options: HillClimbOptions = {}) {
    rejectUnknown('HillClimbController', options, ['minWorkers', 'maxWorkers', 'intervalMs', 'step', 'tolerance']);
    this.#o = {
      minWorkers: options.minWorkers ?? 1,
      maxWorkers: options.maxWorkers ?? 64,
      intervalMs: options.intervalMs ?? 500,
      step: options.step ?? 1,
      tolerance: options.tolerance ?? 0.03,
    };
    bounds('HillClimbController', this.#o.minWorkers, this.#o.maxWorkers);
    if (!(this.#o.intervalMs > 0)) throw new ArgumentError('HillClimbController: intervalMs must be > 0', 'intervalMs');
  }

  observe(): void {}

  completed(_at: number, n = 1): void {
    this.#done += n;
  }

  decide(now: number, pool: PoolState): ThreadDecision {
    const o = this.#o;
    const n = clamp(pool.workers, o.minWorkers, o.maxWorkers);
    this.#windowStart ??= now;
    if (now - this.#windowStart < o.intervalMs) return { action: n === pool.workers ? 'keep' : n > pool.workers ? 'add' : 'shrink', workers: n, reason: 'measuring' };
    const thr = (this.#done * 1000) / (now - this.#windowStart);
    this.#done = 0;
    this.#windowStart = now;
    const last = this.#lastThroughput;
    this.#lastThroughput = thr;
    if (last !== undefined) {
      if (thr < last * (1 - o.tolerance)) this.#dir = -this.#dir;
      else if (thr <= last * (1 + o.tolerance) && (pool.oldestWaitMs ?? 0) === 0) this.#dir = -1;
      else if (thr <= last * (1 + o.tolerance)) this.#dir = 1;
    }
    const to = clamp(n + this.#dir * o.step, o.minWorkers, o.maxWorkers);
    const action: ThreadAction = to > n ? 'add' : to < n ? 'shrink' : 'keep';
    return { action, workers: to, reason: `throughput ${thr.toFixed(0)}/s` };
  }
}

/** A fixed pool: the baseline every controller is measured against. */
export class FixedPool implements WorkerController {
  readonly name: string;
  readonly #n: number;
  constructor(workers: number) {
    bounds('FixedPool', workers, workers);
    this.#n = workers;
    this.name = `fixed-${workers}`;
  }
  observe(): void {}
  completed(): void {}
  decide(_now: number, pool: PoolState): ThreadDecision {
    const action: ThreadAction = this.#n > pool.workers ? 'add' : this.#n < pool.workers ? 'shrink' : 'keep';
    return { action, workers: this.#n, reason: 'fixed' };
  }
}
