// How many warm runtimes one app build should hold (issue 19, the warm pool at rate): a fixed two
// per build ran dry under 100+ setups/s, so the count follows the rate its takes arrive at.
// Pure: the caller passes its clock's readings; no timers.

/** Takes per second of one build, counted in fixed windows; an idle window halves the estimate. */
export class TakeRate {
  readonly #windowMs: number;
  #start: number;
  #count = 0;
  #rate = 0;

  constructor(now: number, windowMs = 1000) {
    this.#start = now;
    this.#windowMs = windowMs;
  }

  /** A take (a hit or a miss) at `now`, ms. */
  take(now: number): void {
    this.#roll(now);
    this.#count++;
  }

  /** The rate, per second: the last full window's, or the current one's once it is already higher. */
  perSec(now: number): number {
    this.#roll(now);
    return Math.max(this.#rate, (this.#count * 1000) / this.#windowMs);
  }

  #roll(now: number): void {
    if (now < this.#start) this.#start = now; // a clock that went back: start the window again
    const windows = Math.floor((now - this.#start) / this.#windowMs);
    if (windows < 1) return;
    const last = (this.#count * 1000) / this.#windowMs;
    // A busy window sets the rate; each window past it without takes halves what is kept.
    this.#rate = windows > 30 ? 0 : Math.max(last, this.#rate / 2) / 2 ** (windows - 1);
    this.#count = 0;
    this.#start += windows * this.#windowMs;
  }
}

/**
 * Warm runtimes to hold for a build taken at `perSec`: enough for `horizonMs` of takes (the time a
 * busy worker may go without a turn to refill), never under `min` nor over `max`.
 */
export function warmTarget(perSec: number, horizonMs: number, min: number, max: number): number {
  if (max <= 0) return 0;
  return Math.min(max, Math.max(min, Math.ceil((perSec * horizonMs) / 1000)));
}
