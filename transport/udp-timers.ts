// Retransmission timing for the UDP transport: one clock timer for all pending transfers,
// armed at the earliest due time (a binary heap). Acked transfers are not removed at once;
// their entries are skipped when they surface. A busy request stream costs no timer calls.

import type { Clock, TimerHandle } from '../runtime/index.ts';

interface Entry<T> {
  due: number;
  item: T;
}

export class RetransmitQueue<T> {
  #clock: Clock;
  #heap: Entry<T>[] = [];
  #timer: TimerHandle | undefined;
  #armedAt = Infinity;
  /** Whether an entry is still wanted (its transfer pending, and `due` its current due time). */
  #live: (item: T, due: number) => boolean;
  #fire: (item: T) => void;

  constructor(clock: Clock, live: (item: T, due: number) => boolean, fire: (item: T) => void) {
    this.#clock = clock;
    this.#live = live;
    this.#fire = fire;
  }

  /** Call `fire(item)` at `due` (clock ms) unless `live` says otherwise by then. */
  schedule(item: T, due: number): void {
    const h = this.#heap;
    const e = { due, item };
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((h[parent] as Entry<T>).due <= due) break;
      h[i] = h[parent] as Entry<T>;
      i = parent;
    }
    h[i] = e;
    if (due < this.#armedAt) this.#arm(due);
  }

  /** Entries held, stale ones included (for tests and stats). */
  get size(): number {
    return this.#heap.length;
  }

  /** Forget every entry (none is live any more) but keep the timer: re-arming costs more. */
  forgetAll(): void {
    this.#heap.length = 0;
  }

  clear(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedAt = Infinity;
    this.#heap = [];
  }

  #arm(due: number): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#armedAt = due;
    this.#timer = this.#clock.setTimeout(this.#onTimer, Math.max(0, due - this.#clock.now()));
  }

  #onTimer = (): void => {
    this.#timer = undefined;
    this.#armedAt = Infinity;
    const now = this.#clock.now();
    for (;;) {
      const top = this.#heap[0];
      if (top === undefined) return;
      if (!this.#live(top.item, top.due)) {
        this.#pop();
        continue;
      }
      if (top.due > now) break;
      this.#pop();
      this.#fire(top.item); // may schedule again
    }
    const next = this.#heap[0];
    if (next !== undefined && next.due < this.#armedAt) this.#arm(next.due);
  };

  #pop(): void {
    const h = this.#heap;
    const last = h.pop() as Entry<T>;
    if (h.length === 0) return;
    let i = 0;
    const n = h.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && (h[r] as Entry<T>).due < (h[l] as Entry<T>).due ? r : l;
      if ((h[c] as Entry<T>).due >= last.due) break;
      h[i] = h[c] as Entry<T>;
      i = c;
    }
    h[i] = last;
  }
}
