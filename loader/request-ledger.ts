// The fate of every request a box sends to the head-end [issue 13.8]: answered, answered after a
// retry, or failed with an error the caller got, counted by code. Nothing may vanish: a request
// still unsettled a grace after its own deadline is ended here with a TimeoutError and counted
// `overdue` (each one a bug to find: something on the way dropped it without telling the caller).

import { type Clock, LATE_TIMER_MS, type RequestOutcomes, TimeoutError, WeftError, codeName } from '../runtime/index.ts';

/** What the box report (stats.box, runtime/device.ts) and the fleet summary carry: cumulative counts. */
export type RequestCounts = RequestOutcomes;

/** One request being followed: `retried()` when it goes again. */
export interface Tracked {
  /** When the request's own deadline falls (clock ms). */
  readonly deadline: number;
  /** The time left before the deadline, ms (0 when past it). */
  remaining(): number;
  /** It goes again (once at most): its answer then counts as `retried`. */
  retried(): void;
  readonly wentAgain: boolean;
  /** Where it is now (`sent`, `awaiting-session`, `held` ...): an overdue one is counted by it. */
  stage: string;
}

/**
 * Past the deadline before the ledger ends a request itself: the channel's own timer goes first.
 * Generous (half the timeout, 1 s to 5 s): on a loaded host one turn of the loop can outlast a
 * short grace, and a request whose own timer is merely late is not a lost one.
 */
export function overdueGraceMs(timeoutMs: number): number {
  return Math.min(5000, Math.max(1000, timeoutMs / 2));
}

export class RequestLedger {
  #clock: Clock;
  #counts: RequestCounts = { sent: 0, ok: 0, retried: 0, failed: 0, overdue: 0 };
  #byCode: Record<string, number> = {};
  #overdueAt: Record<string, number> = {};

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  counts(): RequestCounts {
    return { ...this.#counts };
  }

  /** Overdue requests by the stage they were stuck in: where requests vanish. */
  overdueByStage(): Record<string, number> {
    return { ...this.#overdueAt };
  }

  /** Failures by code name (TIMEOUT, UNAVAILABLE, NO_SESSION, CLOSED ...). */
  failedByCode(): Record<string, number> {
    return { ...this.#byCode };
  }

  /** Follow one request of `timeoutMs`: `run` sends it (and may send it again through `t.retried()`). */
  track(timeoutMs: number, run: (t: Tracked) => Promise<unknown>): Promise<unknown> {
    this.#counts.sent++;
    const clock = this.#clock;
    const deadline = clock.now() + timeoutMs;
    let again = false;
    const t: Tracked = {
      deadline,
      remaining: () => Math.max(0, deadline - clock.now()),
      retried: () => void (again = true),
      get wentAgain() {
        return again;
      },
      stage: 'sending',
    };
    return new Promise((resolve, reject) => {
      let done = false;
      let endAt = deadline + overdueGraceMs(timeoutMs);
      let late = false;
      // A timer may fire before the clock says its time came (Node's timers start from the loop's
      // cached time, stale after a long turn): the guard re-arms until the clock agrees. Fired
      // late, the box's own loop stalled and the answer may wait unread behind this timer: once
      // more, as long as the stall (D27, as the Channel does; bench rollout at 1,000 boxes).
      const check = (): void => {
        if (done) return;
        const left = endAt - clock.now();
        if (left <= 0 && !late && -left > LATE_TIMER_MS) {
          late = true;
          endAt = clock.now() + Math.min(-left, timeoutMs);
        }
        if (endAt > clock.now()) {
          guard = clock.setTimeout(check, Math.max(1, endAt - clock.now()));
          return;
        }
        done = true;
        this.#counts.overdue++;
        this.#overdueAt[t.stage] = (this.#overdueAt[t.stage] ?? 0) + 1;
        const e = new TimeoutError(`no answer within ${timeoutMs} ms (ended by the box)`, timeoutMs);
        this.#failed(e);
        reject(e);
      };
      let guard = clock.setTimeout(check, endAt - clock.now());
      let p: Promise<unknown>;
      try {
        p = run(t);
      } catch (e) {
        p = Promise.reject(e as Error);
      }
      p.then(
        (v) => {
          if (done) return;
          done = true;
          clock.clearTimeout(guard);
          if (again) this.#counts.retried++;
          else this.#counts.ok++;
          resolve(v);
        },
        (e: unknown) => {
          if (done) return;
          done = true;
          clock.clearTimeout(guard);
          this.#failed(e);
          reject(e as Error);
        },
      );
    });
  }

  #failed(e: unknown): void {
    this.#counts.failed++;
    const name = e instanceof WeftError ? codeName(e.code) : 'OTHER';
    this.#byCode[name] = (this.#byCode[name] ?? 0) + 1;
  }
}

/** Fleet summary: the counts of many boxes added up. */
export function sumCounts(all: readonly (RequestCounts | undefined)[]): RequestCounts {
  const out: RequestCounts = { sent: 0, ok: 0, retried: 0, failed: 0, overdue: 0 };
  for (const c of all) {
    if (c === undefined) continue;
    out.sent += c.sent;
    out.ok += c.ok;
    out.retried += c.retried;
    out.failed += c.failed;
    out.overdue += c.overdue;
  }
  return out;
}

/**
 * The fleet summary's `requests` [13.8]: every box's ledger counts added up. Not from the box's
 * report: that measures the sandbox's memory, 300 boxes a second in a fleet process's summary.
 */
export function fleetRequests(boxes: readonly { requests(): RequestCounts }[]): RequestCounts {
  return sumCounts(boxes.map((b) => b.requests()));
}
