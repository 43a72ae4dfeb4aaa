// Worker side of a critical module [c20-c24, c28, c29]: one instance serves one request of the
// module at a time (the instance is one thread of the portion), inside the node's wait-and-lock
// that every instance on the node shares. Waits count from the request's arrival on the node [c24].

import { QueueLock, SharedSemaphore, WaitStats, type WaitSnapshot } from './critical/index.ts';
import { PROBE, threadClock, threadNow, type CriticalSpec } from './portion-protocol.ts';

const us = (ms: number): bigint => BigInt(Math.max(0, Math.round(ms * 1000)));

export class CriticalGuard {
  readonly stats = new WaitStats();
  readonly #line = new QueueLock({ clock: threadClock, name: 'instance line' });
  readonly #lock: SharedSemaphore;
  readonly #probe: BigInt64Array;
  /** Arrival stamps of the requests not yet admitted, in arrival order (both lines are FIFO). */
  #waiting: number[] = [];
  #head = 0;
  /** Guest time (ms) spent in the synchronous part of handlers, for the thread's busy report. */
  cpuMs = 0;

  constructor(spec: CriticalSpec) {
    this.#lock = SharedSemaphore.attach(spec.lock, { clock: threadClock, stats: this.stats });
    this.#probe = new BigInt64Array(spec.probe);
  }

  /** Run `fn` (the module's handler for one envelope) in turn and holding the lock. */
  async run<T>(startedAt: number, fn: () => T | Promise<T>): Promise<T> {
    this.#waiting.push(startedAt);
    if (this.#waiting.length - this.#head === 1) this.#setOldest();
    const leaveLine = await this.#line.acquire({ startedAt });
    const took = threadNow();
    const release = await this.#lock.acquire(startedAt);
    const admitted = threadNow();
    this.#head++;
    this.#setOldest();
    try {
      const out = fn();
      this.cpuMs += threadNow() - admitted;
      return await out;
    } finally {
      release();
      leaveLine();
      const done = threadNow();
      Atomics.add(this.#probe, PROBE.BUSY_US, us(done - took));
      Atomics.add(this.#probe, PROBE.HELD_US, us(done - admitted));
      Atomics.add(this.#probe, PROBE.DONE, 1n);
    }
  }

  snapshot(): WaitSnapshot {
    return this.stats.snapshot(threadNow());
  }

  // The node's controller reads the oldest waiting request's start: a wait not yet over is at least its age.
  #setOldest(): void {
    if (this.#head === this.#waiting.length) {
      this.#waiting = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#waiting.length) {
      this.#waiting = this.#waiting.slice(this.#head);
      this.#head = 0;
    }
    const oldest = this.#waiting[this.#head];
    Atomics.store(this.#probe, PROBE.OLDEST_US, oldest === undefined ? 0n : us(oldest));
  }
}
