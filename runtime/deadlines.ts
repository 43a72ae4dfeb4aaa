// The Channel's deadline wheel: every pending request's deadline in one min-heap, served by one
// clock timer armed at the earliest due time, so a request costs no timer call of its own.
// Settled entries are not removed at once; they are skipped when they surface. Owns no policy.
// Idle (nothing pending), the timer stays armed but unref'd where the clock's handles allow it, so
// a request after a reply costs no timer call, and an idle wheel never holds the process open.
//
// An entry is a numeric key (a request id, a transfer number) with its due time and insertion
// order, kept in three parallel Float64Arrays (D118): adding one allocates nothing, and a
// settled entry waiting to surface holds no reference. An entry that held its request's record
// kept the record, its promise and its reply (or, for UDP, the envelope and its fragments) alive
// until it surfaced: 216 settled requests in a heap snapshot of bench mqtt's rig, 19.5 MB after
// 2,000 acknowledged 4 KB UDP sends while one transfer waited.

import type { Clock, TimerHandle } from './clock.ts';

/** Entries of the first arrays, made on the first add: 64 bytes each, which V8 keeps on its heap
 *  (no backing store to allocate). A Channel is made per portion on every session setup, and many
 *  never send a request. */
const INITIAL = 8;
/** An idle or stopped wheel keeps arrays of at most this many entries; larger ones are dropped. */
const KEEP = 4096;
const NONE = new Float64Array(0);

export class DeadlineWheel {
  #clock: Clock;
  #due = NONE;
  /** Insertion order: entries due at the same ms fire in the order they were added. */
  #seq = NONE;
  #key = NONE;
  #n = 0;
  #nextSeq = 0;
  #timer: TimerHandle | undefined;
  #armedAt = Infinity;
  /** The armed timer was unref'd by idle(): it no longer holds the process open. */
  #unrefd = false;
  #live: (key: number, due: number) => boolean;
  #fire: (key: number, now: number) => void;

  /**
   * `live(key, due)`: whether the entry is still wanted (its request pending with that due time).
   * `fire(key, now)`: the entry fell due; it may `add` again (a put-off verdict).
   */
  constructor(clock: Clock, live: (key: number, due: number) => boolean, fire: (key: number, now: number) => void) {
    this.#clock = clock;
    this.#live = live;
    this.#fire = fire;
  }

  /** Entries held, stale ones included (tests and stats). */
  get size(): number {
    return this.#n;
  }

  add(key: number, due: number): void {
    if (this.#n === this.#due.length) this.#grow();
    let i = this.#n++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!(due < (this.#due[p] as number))) break; // a tie stays below: every older entry's seq is smaller
      this.#copy(i, p);
      i = p;
    }
    this.#put(i, due, this.#nextSeq++, key);
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
    this.#empty();
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
    this.#empty();
  }

  /** Rebuild from live entries only (stale ones are settled requests): bounds the heap under a
   * stream whose pending set never empties. */
  compact(): void {
    let n = 0;
    for (let i = 0; i < this.#n; i++) if (this.#live(this.#key[i] as number, this.#due[i] as number)) this.#copy(n++, i);
    this.#n = n;
    for (let i = (n >> 1) - 1; i >= 0; i--) this.#siftDown(i);
  }

  #empty(): void {
    this.#n = 0;
    if (this.#due.length > KEEP) this.#alloc(INITIAL);
  }

  #grow(): void {
    const [d, s, k] = [this.#due, this.#seq, this.#key];
    this.#alloc(Math.max(INITIAL, d.length * 2));
    this.#due.set(d);
    this.#seq.set(s);
    this.#key.set(k);
  }

  #alloc(size: number): void {
    this.#due = new Float64Array(size);
    this.#seq = new Float64Array(size);
    this.#key = new Float64Array(size);
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
    while (this.#n > 0) {
      const key = this.#key[0] as number;
      const due = this.#due[0] as number;
      if (!this.#live(key, due)) {
        this.#pop();
        continue;
      }
      if (due > now) break;
      this.#pop();
      this.#fire(key, now); // may add again
    }
    if (this.#n > 0 && (this.#due[0] as number) < this.#armedAt) this.#arm(this.#due[0] as number);
  };

  #pop(): void {
    const last = --this.#n;
    if (last === 0) return;
    this.#copy(0, last);
    this.#siftDown(0);
  }

  /** Moves entry i down to its place among its descendants. */
  #siftDown(i: number): void {
    const d = this.#due;
    const s = this.#seq;
    const n = this.#n;
    const due = d[i] as number;
    const seq = s[i] as number;
    const key = this.#key[i] as number;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && ((d[r] as number) < (d[l] as number) || (d[r] === d[l] && (s[r] as number) < (s[l] as number))) ? r : l;
      if (!((d[c] as number) < due || (d[c] === due && (s[c] as number) < seq))) break;
      this.#copy(i, c);
      i = c;
    }
    this.#put(i, due, seq, key);
  }

  #copy(to: number, from: number): void {
    this.#put(to, this.#due[from] as number, this.#seq[from] as number, this.#key[from] as number);
  }

  #put(i: number, due: number, seq: number, key: number): void {
    this.#due[i] = due;
    this.#seq[i] = seq;
    this.#key[i] = key;
  }
}

/** A Node timer handle: ref/unref say whether it holds the process open. */
interface Refable {
  ref(): unknown;
  unref(): unknown;
}
