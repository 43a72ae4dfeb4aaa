// Wait statistics of a critical section for the statistics process [c16, c24, c38]: an EWMA and
// the p50/p99/max over a sliding time window of the waits measured from each request's start.
// Bounded memory (a ring of the most recent samples); no clock of its own: callers pass times.

import { ArgumentError, rejectUnknown } from '../../../runtime/index.ts';

export interface WaitStatsOptions {
  /** Weight of each new sample in the EWMA. Default 0.1. */
  alpha?: number;
  /** Window of the percentiles (ms). Default 10 000. */
  windowMs?: number;
  /** Samples kept for the window (the most recent). Default 4096. */
  maxSamples?: number;
}

export interface WaitSnapshot {
  /** Samples ever recorded. */
  readonly count: number;
  /** Exponentially weighted mean of all samples (ms). */
  readonly ewmaMs: number;
  /** Samples in the window, and their mean, median, 99th percentile and maximum (ms). */
  readonly windowCount: number;
  readonly meanMs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export class WaitStats {
  readonly #alpha: number;
  readonly #windowMs: number;
  readonly #at: Float64Array;
  readonly #wait: Float64Array;
  #next = 0;
  #filled = 0;
  #count = 0;
  #ewma = 0;

  constructor(options: WaitStatsOptions = {}) {
    rejectUnknown('WaitStats', options, ['alpha', 'windowMs', 'maxSamples']);
    this.#alpha = options.alpha ?? 0.1;
    this.#windowMs = options.windowMs ?? 10_000;
    const max = options.maxSamples ?? 4096;
    if (!(this.#alpha > 0 && this.#alpha <= 1)) throw new ArgumentError('WaitStats: alpha must be in (0, 1]', 'alpha');
    if (!(this.#windowMs > 0)) throw new ArgumentError('WaitStats: windowMs must be > 0', 'windowMs');
    if (!Number.isInteger(max) || max < 1) throw new ArgumentError('WaitStats: maxSamples must be an integer >= 1', 'maxSamples');
    this.#at = new Float64Array(max);
    this.#wait = new Float64Array(max);
  }

  /** One request acquired the section at `at` after waiting `waitMs` since it started. */
  record(at: number, waitMs: number): void {
    const w = waitMs > 0 ? waitMs : 0;
    this.#ewma = this.#count === 0 ? w : this.#ewma + this.#alpha * (w - this.#ewma);
    this.#count++;
    this.#at[this.#next] = at;
    this.#wait[this.#next] = w;
    this.#next = (this.#next + 1) % this.#at.length;
    if (this.#filled < this.#at.length) this.#filled++;
  }

  get count(): number {
    return this.#count;
  }

  get ewmaMs(): number {
    return this.#ewma;
  }

  snapshot(now: number): WaitSnapshot {
    const from = now - this.#windowMs;
    const xs: number[] = [];
    for (let i = 0; i < this.#filled; i++) {
      if ((this.#at[i] as number) > from) xs.push(this.#wait[i] as number);
    }
    xs.sort((a, b) => a - b);
    const rank = (p: number): number => (xs.length === 0 ? 0 : (xs[Math.min(xs.length - 1, Math.ceil(p * xs.length) - 1)] as number));
    const sum = xs.reduce((a, b) => a + b, 0);
    return {
      count: this.#count,
      ewmaMs: this.#ewma,
      windowCount: xs.length,
      meanMs: xs.length === 0 ? 0 : sum / xs.length,
      p50Ms: rank(0.5),
      p99Ms: rank(0.99),
      maxMs: xs.length === 0 ? 0 : (xs[xs.length - 1] as number),
    };
  }
}
