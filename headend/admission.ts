// [issue 19.6] Admission of session opens. Past its setup capacity a node that queues an open
// works on it until the box's deadline passes, the box retries, and retries amplify the load
// (bench -- scale, PERFORMANCE "Scale", wave 4). So a node past capacity answers at once with
// QUOTA (data.quota 'setups') and a retry hint from its queue and its measured setup rate.
// Owns no timer and no socket: time from the injected clock; the session manager calls it.

import { ArgumentError, Codes, RemoteError, type Clock, fail, nonNegative, ok, positiveInt, rejectUnknown, type Result } from '../runtime/index.ts';

export interface AdmissionOptions {
  /** Setups in flight at most, whatever is measured: the ceiling, a bound on what opens in flight hold. Default 1024 (2 s of a quiet node's ~500 setups/s; on a slower node the measured age refuses first). */
  maxInFlight?: number;
  /** Past capacity only when this many setups in flight have each waited too long (below): one slow or stuck open is not a queue. Default 8. */
  minInFlight?: number;
  /** Too long: more than this share of the new open's time left. Default 0.5. */
  ageShare?: number;
  /** Time left of an open that carries no deadline, ms. Default 5000 (the box's session.open deadline). */
  budgetMs?: number;
  /** The retry hint's ceiling, ms: a refused box is told to come back within it. Default 30000. */
  maxRetryMs?: number;
}

export type ResolvedAdmission = Required<AdmissionOptions>;

export const DEFAULT_ADMISSION: ResolvedAdmission = { maxInFlight: 1024, minInFlight: 8, ageShare: 0.5, budgetMs: 5000, maxRetryMs: 30_000 };

const KEYS = Object.keys(DEFAULT_ADMISSION);
const W = 'HeadendNode quotas.setups';
/** The retry hint's floor, ms: less is a busy loop of refusals. */
const MIN_RETRY_MS = 100;
/** A setup in flight longer than this is no longer counted (an open another node answers never settles here). */
const STALE_MS = 60_000;
/** Completions remembered for the setup rate (a bounded ring), and the window they are read over. */
const RING = 128;
const RATE_WINDOW_MS = 10_000;

/** Validate the admission options and fill the defaults; throws ArgumentError naming the bad one. */
export function resolveAdmission(o: AdmissionOptions | undefined): ResolvedAdmission {
  if (o === undefined) return DEFAULT_ADMISSION;
  rejectUnknown(W, o, KEYS);
  const d = DEFAULT_ADMISSION;
  const r: ResolvedAdmission = {
    maxInFlight: positiveInt(W, 'maxInFlight', o.maxInFlight ?? d.maxInFlight, 1_000_000),
    minInFlight: positiveInt(W, 'minInFlight', o.minInFlight ?? d.minInFlight, 1_000_000),
    ageShare: nonNegative(W, 'ageShare', o.ageShare ?? d.ageShare),
    budgetMs: positiveInt(W, 'budgetMs', o.budgetMs ?? d.budgetMs, 600_000),
    maxRetryMs: positiveInt(W, 'maxRetryMs', o.maxRetryMs ?? d.maxRetryMs, 600_000),
  };
  if (r.ageShare <= 0 || r.ageShare > 1) throw new ArgumentError(`${W}: ageShare must be in (0, 1], got ${r.ageShare}`, 'ageShare');
  if (r.minInFlight > r.maxInFlight) throw new ArgumentError(`${W}: minInFlight (${r.minInFlight}) is more than maxInFlight (${r.maxInFlight})`, 'minInFlight');
  if (r.maxRetryMs < MIN_RETRY_MS) throw new ArgumentError(`${W}: maxRetryMs must be at least ${MIN_RETRY_MS}`, 'maxRetryMs');
  return r;
}

export interface AdmissionStats {
  /** Opens let in. */
  admitted: number;
  /** Opens answered QUOTA because minInFlight setups in flight waited past their share of the deadline. */
  refusedBehind: number;
  /** Opens answered QUOTA at the ceiling (maxInFlight). */
  refusedCeiling: number;
  /** Setups in flight dropped from the count after STALE_MS (they never settled here). */
  stale: number;
  /** Setups in flight now. */
  inFlight: number;
  /** Setups completed per second over the last window (0 before the first). */
  ratePerS: number;
}

/** Why an open was refused, and when to come back: the body of QUOTA's `data`. */
export interface SetupsRefusal {
  quota: 'setups';
  /** The setups in flight the node refused at: its ceiling, or what it held when it fell behind. */
  limit: number;
  /** Come back after this long, ms (bounded by maxRetryMs; a box caps it again). */
  retryAfterMs: number;
}

