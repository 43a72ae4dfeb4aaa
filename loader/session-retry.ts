// When the box asks for a session again after the head-end said no [issue 16]: a refusal with
// REFUSED (untrusted key, tampered app, a module that fails to load) will not go away by itself,
// so each one in a row doubles the wait (capped, jittered by the seeded random), while any other
// failure keeps the usual one-base delay. Pure over its inputs; the box arms the timer.

import { Codes, WeftError } from '../runtime/index.ts';
import { type BackoffPolicy, reconnectDelay } from '../transport/reconnect.ts';

export class SessionRetry {
  #refusals = 0;

  /** REFUSED answers in a row (0 after a success or any other failure). */
  get refusals(): number {
    return this.#refusals;
  }

  failed(e: unknown): void {
    this.#refusals = e instanceof WeftError && e.code === Codes.REFUSED ? this.#refusals + 1 : 0;
  }

  succeeded(): void {
    this.#refusals = 0;
  }

  /** ms before the next session.open: after n refusals min(cap, base x factor^(n-1)), jittered; else base, jittered. */
  delayMs(p: BackoffPolicy, random: () => number): number {
    if (this.#refusals === 0) return p.baseMs * (1 - p.jitter) + random() * p.baseMs * p.jitter;
    return reconnectDelay(this.#refusals, p, random);
  }
}
