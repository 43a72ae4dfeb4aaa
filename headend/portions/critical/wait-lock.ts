// Wait-and-lock for critical portions of a server portion [c20-c23, c28, c29], within one thread:
// a FIFO queue lock and a counting semaphore (FIFO, no barging). Each acquisition's wait is
// measured from the request's start [c24] on an injected clock and fed to WaitStats and a hook.

import { ArgumentError, TimeoutError, rejectUnknown, type Clock, type TimerHandle } from '../../../runtime/index.ts';
import { WaitStats, type WaitSnapshot } from './wait-stats.ts';

/** Gives the permit back. Idempotent: a second call does nothing and returns false. */
export type Release = () => boolean;

export interface AcquireOptions {
  /** When the request started (ms, the lock's clock); the wait is measured from here [c24]. Default now. */
  startedAt?: number;
  /** Give up at this time (ms): the promise rejects with TimeoutError and the place in line is dropped. */
  deadline?: number;
}

export interface WaitLockOptions {
  clock: Clock;
  /** Where waits go; one is made if absent. */
  stats?: WaitStats;
  /**
   * Called at each acquisition with the wait since the request's start and the part of it spent
   * queued on this lock (the rest was spent before: waiting for a worker, earlier steps). The
   * thread controller reads the split to tell "more threads help" from "the lock is the limit".
   */
  onAcquire?: (waitMs: number, lockWaitMs: number, at: number) => void;
  /** For messages. */
  name?: string;
}

interface Waiter {
  startedAt: number;
  queuedAt: number;
  resolve: (r: Release) => void;
  reject: (e: Error) => void;
  timer: TimerHandle | undefined;
  gone: boolean;
}

/** The shared mechanism; use QueueLock or Semaphore. */
export class WaitLock {
  readonly kind: 'queue' | 'semaphore';
  readonly name: string;
  readonly stats: WaitStats;
  readonly #clock: Clock;
  readonly #onAcquire: WaitLockOptions['onAcquire'];
  #permits: number;
  #held = 0;
  #queue: Waiter[] = [];
  #head = 0;
  #waiting = 0;
  #fullSince: number | undefined;
  #fullMs = 0;

  protected constructor(kind: 'queue' | 'semaphore', permits: number, options: WaitLockOptions) {
    rejectUnknown(kind === 'queue' ? 'QueueLock' : 'Semaphore', options, ['clock', 'stats', 'onAcquire', 'name']);
    if (options === undefined || typeof options.clock?.now !== 'function') throw new ArgumentError('a clock is required', 'clock');
    this.kind = kind;
    this.#permits = permits;
    this.#clock = options.clock;
    this.stats = options.stats ?? new WaitStats();
    this.#onAcquire = options.onAcquire;
    this.name = options.name ?? kind;
  }

  get permits(): number {
    return this.#permits;
  }
  /** Permits held now. */
  get held(): number {
    return this.#held;
  }
  /** Requests in line. */
  get waiting(): number {
    return this.#waiting;
  }
  /**
   * Total time (ms, this lock's clock) during which every permit was held. The difference
   * between two readings over the time between them is the lock's busy fraction: near 1 the
   * critical section itself is the limit and more threads would not help (PoolState.lockBusy).
   */
  saturatedMs(): number {
    return this.#fullMs + (this.#fullSince === undefined ? 0 : this.#clock.now() - this.#fullSince);
  }

  /** Start time of the oldest request in line (for the thread controller), or undefined. */
  oldestStartedAt(): number | undefined {
    for (let i = this.#head; i < this.#queue.length; i++) {
      const w = this.#queue[i] as Waiter;
      if (!w.gone) return w.startedAt;
    }
    return undefined;
  }

