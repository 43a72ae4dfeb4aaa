// Local event-loop lag, so that a slow or busy CPU is not judged a dead path (issue 13.4): a
// source of the measured lag, and deadline timers that confirm over a span covering it before
// they fire. A timer that fires late means our own loop was busy: an answer may sit unread.

import { performance } from 'node:perf_hooks';
import type { Clock, TimerHandle } from '../runtime/index.ts';

/** How late local timers fire now, ms (the recent maximum). */
export type LagSource = () => number;

export const NO_LAG: LagSource = () => 0;

/**
 * The local loop's lag as far as answers are concerned: when the loop was saturated
 * (utilization >= 90 %) over the last slice (>= 100 ms, between calls), every answer queues
 * behind other work though no single timer is very late, so the lag is that slice, up to
 * `windowMs` (250 ms; confirmingClock doubles it per span); else 0. Reading the loop's utilization costs no timer and no thread, so every
 * dialer can have its own (a timer that fires late is covered by confirmingClock itself).
 */
export function eventLoopLag(o: { windowMs?: number; sliceMs?: number } = {}): LagSource {
  const windowMs = o.windowMs ?? 250;
  const sliceMs = o.sliceMs ?? 100;
  let elu = performance.eventLoopUtilization();
  let at = performance.now();
  let saturated = 0;
  return () => {
    const t = performance.now();
    // One reading per slice: many deadlines falling due in one burst share it.
    if (t - at >= sliceMs) {
      const next = performance.eventLoopUtilization();
      saturated = performance.eventLoopUtilization(next, elu).utilization >= 0.9 ? Math.min(windowMs, t - at) : 0;
      elu = next;
      at = t;
    }
    return saturated;
  };
}

export interface ConfirmOptions {
  /** Lateness within this is scheduling noise, not lag, ms. Default 5. */
  toleranceMs: number;
  /** Re-arms at most this many times in a row, each span at least twice the last (a CPU that never catches up still gets a verdict: after 15 x the first span at most). Default 4. */
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
      let last = 0;
      const arm = (delay: number): void => {
        const due = clock.now() + delay;
        h.inner = clock.setTimeout(() => {
          const late = Math.max(0, clock.now() - due);
          // A span covering the lateness and the measured lag (bounded by maxConfirms).
          const measured = lag();
          const span = Math.max(late, measured);
          if (span > toleranceMs && confirms < maxConfirms) {
            confirms++;
            o.onConfirm?.(late);
            // Each span at least twice the last: a loop that stays busy is waited out, boundedly.
            last = Math.max(span, 2 * last);
            return arm(last);
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
