// Retransmission timing for the UDP transport: one clock timer for all pending transfers, armed
// at the earliest due time. The heap is the Channel's deadline wheel (runtime/deadlines.ts):
// acked transfers are not removed at once, their entries are skipped when they surface, so a busy
// request stream costs no timer calls.

import type { Clock } from '../runtime/index.ts';
import { DeadlineWheel } from '../runtime/deadlines.ts';

export class RetransmitQueue {
  #wheel: DeadlineWheel;

  /** `live(transfer, due)`: whether an entry is still wanted (its transfer pending, `due` its current due time). */
  constructor(clock: Clock, live: (transfer: number, due: number) => boolean, fire: (transfer: number) => void) {
    this.#wheel = new DeadlineWheel(clock, live, (transfer) => fire(transfer));
  }

  /** Call `fire(transfer)` at `due` (clock ms) unless `live` says otherwise by then. */
  schedule(transfer: number, due: number): void {
    this.#wheel.add(transfer, due);
  }

  /** Entries held, stale ones included (for tests and stats). */
  get size(): number {
    return this.#wheel.size;
  }

  /** Forget every entry (none is live any more); the timer is kept for the next send (runtime/deadlines.ts idle): the socket holds the process open anyway, and close() clears it. */
  forgetAll(): void {
    this.#wheel.idle(true);
  }

  clear(): void {
    this.#wheel.stop();
  }
}
