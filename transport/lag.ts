// Local event-loop lag, so that a slow or busy CPU is not judged a dead path (issue 13.4): a
// source of the measured lag, and deadline timers that confirm over a span covering it before
// they fire. A timer that fires late means our own loop was busy: an answer may sit unread.

import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Clock, TimerHandle } from '../runtime/index.ts';

/** How late local timers fire now, ms (the recent maximum). */
export type LagSource = () => number;

export const NO_LAG: LagSource = () => 0;

/**
 * Node's event-loop delay histogram (native sampling every `resolutionMs`, no JS timer per
 * sample), as the maximum over the last one or two windows. One per process is enough: a fleet
 * of emulated boxes shares one loop, so pass the same source to every dialer.
 */
export function eventLoopLag(o: { windowMs?: number; resolutionMs?: number; now?: () => number } = {}): LagSource {
  const windowMs = o.windowMs ?? 2000;
  const now = o.now ?? (() => performance.now());
  const h = monitorEventLoopDelay({ resolution: o.resolutionMs ?? 20 });
  h.enable();
  let last = 0;
  let at = now();
  return () => {
    const t = now();
    // The histogram counts the sampling period itself into each delay: take it out.
    const current = h.count > 0 ? Math.max(0, h.max / 1e6 - (o.resolutionMs ?? 20)) : 0;
    if (t - at >= windowMs) {
      last = current;
      at = t;
      h.reset();
    }
    return Math.max(last, current);
  };
}

export interface ConfirmOptions {
  /** Lateness within this is scheduling noise, not lag, ms. Default 5. */
  toleranceMs: number;
  /** Re-arms at most this many times in a row (a CPU that never catches up still gets a verdict). Default 4. */
  maxConfirms: number;
  /** Counted each time a deadline was put off because the loop was late (slow, not dead). */
  onConfirm?: (lateMs: number) => void;
}

interface Handle {
  inner: TimerHandle | undefined;
}

/**
 * A Clock for deadline timers ("nothing arrived by then: the path is dead"). When a timer fires
 * more than `toleranceMs` late, or the lag source reports more lag than that, the loop was busy
 * and input may be waiting behind us: it waits once more, a span covering max(lateness, measured
 * lag), and fires only when a span passes on time (at most `maxConfirms` spans). On an idle
 * loop it fires on time.
 */
export function confirmingClock(clock: Clock, lag: LagSource, o: Partial<ConfirmOptions> = {}): Clock {
  const toleranceMs = o.toleranceMs ?? 5;
  const maxConfirms = o.maxConfirms ?? 4;
  return {
    now: () => clock.now(),
    setTimeout: (fn, ms) => {
      const h: Handle = { inner: undefined };
      let confirms = 0;
      const arm = (delay: number): void => {
        const due = clock.now() + delay;
        h.inner = clock.setTimeout(() => {
          const late = Math.max(0, clock.now() - due);
          // The first check also covers the measured lag (the loop may be busy in bursts that
          // missed this timer); later ones only a timer that was late again.
          const measured = confirms === 0 ? lag() : 0;
          const span = Math.max(late, measured);
          if (span > toleranceMs && confirms < maxConfirms) {
            confirms++;
            o.onConfirm?.(late);
            return arm(span);
          }
          h.inner = undefined;
          fn();
        }, delay);
      };
      arm(ms);
      return h;
    },
    clearTimeout: (handle) => {
      const h = handle as Handle;
      if (h.inner !== undefined) clock.clearTimeout(h.inner);
      h.inner = undefined;
    },
  };
}
