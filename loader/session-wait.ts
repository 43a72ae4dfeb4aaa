// Requests a module makes before its box's session is up (issue 16 finding 3): they wait for the
// session within their own deadline instead of failing at once with UNAVAILABLE. Bounded; owns
// no socket; time from the injected clock. The switch decides what waits and what runs after.

import { type Clock, TimeoutError } from '../runtime/index.ts';
import { UnreachableError } from './errors.ts';

/** Requests waiting for a session at once; more fail at once (UNAVAILABLE). */
export const MAX_WAITING = 256;

interface Waiter {
  go: (leftMs: number) => Promise<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: unknown;
  deadline: number;
}

export interface SessionWaitStats {
  /** Requests that waited for the session and then went. */
  waited: number;
  /** Requests whose deadline passed before the session came up. */
  expired: number;
  /** Requests refused because MAX_WAITING already waited. */
  full: number;
}

export class SessionWait {
  readonly stats: SessionWaitStats = { waited: 0, expired: 0, full: 0 };
  readonly #clock: Clock;
  readonly #waiting = new Set<Waiter>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  get size(): number {
    return this.#waiting.size;
  }

  /** Wait up to `ms` for `opened()`, then run `go` with the time left of the deadline. */
  wait(target: string, ms: number, go: (leftMs: number) => Promise<unknown>): Promise<unknown> {
    if (this.#waiting.size >= MAX_WAITING) {
      this.stats.full++;
      return Promise.reject(new UnreachableError(target, `more than ${MAX_WAITING} requests wait for the session`));
    }
    return new Promise((resolve, reject) => {
      const w: Waiter = { go, resolve, reject, timer: undefined, deadline: this.#clock.now() + ms };
      w.timer = this.#clock.setTimeout(() => {
        if (!this.#waiting.delete(w)) return;
        this.stats.expired++;
        reject(new TimeoutError(`${target}: no session within ${ms} ms`, ms));
      }, ms);
      this.#waiting.add(w);
    });
  }

  /** The session is up: every waiting request goes now, in order, with what is left of its deadline. */
  opened(): void {
    const now = this.#clock.now();
    const all = [...this.#waiting];
    this.#waiting.clear();
    for (const w of all) {
      this.#clock.clearTimeout(w.timer as never);
      this.stats.waited++;
      w.go(Math.max(1, w.deadline - now)).then(w.resolve, w.reject);
    }
  }

  /** No session is coming (the box went degraded or stopped): fail what waits, now. */
  abandon(why: string): void {
    const all = [...this.#waiting];
    this.#waiting.clear();
    for (const w of all) {
      this.#clock.clearTimeout(w.timer as never);
      w.reject(new UnreachableError('session', why));
    }
  }
}
