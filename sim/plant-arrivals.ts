// Session arrivals and activity in the simulator: a Poisson process whose rate follows the
// diurnal curve and a flash crowd (by thinning), the app of each new session, and each app's
// current activity and per-session cost. Draws only from the generator it is given.

import type { SeededRandom } from '../policy/index.ts';
import { diurnalFactor, peakSessionRate, sessionCost, type AppSpec, type Scenario } from './scenario.ts';

export class Arrivals {
  readonly #sc: Scenario;
  readonly #rng: SeededRandom;
  readonly #shares: number[];
  readonly #flashApp: number;
  readonly #peak: number;
  readonly #max: number;

  constructor(sc: Scenario, rng: SeededRandom) {
    this.#sc = sc;
    this.#rng = rng;
    const sum = sc.apps.reduce((a, x) => a + x.share, 0);
    this.#shares = sc.apps.map((a) => a.share / sum);
    this.#flashApp = sc.flash === null ? -1 : sc.apps.findIndex((a) => a.name === sc.flash?.app);
    this.#peak = peakSessionRate(sc);
    this.#max = this.#peak * (sc.flash === null ? 1 : 1 + (this.#shares[this.#flashApp] as number) * (sc.flash.arrivalX - 1));
  }

  /** Time to the next candidate arrival (at the maximum rate; `accept` thins). */
  gap(): number {
    return this.#rng.exp(1 / this.#max);
  }

  inFlash(t: number): boolean {
    const f = this.#sc.flash;
    return f !== null && t >= f.atMs && t < f.atMs + f.durationMs;
  }

  /** How much faster than usual sessions of app `a` send requests at t. */
  activity(a: number, t: number): number {
    return a === this.#flashApp && this.inFlash(t) ? (this.#sc.flash as { activityX: number }).activityX : 1;
  }

  /** Demand of one session of app `a` at t, in workers. */
  cost(a: number, t: number): number {
    return sessionCost(this.#sc.apps[a] as AppSpec, this.activity(a, t));
  }

  /** Thinning: is the candidate at t a session, and of which app? -1 if not. */
  accept(t: number): number {
    const fl = this.inFlash(t) ? (this.#sc.flash as { arrivalX: number }).arrivalX : 1;
    const boost = this.#flashApp < 0 ? 0 : (this.#shares[this.#flashApp] as number) * (fl - 1);
    const rate = this.#peak * diurnalFactor(t, this.#sc.diurnal) * (1 + boost);
    if (this.#rng.next() * this.#max >= rate) return -1;
    let u = this.#rng.next() * (1 + boost);
    const n = this.#shares.length;
    let a = 0;
    for (; a < n - 1; a++) {
      const w = (this.#shares[a] as number) * (a === this.#flashApp ? fl : 1);
      if (u < w) break;
      u -= w;
    }
    return a;
  }
}
