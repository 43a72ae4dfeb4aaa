// Wait-and-lock across worker threads [c20-c23, c28, c29]: a FIFO ticket semaphore in a
// SharedArrayBuffer (Atomics), so a portion's workers share one critical section. Waits from each
// request's start [c24] are summed in shared counters any thread (the statistics process) reads.

import { ArgumentError, TimeoutError, type Clock } from '../../../runtime/index.ts';
import type { Release } from './wait-lock.ts';
import type { WaitStats } from './wait-stats.ts';

// Int32 slots: tickets handed out, permits given back, permits, and an epoch bumped on every
// change a waiter must see (a release or a new permit count), which is what waiters sleep on.
const NEXT = 0;
const RELEASED = 1;
const PERMITS = 2;
const EPOCH = 3;
const INTS = 4;
// BigInt64 slots after the ints: acquisitions, total wait (us), longest wait (us).
const COUNT = 0;
const SUM_US = 1;
const MAX_US = 2;
const BYTES = INTS * 4 + 3 * 8;

type WaitAsync = (a: Int32Array, i: number, v: number, t?: number) => { async: false; value: string } | { async: true; value: Promise<string> };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

export interface SharedWaitTotals {
  readonly count: number;
  readonly totalWaitMs: number;
  readonly maxWaitMs: number;
  readonly meanWaitMs: number;
}

export interface SharedLockOptions {
  clock: Clock;
  /** This thread's own EWMA / p99 of the waits it saw (optional). */
  stats?: WaitStats;
}

/**
 * A counting semaphore shared by threads: `SharedSemaphore.create(permits)` in one thread, pass
 * `.buffer` to workers (postMessage / workerData), `SharedSemaphore.attach(buffer, ...)` there.
 * Ticket order makes it FIFO across threads. Tickets cannot be withdrawn, so there is no deadline
 * on `acquire` (a holder that never releases blocks the line: keep critical sections short).
 */
export class SharedSemaphore {
  readonly buffer: SharedArrayBuffer;
  readonly #i32: Int32Array;
  readonly #big: BigInt64Array;
  readonly #clock: Clock;
  readonly #stats: WaitStats | undefined;