  /** Take a permit now if one is free and nobody is in line; else undefined. */
  tryAcquire(startedAt?: number): Release | undefined {
    if (this.#waiting > 0 || this.#held >= this.#permits) return undefined;
    const now = this.#clock.now();
    return this.#grant(startedAt ?? now, now, now);
  }

  /** Wait in line for a permit (FIFO). Rejects with TimeoutError at `deadline`. */
  acquire(options: AcquireOptions = {}): Promise<Release> {
    const now = this.#clock.now();
    const startedAt = options.startedAt ?? now;
    const quick = this.tryAcquire(startedAt);
    if (quick !== undefined) return Promise.resolve(quick);
    const deadline = options.deadline;
    if (deadline !== undefined && deadline <= now) return Promise.reject(this.#timeout(startedAt, now));
    return new Promise<Release>((resolve, reject) => {
      const w: Waiter = { startedAt, queuedAt: now, resolve, reject, timer: undefined, gone: false };
      if (deadline !== undefined) {
        w.timer = this.#clock.setTimeout(() => {
          if (w.gone) return;
          w.gone = true;
          this.#waiting--;
          reject(this.#timeout(startedAt, this.#clock.now()));
        }, deadline - now);
      }
      this.#queue.push(w);
      this.#waiting++;
    });
  }

  /** Run `fn` holding a permit; the permit is given back however `fn` ends. */
  async run<T>(fn: () => T | Promise<T>, options?: AcquireOptions): Promise<T> {
    const release = await this.acquire(options);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  snapshot(): WaitSnapshot {
    return this.stats.snapshot(this.#clock.now());
  }

  protected setPermitsInternal(n: number): void {
    this.#permits = n;
    this.#drain();
    this.#checkFull();
  }

  #checkFull(): void {
    const now = this.#clock.now();
    if (this.#held >= this.#permits) this.#fullSince ??= now;
    else if (this.#fullSince !== undefined) {
      this.#fullMs += now - this.#fullSince;
      this.#fullSince = undefined;
    }
  }

  #timeout(startedAt: number, now: number): TimeoutError {
    return new TimeoutError(`${this.name}: no permit before the deadline`, now - startedAt);
  }

  #grant(startedAt: number, queuedAt: number, now: number): Release {
    this.#held++;
    if (this.#held >= this.#permits && this.#fullSince === undefined) this.#fullSince = now;
    const wait = now - startedAt;
    this.stats.record(now, wait);
    this.#onAcquire?.(wait, now - queuedAt, now);
    let released = false;
    return () => {
      if (released) return false;
      released = true;
      this.#held--;
      this.#drain();
      this.#checkFull();
      return true;
    };
  }

  #drain(): void {
    while (this.#held < this.#permits && this.#waiting > 0) {
      const w = this.#queue[this.#head++] as Waiter;
      if (w.gone) continue;
      w.gone = true;
      this.#waiting--;
      if (w.timer !== undefined) this.#clock.clearTimeout(w.timer);
      w.resolve(this.#grant(w.startedAt, w.queuedAt, this.#clock.now()));
    }
    // Drop the consumed prefix now and then so the line does not grow without bound.
    if (this.#head > 64 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    if (this.#waiting === 0 && this.#head === this.#queue.length) {
      this.#queue.length = 0;
      this.#head = 0;
    }
  }
}

/** A FIFO queue lock [c22, c29]: one holder, requests served in arrival order. */
export class QueueLock extends WaitLock {
  constructor(options: WaitLockOptions) {
    super('queue', 1, options);
  }
}

/** A counting semaphore [c23]: up to `permits` holders, FIFO, resizable (e.g. a connection pool). */
export class Semaphore extends WaitLock {
  constructor(permits: number, options: WaitLockOptions) {
    if (!Number.isInteger(permits) || permits < 1) throw new ArgumentError('Semaphore: permits must be an integer >= 1', 'permits');
    super('semaphore', permits, options);
  }

  /** Change the number of permits; holders above a lowered count keep theirs until they release. */
  setPermits(n: number): void {
    if (!Number.isInteger(n) || n < 1) throw new ArgumentError('Semaphore.setPermits: permits must be an integer >= 1', 'permits');
    this.setPermitsInternal(n);
  }
}
