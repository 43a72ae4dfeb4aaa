// The simulator's tables: one slot per live session in parallel typed arrays (reused
// through a free list, doubled when full) and one FIFO line per node. Storage only; plant-run.ts acts.

export const THINKING = 0;
export const QUEUED = 1;
export const IN_SERVICE = 2;
/** Its request was lost in a failed node; a retry is scheduled. */
export const LOST = 3;

export class SessionTable {
  capacity: number;
  /** Serial number of the session in the trace (the hash key of its random numbers). */
  serial: Int32Array;
  app: Uint8Array;
  balancer: Uint8Array;
  /** Node its portion runs on (-1: none). */
  home: Int32Array;
  /** Node serving its current request. */
  cur: Int32Array;
  /** Requests left, and the index of the current one. */
  left: Int32Array;
  j: Int32Array;
  /** Bumped whenever pending events for the session become void. */
  gen: Int32Array;
  state: Uint8Array;
  /** When the box sent the current request: sojourn is measured from here. */
  start: Float64Array;
  /** When the serving node received it: the node's wait is measured from here [c24]. */
  arrived: Float64Array;
  /** Slots ever handed out (live or free). */
  used = 0;
  #free: number[] = [];

  constructor(capacity = 1 << 15) {
    this.capacity = capacity;
    this.serial = new Int32Array(capacity);
    this.app = new Uint8Array(capacity);
    this.balancer = new Uint8Array(capacity);
    this.home = new Int32Array(capacity);
    this.cur = new Int32Array(capacity);
    this.left = new Int32Array(capacity);
    this.j = new Int32Array(capacity);
    this.gen = new Int32Array(capacity);
    this.state = new Uint8Array(capacity);
    this.start = new Float64Array(capacity);
    this.arrived = new Float64Array(capacity);
  }

  alloc(): number {
    const s = this.#free.pop();
    if (s !== undefined) return s;
    if (this.used === this.capacity) this.#grow();
    return this.used++;
  }

  /** Return a slot; its pending events are voided by the generation bump. */
  release(s: number): void {
    this.gen[s] = (this.gen[s] as number) + 1;
    this.home[s] = -1;
    this.#free.push(s);
  }

  #grow(): void {
    const n = this.capacity * 2;
    const g = <T extends Int32Array | Uint8Array | Float64Array>(a: T, C: new (n: number) => T): T => {
      const b = new C(n);
      b.set(a);
      return b;
    };
    this.serial = g(this.serial, Int32Array);
    this.app = g(this.app, Uint8Array);
    this.balancer = g(this.balancer, Uint8Array);
    this.home = g(this.home, Int32Array);
    this.cur = g(this.cur, Int32Array);
    this.left = g(this.left, Int32Array);
    this.j = g(this.j, Int32Array);
    this.gen = g(this.gen, Int32Array);
    this.state = g(this.state, Uint8Array);
    this.start = g(this.start, Float64Array);
    this.arrived = g(this.arrived, Float64Array);
    this.capacity = n;
  }
}

/** One FIFO line of session slots per node: growable rings, no allocation per request. */
export class NodeQueues {
  #buf: Int32Array[];
  readonly #head: Int32Array;
  readonly #len: Int32Array;

  constructor(nodes: number) {
    this.#buf = Array.from({ length: nodes }, () => new Int32Array(256));
    this.#head = new Int32Array(nodes);
    this.#len = new Int32Array(nodes);
  }

  length(node: number): number {
    return this.#len[node] as number;
  }

  push(node: number, s: number): void {
    let q = this.#buf[node] as Int32Array;
    const len = this.#len[node] as number;
    const head = this.#head[node] as number;
    if (len === q.length) {
      const q2 = new Int32Array(q.length * 2);
      for (let k = 0; k < len; k++) q2[k] = q[(head + k) % q.length] as number;
      this.#buf[node] = q2;
      this.#head[node] = 0;
      q = q2;
    }
    q[((this.#head[node] as number) + len) % q.length] = s;
    this.#len[node] = len + 1;
  }

  /** The first in line, removed; -1 if none. */
  shift(node: number): number {
    const len = this.#len[node] as number;
    if (len === 0) return -1;
    const q = this.#buf[node] as Int32Array;
    const head = this.#head[node] as number;
    this.#head[node] = (head + 1) % q.length;
    this.#len[node] = len - 1;
    return q[head] as number;
  }

  clear(node: number): void {
    this.#len[node] = 0;
  }
}