  private constructor(buffer: SharedArrayBuffer, options: SharedLockOptions) {
    if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength < BYTES) throw new ArgumentError('SharedSemaphore: not a shared lock buffer', 'buffer');
    if (typeof options?.clock?.now !== 'function') throw new ArgumentError('SharedSemaphore: a clock is required', 'clock');
    this.buffer = buffer;
    this.#i32 = new Int32Array(buffer, 0, INTS);
    this.#big = new BigInt64Array(buffer, INTS * 4, 3);
    this.#clock = options.clock;
    this.#stats = options.stats;
  }

  static create(permits: number, options: SharedLockOptions): SharedSemaphore {
    checkPermits(permits);
    const s = new SharedSemaphore(new SharedArrayBuffer(BYTES), options);
    Atomics.store(s.#i32, PERMITS, permits);
    return s;
  }

  static attach(buffer: SharedArrayBuffer, options: SharedLockOptions): SharedSemaphore {
    return new SharedSemaphore(buffer, options);
  }

  get permits(): number {
    return Atomics.load(this.#i32, PERMITS);
  }

  /** Permits held plus tickets waiting, across all threads. */
  get outstanding(): number {
    return (Atomics.load(this.#i32, NEXT) - Atomics.load(this.#i32, RELEASED)) | 0;
  }

  setPermits(n: number): void {
    checkPermits(n);
    Atomics.store(this.#i32, PERMITS, n);
    this.#bump();
  }

  /** Take a permit if one is free and nobody is in line. */
  tryAcquire(startedAt?: number): Release | undefined {
    for (;;) {
      const t = Atomics.load(this.#i32, NEXT);
      if (!this.#admits(t)) return undefined;
      if (Atomics.compareExchange(this.#i32, NEXT, t, (t + 1) | 0) === t) return this.#granted(startedAt ?? this.#clock.now());
    }
  }

  /** Wait in line (FIFO across threads) without blocking the thread. */
  async acquire(startedAt?: number): Promise<Release> {
    const start = startedAt ?? this.#clock.now();
    const ticket = Atomics.add(this.#i32, NEXT, 1);
    let keepAlive: ReturnType<typeof setInterval> | undefined;
    try {
      for (;;) {
        const epoch = Atomics.load(this.#i32, EPOCH);
        if (this.#admits(ticket)) return this.#granted(start);
        // A pending Atomics.waitAsync does not keep Node's event loop alive: without this a
        // worker with nothing else to do would exit while in line.
        keepAlive ??= setInterval(() => {}, 1 << 30);
        const w = waitAsync(this.#i32, EPOCH, epoch);
        if (w.async) await w.value;
      }
    } finally {
      if (keepAlive !== undefined) clearInterval(keepAlive);
    }
  }

  /**
   * Block the thread until admitted (for synchronous guest code in a worker). Throws TimeoutError
   * after `timeoutMs` only if the ticket is still not admitted; the ticket stays in line, so call
   * this only where giving up means the worker is being torn down.
   */
  acquireSync(startedAt?: number, timeoutMs = Infinity): Release {
    const start = startedAt ?? this.#clock.now();
    const ticket = Atomics.add(this.#i32, NEXT, 1);
    const until = Date.now() + timeoutMs;
    for (;;) {
      const epoch = Atomics.load(this.#i32, EPOCH);
      if (this.#admits(ticket)) return this.#granted(start);
      const left = until - Date.now();
      if (left <= 0) throw new TimeoutError('SharedSemaphore: not admitted in time', timeoutMs);
      Atomics.wait(this.#i32, EPOCH, epoch, Number.isFinite(left) ? left : undefined);
    }
  }

  async run<T>(fn: () => T | Promise<T>, startedAt?: number): Promise<T> {
    const release = await this.acquire(startedAt);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  /** Totals over every thread that used this semaphore. */
  totals(): SharedWaitTotals {
    const count = Number(Atomics.load(this.#big, COUNT));
    const sum = Number(Atomics.load(this.#big, SUM_US)) / 1000;
    return { count, totalWaitMs: sum, maxWaitMs: Number(Atomics.load(this.#big, MAX_US)) / 1000, meanWaitMs: count === 0 ? 0 : sum / count };
  }

  #admits(ticket: number): boolean {
    const released = Atomics.load(this.#i32, RELEASED);
    const permits = Atomics.load(this.#i32, PERMITS);
    // Wrap-safe: tickets and releases are 32-bit counters.
    return ((ticket - released - permits) | 0) < 0;
  }

  #granted(startedAt: number): Release {
    const now = this.#clock.now();
    const wait = Math.max(0, now - startedAt);
    const us = BigInt(Math.round(wait * 1000));
    Atomics.add(this.#big, COUNT, 1n);
    Atomics.add(this.#big, SUM_US, us);
    for (;;) {
      const m = Atomics.load(this.#big, MAX_US);
      if (us <= m || Atomics.compareExchange(this.#big, MAX_US, m, us) === m) break;
    }
    this.#stats?.record(now, wait);
    let released = false;
    return () => {
      if (released) return false;
      released = true;
      Atomics.add(this.#i32, RELEASED, 1);
      this.#bump();
      return true;
    };
  }

  #bump(): void {
    Atomics.add(this.#i32, EPOCH, 1);
    Atomics.notify(this.#i32, EPOCH);
  }
}

/** A FIFO lock shared by threads: a SharedSemaphore with one permit. */
export function createSharedQueueLock(options: SharedLockOptions): SharedSemaphore {
  return SharedSemaphore.create(1, options);
}

function checkPermits(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > 0x3fffffff) throw new ArgumentError('SharedSemaphore: permits must be an integer >= 1', 'permits');
}
