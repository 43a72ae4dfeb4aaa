// One event-loop lag meter for the emulated boxes of a process (issue 19, D97). A real box runs
// one app per process and keeps the LagMeter of its own (loader/running-app.ts); a fleet runs
// hundreds of boxes on one thread, whose lag is one figure, so they hold one meter per clock
// instead of ticking one each every 100 ms. The meter ticks while any box's app holds it.

import { type Clock, systemClock } from '../runtime/index.ts';
import { type LagHandle, LagMeter } from '../sandbox/index.ts';

export interface SharedLagStats {
  /** Holds started and not stopped: the apps using the meter now. */
  holders: number;
  /** Times the meter started (the first hold after none). */
  starts: number;
  /** The meter's ticks so far. */
  ticks: number;
}

export class SharedLag {
  #meter: LagMeter;
  #holders = 0;
  #starts = 0;

  /** `meter`: the one to share (tests); default a LagMeter on `clock` as a box alone makes. */
  constructor(clock: Clock, meter?: LagMeter) {
    this.#meter = meter ?? new LagMeter({ clock, now: () => clock.now() });
  }

  /** A hold for one running app: its start() and stop() count once each, however often called. */
  hold(): LagHandle {
    const meter = this.#meter;
    let held = false;
    return {
      start: () => {
        if (held) return;
        held = true;
        if (this.#holders++ === 0) {
          this.#starts++;
          meter.start();
        }
      },
      stop: () => {
        if (!held) return;
        held = false;
        if (--this.#holders === 0) meter.stop();
      },
      value: () => meter.value(),
      busy: (ms) => meter.busy(ms),
    };
  }

  stats(): SharedLagStats {
    return { holders: this.#holders, starts: this.#starts, ticks: this.#meter.ticks };
  }
}

const byClock = new WeakMap<Clock, SharedLag>();

/** The process's shared meter for boxes on `clock` (the system clock, or a test's own). */
export function sharedLag(clock: Clock = systemClock): SharedLag {
  let s = byClock.get(clock);
  if (s === undefined) byClock.set(clock, (s = new SharedLag(clock)));
  return s;
}
