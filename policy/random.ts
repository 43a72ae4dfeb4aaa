// Seeded randomness for policies, tests and the simulator: a small counter-based generator
// (sfc32) and a stateless hash to [0,1) for common random numbers across simulated policies.
// Owns no global state; every generator is an object the caller holds.

/** sfc32 (Chris Doty-Humphrey's small fast counting generator), seeded from one integer. */
export class SeededRandom {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed: number) {
    this.#a = 0x9e3779b9;
    this.#b = 0x243f6a88;
    this.#c = 0xb7e15162;
    this.#d = seed | 0;
    for (let i = 0; i < 15; i++) this.next();
  }

  /** Uniform in [0, 1). */
  next(): number {
    const a = this.#a;
    const b = this.#b;
    const c = this.#c;
    const d = this.#d;
    const t = (((a + b) | 0) + d) | 0;
    this.#d = (d + 1) | 0;
    this.#a = b ^ (b >>> 9);
    this.#b = (c + (c << 3)) | 0;
    const r = (c << 21) | (c >>> 11);
    this.#c = (r + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Exponential with the given mean. */
  exp(mean: number): number {
    return -mean * Math.log(1 - this.next());
  }

  /** A bound `() => number` for APIs that take a Uniform. */
  uniform(): () => number {
    return () => this.next();
  }
}

/** Stateless hash of three integers to [0, 1): the same inputs give the same number in every run. */
export function hash01(a: number, b: number, salt: number): number {
  let h = Math.imul(a ^ 0x5bd1e995, 0xcc9e2d51) ^ Math.imul(b + 0x27d4eb2f, 0x1b873593) ^ Math.imul(salt, 0x85ebca6b);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  // Mix once more with a so that (a, b) and (b, a) differ strongly.
  h = Math.imul(h ^ a, 0x9e3779b1);
  h ^= h >>> 15;
  return (h >>> 0) / 4294967296;
}
