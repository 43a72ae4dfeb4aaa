// The simulator's event queue: a binary min-heap on typed arrays (time, packed kind+argument, aux),
// so millions of events cost no allocation. Ties in time pop in an unspecified but deterministic order.

export class EventHeap {
  #t: Float64Array;
  #code: Int32Array;
  #aux: Int32Array;
  #size = 0;
  /** The last popped event: time, kind (0..15), argument (0..2^27), aux. */
  time = 0;
  kind = 0;
  arg = 0;
  aux = 0;

  constructor(capacity = 1024) {
    this.#t = new Float64Array(capacity);
    this.#code = new Int32Array(capacity);
    this.#aux = new Int32Array(capacity);
  }

  get size(): number {
    return this.#size;
  }

  push(time: number, kind: number, arg: number, aux = 0): void {
    if (this.#size === this.#t.length) this.#grow();
    const code = kind | (arg << 4);
    const t = this.#t;
    const c = this.#code;
    const x = this.#aux;
    let i = this.#size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const tp = t[p] as number;
      if (tp <= time) break;
      t[i] = tp;
      c[i] = c[p] as number;
      x[i] = x[p] as number;
      i = p;
    }
    t[i] = time;
    c[i] = code;
    x[i] = aux;
  }

  /** Pop the earliest event into time/kind/arg/aux; false when empty. */
  pop(): boolean {
    if (this.#size === 0) return false;
    const t = this.#t;
    const c = this.#code;
    const x = this.#aux;
    this.time = t[0] as number;
    const code = c[0] as number;
    this.kind = code & 15;
    this.arg = code >>> 4;
    this.aux = x[0] as number;
    const n = --this.#size;
    if (n === 0) return true;
    const lt = t[n] as number;
    const lc = c[n] as number;
    const lx = x[n] as number;
    let i = 0;
    for (;;) {
      let k = 2 * i + 1;
      if (k >= n) break;
      if (k + 1 < n && (t[k + 1] as number) < (t[k] as number)) k++;
      if ((t[k] as number) >= lt) break;
      t[i] = t[k] as number;
      c[i] = c[k] as number;
      x[i] = x[k] as number;
      i = k;
    }
    t[i] = lt;
    c[i] = lc;
    x[i] = lx;
    return true;
  }

  peekTime(): number {
    return this.#size === 0 ? Infinity : (this.#t[0] as number);
  }

  #grow(): void {
    const cap = this.#t.length * 2;
    const t = new Float64Array(cap);
    const c = new Int32Array(cap);
    const x = new Int32Array(cap);
    t.set(this.#t);
    c.set(this.#code);
    x.set(this.#aux);
    this.#t = t;
    this.#code = c;
    this.#aux = x;
  }
}
