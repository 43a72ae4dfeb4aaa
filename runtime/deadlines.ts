// The Channel's deadline wheel: every pending request's deadline in one min-heap, served by one
// clock timer armed at the earliest due time, so a request costs no timer call of its own.
// Settled entries are not removed at once; they are skipped when they surface. Owns no policy.
// Idle (nothing pending), the timer stays armed but unref'd where the clock's handles allow it, so
// a request after a reply costs no timer call, and an idle wheel never holds a process open.

import type { Clock, TimerHandle } from './clock.ts';

interface Entry<T> {
  due: number;
  /** Insertion order: entries due at the same ms fire in the order they were added. */
  seq: number;
  item: T;
}

export class DeadlineWheel<T> {
  #clock: Clock;
  #heap: Entry<T>[] = [];
  #seq = 0;
  #timer: TimerHandle | undefined;
  #armedAt = Infinity;
  /** The armed timer was unref'd by idle(): it no longer holds the process open. */
  #unrefd = false;
  #live: (item: T, due: number) => boolean;
  #fire: (item: T, now: number) => void;

  /**
   * `live(item, due)`: whether the entry is still wanted (its request pending with that due time).
   * `fire(item, now)`: the entry fell due; it may `add` again (a put-off verdict).
   */
  constructor(clock: Clock, live: (item: T, due: number) => boolean, fire: (item: T, now: number) => void) {
    this.#clock = clock;
    this.#live = live;
    this.#fire = fire;
  }

  /** Entries held, stale ones included (tests and stats). */
  get size(): number {
    return this.#heap.length;
  }

  add(item: T, due: number): void {
    const h = this.#heap;
    const e: Entry<T> = { due, seq: this.#seq++, item };
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(e, h[parent] as Entry<T>)) break;
      h[i] = h[parent] as Entry<T>;
      i = parent;
    }
    h[i] = e;
    if (due < this.#armedAt) this.#arm(due);
    else if (this.#unrefd) {
      this.#unrefd = false;
      (this.#timer as Refable).ref();
    }
  }

  /**
   * Nothing is pending: drop every entry. A Node timer stays armed, unref'd (it fires at most once
   * more, finding nothing, and never holds the process open); a clock whose handles cannot be
   * unref'd (ManualClock) has its timer cleared, as by stop(). `hold`: an owner that holds the
   * process open anyway (a socket) keeps the timer ref'd, saving the ref/unref per request.
   */
  idle(hold = false): void {
    const t = this.#timer as Partial<Refable> | undefined;
    if (t?.unref === undefined) return this.stop();
    // A ping-pong holds one entry here: pop it (a `length = 0` store is a runtime call).
    if (this.#heap.pop() !== undefined && this.#heap.length > 0) this.#heap = [];
    if (hold) return;
    t.unref();
    this.#unrefd = true;
  }

  /** Drop every entry and the timer (nothing pending, or the owner closed). */
  stop(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedAt = Infinity;
    this.#unrefd = false;
    this.#heap = [];
  }

  /** Rebuild from live entries only (stale ones are settled requests): bounds the heap under a
   * stream whose pending set never empties. */
  compact(): void {
    const kept = this.#heap.filter((e) => this.#live(e.item, e.due));
    kept.sort((a, b) => (before(a, b) ? -1 : 1));
    this.#heap = kept; // a sorted array is a valid min-heap
  }

  #arm(due: number): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#armedAt = due;
    this.#unrefd = false;
    this.#timer = this.#clock.setTimeout(this.#onTimer, Math.max(0, due - this.#clock.now()));
  }

  #onTimer = (): void => {
    this.#timer = undefined;
    this.#armedAt = Infinity;
    this.#unrefd = false;
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
      this.#fire(top.item, now); // may add again
    }
    const next = this.#heap[0];
    if (next !== undefined && next.due < this.#armedAt) this.#arm(next.due);
  };

  #pop(): void {
    const h = this.#heap;
    const last = h.pop() as Entry<T>;
    if (h.length === 0) return;
    const n = h.length;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && before(h[r] as Entry<T>, h[l] as Entry<T>) ? r : l;
      if (!before(h[c] as Entry<T>, last)) break;
      h[i] = h[c] as Entry<T>;
      i = c;
    }
    h[i] = last;
  }
}

/** A Node timer handle: ref/unref say whether it holds the process open. */
interface Refable {
  ref(): unknown;
  unref(): unknown;
}

function before<T>(a: Entry<T>, b: Entry<T>): boolean {
  return a.due < b.due || (a.due === b.due && a.seq < b.seq);
}
