// A give-up timer on a stalled process (D27): in a Node loop turn expired timers run before input
// is read, so after a stall a deadline can fire with its answer already waiting in a socket. Each
// deadline that judges (Channel requests, heartbeats, UDP sends, the broker's connect timeout)
// treats a timer this late as a stall of its own loop, not a silent peer, and waits once more.

import type { Clock, TimerHandle } from './clock.ts';

/** A timer that fired more than this late (ms) fired after a stall of our own loop, not on time. */
export const LATE_TIMER_MS = 5;

/**
 * `setTimeout(fire, ms)` that, when it fires late, waits once more for as long as the stall (at
 * most `ms` again) before `fire`. `rearm` receives the second timer so a clear can find it, and
 * the clock time it falls due (a caller that tells others how long it waits, D117).
 */
export function lateOnce(clock: Clock, ms: number, rearm: (t: TimerHandle, due: number) => void, fire: () => void): TimerHandle {
  const due = clock.now() + ms;
  return clock.setTimeout(() => {
    const late = clock.now() - due;
    if (late <= LATE_TIMER_MS) return fire();
    const again = Math.min(late, ms);
    rearm(clock.setTimeout(fire, again), clock.now() + again);
  }, ms);
}
