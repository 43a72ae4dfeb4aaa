// A portion thread's load report walks its instances in bounded batches [issue 19.6]. The report
// (every 500 ms) read each instance's channels and sandbox; with ~3,470 instances on a thread
// (18,000 light boxes on one node) that pass held the thread in one piece, and a full box's
// request to its portion waited behind it. Now a pass visits `batch` instances per turn and gives
// the thread back between batches (the worker defers with setImmediate, so envelopes that arrived
// meanwhile run first); the report goes out when the pass ends, with the values of that pass.

export interface LoadSweepOptions<T> {
  /** What to walk, read afresh at each pass (a live Map's values: one that stops meanwhile is skipped). */
  items: () => Iterable<T>;
  /** Instances visited per turn at most. */
  batch: number;
  visit: (item: T) => void;
  /** The pass is over: send the report. */
  done: () => void;
  /** Run `fn` in a later turn, after what waits now (setImmediate in the worker). */
  defer: (fn: () => void) => void;
  /** A visit or the report threw: the pass goes on (counted). */
  onError?: (err: unknown) => void;
}

export interface LoadSweepStats {
  passes: number;
  turns: number;
  /** The most instances one turn visited. */
  maxPerTurn: number;
  /** Starts asked while a pass still ran (the pass under way reports; no second one overlaps). */
  overlapped: number;
  errors: number;
}

export class LoadSweep<T> {
  readonly stats: LoadSweepStats = { passes: 0, turns: 0, maxPerTurn: 0, overlapped: 0, errors: 0 };
  readonly #o: LoadSweepOptions<T>;
  #running = false;

  constructor(o: LoadSweepOptions<T>) {
    if (!Number.isInteger(o.batch) || o.batch < 1) throw new RangeError('LoadSweep: batch must be an integer >= 1');
    this.#o = o;
  }

  get running(): boolean {
    return this.#running;
  }

  /** Begin a pass; false (counted) when one is still under way. */
  start(): boolean {
    if (this.#running) {
      this.stats.overlapped++;
      return false;
    }
    this.#running = true;
    this.#turn(this.#o.items()[Symbol.iterator]());
    return true;
  }

  #turn(it: Iterator<T>): void {
    this.stats.turns++;
    let n = 0;
    for (; n < this.#o.batch; n++) {
      const next = it.next();
      if (next.done === true) return this.#end(n);
      this.#guard(() => this.#o.visit(next.value));
    }
    this.stats.maxPerTurn = Math.max(this.stats.maxPerTurn, n);
    this.#o.defer(() => this.#turn(it));
  }

  #end(n: number): void {
    this.stats.maxPerTurn = Math.max(this.stats.maxPerTurn, n);
    this.stats.passes++;
    this.#running = false;
    this.#guard(() => this.#o.done());
  }

  #guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.stats.errors++;
      this.#o.onError?.(e);
    }
  }
}