export class Admission {
  readonly #clock: Clock;
  readonly #o: ResolvedAdmission;
  /** ticket -> start time; insertion order, so the first entry is the oldest. */
  readonly #inFlight = new Map<number, number>();
  #ticket = 0;
  /** Completion times, a ring of RING. */
  readonly #done: number[] = [];
  #next = 0;
  /** When the next refused box is told to come back: refusals are spaced at the measured rate, not sent back as a herd. */
  #slot = 0;
  readonly #stats = { admitted: 0, refusedBehind: 0, refusedCeiling: 0, stale: 0 };

  constructor(clock: Clock, options?: AdmissionOptions) {
    this.#clock = clock;
    this.#o = resolveAdmission(options);
  }

  get stats(): AdmissionStats {
    return { ...this.#stats, inFlight: this.#inFlight.size, ratePerS: this.#rate(this.#clock.now()) * 1000 };
  }

  /**
   * Let an open in (the value: call it once when the open settles) or refuse it with QUOTA.
   * `deadline`: the request's, on the node's clock; absent, `budgetMs` from now.
   */
  admit(deadline: number | undefined): Result<() => void, RemoteError> {
    const now = this.#clock.now();
    this.#expire(now);
    const n = this.#inFlight.size;
    if (n >= this.#o.maxInFlight) return this.#refuse(now, 'ceiling');
    const left = deadline === undefined ? this.#o.budgetMs : Math.max(0, deadline - now);
    if (this.#waitedLonger(now - this.#o.ageShare * left) >= this.#o.minInFlight) return this.#refuse(now, 'behind');
    const t = ++this.#ticket;
    this.#inFlight.set(t, now);
    this.#stats.admitted++;
    let settled = false;
    return ok(() => {
      if (settled) return;
      settled = true;
      if (this.#inFlight.delete(t)) this.#completed(this.#clock.now());
    });
  }

  /** `open` when let in (its settling frees the place), else QUOTA at once: the session manager's one-line hook. */
  run<T>(deadline: number | undefined, open: () => Promise<T>): Promise<T> {
    const a = this.admit(deadline);
    if (!a.ok) return Promise.reject(a.error);
    return open().finally(a.value);
  }

  #refuse(now: number, why: 'behind' | 'ceiling'): Result<() => void, RemoteError> {
    if (why === 'behind') this.#stats.refusedBehind++;
    else this.#stats.refusedCeiling++;
    const n = this.#inFlight.size;
    const retryAfterMs = this.#hint(now, n);
    const data: SetupsRefusal = { quota: 'setups', limit: why === 'ceiling' ? this.#o.maxInFlight : n, retryAfterMs };
    const what = why === 'ceiling' ? `its ceiling of ${this.#o.maxInFlight}` : 'more than its setups finish within the deadline';
    return fail(new RemoteError(Codes.QUOTA, `this node has ${n} session setups in flight, ${what}: retry in ${retryAfterMs} ms`, data));
  }

  // The time the setups in flight take to drain at the measured rate (or, unmeasured, as long as
  // the oldest has waited), then one slot per refusal at that rate, so refused boxes return spread.
  #hint(now: number, n: number): number {
    const rate = this.#rate(now); // per ms
    const oldest = this.#inFlight.values().next().value;
    const drain = rate > 0 ? n / rate : oldest === undefined ? MIN_RETRY_MS : now - oldest;
    const max = now + this.#o.maxRetryMs;
    const at = Math.min(max, Math.max(this.#slot, now + drain));
    this.#slot = Math.min(max, at + (rate > 0 ? 1 / rate : MIN_RETRY_MS));
    return Math.round(Math.max(MIN_RETRY_MS, at - now));
  }

  // Setups in flight started before `before`, counted oldest first and no further than minInFlight.
  // [wave 5, mosquitto 6,000 at 176/s] the oldest alone refused 1,448 opens a node finished in
  // time with admission off: one open that never settles here (a duplicate whose claim exists
  // answers never) made every open after it look late.
  #waitedLonger(before: number): number {
    let k = 0;
    for (const at of this.#inFlight.values()) {
      if (at >= before || k >= this.#o.minInFlight) break;
      k++;
    }
    return k;
  }

  #completed(now: number): void {
    if (this.#done.length < RING) this.#done.push(now);
    else this.#done[this.#next] = now;
    this.#next = (this.#next + 1) % RING;
  }

  /** Completions per ms: the k in the window over the time since the first of them (at least 100 ms, so one burst is not a rate). */
  #rate(now: number): number {
    let k = 0;
    let first = now;
    for (const t of this.#done) {
      if (now - t > RATE_WINDOW_MS) continue;
      k++;
      if (t < first) first = t;
    }
    return k / Math.max(now - first, 100);
  }

  #expire(now: number): void {
    for (const [t, at] of this.#inFlight) {
      if (now - at <= STALE_MS) return;
      this.#inFlight.delete(t);
      this.#stats.stale++;
    }
  }
}
