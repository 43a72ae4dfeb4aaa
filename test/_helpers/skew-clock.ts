// A clock for box tests whose sandbox needs real time to run guest code but whose long waits
// (probation, grace) must pass only when the test says: now() is the wall clock plus a skew that
// advance() adds to; timers fire when either moves past their deadline. No assertions here.
import type { Clock, TimerHandle } from '../../runtime/index.ts';

export class SkewClock implements Clock {
  #skew = 0;
  #seq = 0;
  #timers = new Map<number, { at: number; fn: () => void }>();
  #tick: ReturnType<typeof setInterval>;

  constructor() {
    this.#tick = setInterval(() => this.#fire(), 2);
    this.#tick.unref();
  }

  now(): number {
    return Date.now() + this.#skew;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.#seq;
    this.#timers.set(id, { at: this.now() + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle as number);
  }

  /** Move time forward by `ms` at once; timers now due fire in deadline order. */
  advance(ms: number): void {
    this.#skew += ms;
    this.#fire();
  }

  close(): void {
    clearInterval(this.#tick);
    this.#timers.clear();
  }

  #fire(): void {
    const now = this.now();
    const due = [...this.#timers.entries()].filter(([, t]) => t.at <= now).sort((a, b) => a[1].at - b[1].at);
    for (const [id, t] of due) {
      if (!this.#timers.delete(id)) continue;
      t.fn();
    }
  }
}
