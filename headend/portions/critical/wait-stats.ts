// Wait statistics of a critical section for the statistics process [c16, c24, c38]: an EWMA and
// the p50/p99/max over a sliding time window of the waits measured from each request's start,
// plus the window as a mergeable log histogram, so a section served by several threads reports
// the percentiles of all its waits (mergeWaits), not an average of per-thread percentiles.
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
  /** The window's waits as a sparse log histogram: [bucket, count, bucket, count, ...] (waitBucket). */
  readonly hist: readonly number[];
}

/** Merged waits of several snapshots (threads) of one section: true percentiles to within a bucket. */
export interface MergedWaits {
  readonly windowCount: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

// Buckets 2% wide above 1 us: a percentile read from the histogram is within 1% of the exact one.
const MIN_MS = 0.001;
const GROWTH = Math.log(1.02);
/** Highest bucket: waits over ~10^4 s share it (the section is broken long before). */
const TOP = Math.ceil(Math.log(1e7 / MIN_MS) / GROWTH);

/** The histogram bucket of a wait: 0 for <= 1 us, else 1 + floor(log_1.02(ms / 1 us)), capped. */
export function waitBucket(ms: number): number {
  if (!(ms > MIN_MS)) return 0;
  return Math.min(TOP, 1 + Math.floor(Math.log(ms / MIN_MS) / GROWTH));
}

/** The value a bucket stands for: the geometric middle of its bounds (0 for bucket 0). */
export function bucketMs(b: number): number {
  return b <= 0 ? 0 : MIN_MS * Math.exp((b - 0.5) * GROWTH);
}

/**
 * Percentiles of the union of several windows (one per thread of a section), from their
 * histograms: nearest rank, as WaitStats.snapshot computes them for one window.
 */
export function mergeWaits(snaps: readonly Pick<WaitSnapshot, 'maxMs' | 'hist'>[]): MergedWaits {
  const counts = new Map<number, number>();
  let total = 0;
  let max = 0;
  for (const s of snaps) {
    const h = s.hist;
    for (let i = 0; i + 1 < h.length; i += 2) {
      const n = h[i + 1] as number;
      counts.set(h[i] as number, (counts.get(h[i] as number) ?? 0) + n);
      total += n;
    }
    if (h.length > 0) max = Math.max(max, s.maxMs);
  }
  if (total === 0) return { windowCount: 0, p50Ms: 0, p99Ms: 0, maxMs: 0 };
  const sorted = [...counts.entries()].sort((a, b) => a[0] - b[0]);
  const rank = (p: number): number => {
    const want = Math.max(1, Math.ceil(p * total));
    let seen = 0;
    for (const [b, n] of sorted) {
      seen += n;
      if (seen >= want) return Math.min(max, bucketMs(b));
    }
    return max;
  };
  return { windowCount: total, p50Ms: rank(0.5), p99Ms: rank(0.99), maxMs: max };
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
    // xs is sorted, so equal buckets are adjacent: a run-length pass makes the sparse histogram.
    const hist: number[] = [];
    for (const x of xs) {
      const b = waitBucket(x);
      if (hist.length > 0 && hist[hist.length - 2] === b) hist[hist.length - 1] = (hist[hist.length - 1] as number) + 1;
      else hist.push(b, 1);
    }
    return {
      count: this.#count,
      ewmaMs: this.#ewma,
      windowCount: xs.length,
      meanMs: xs.length === 0 ? 0 : sum / xs.length,
      p50Ms: rank(0.5),
      p99Ms: rank(0.99),
      maxMs: xs.length === 0 ? 0 : (xs[xs.length - 1] as number),
      hist,
    };
  }
}
