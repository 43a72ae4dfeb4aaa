// A clock whose timers fire late, as after a stall of the process's event loop (a busy machine):
// `stall` moves time without running timers; `fire` runs the due ones with the clock left where
// it is. Deadline code must tell such a late timer from a dead peer (issue 13.4, issue 14).

import type { Clock, TimerHandle } from '../../runtime/index.ts';

export class StallClock implements Clock {
  #now: number;
  #seq = 0;
  #timers = new Map<number, { at: number; fn: () => void }>();
  constructor(now = Date.now()) {
    this.#now = now;
  }
  now(): number {
    return this.#now;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.#seq;
    this.#timers.set(id, { at: this.#now + ms, fn });
    return id as unknown as TimerHandle;
  }
  clearTimeout(h: TimerHandle): void {
    this.#timers.delete(h as unknown as number);
  }
  stall(ms: number): void {
    this.#now += ms;
  }
  /** Run every timer due by now, in due order (those they set included), leaving the clock where it is. */
  fire(): void {
    for (;;) {
      const due = [...this.#timers].filter(([, t]) => t.at <= this.#now).sort((a, b) => a[1].at - b[1].at)[0];
      if (due === undefined) return;
      this.#timers.delete(due[0]);
      due[1].fn();
    }
  }
  get pending(): number {
    return this.#timers.size;
  }
}
