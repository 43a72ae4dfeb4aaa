// Measured event-loop lag of the thread guest code runs on: how late a periodic tick fires,
// less the time the sandboxes themselves held the thread (a spinning module must not buy
// itself a longer deadline). Deadlines and the watchdog add it, so a loaded box or head-end
// does not stop healthy code [issue 13.3]. Clock and `now` are injected; no timers of its own.

import { ArgumentError, type Clock, rejectUnknown, type TimerHandle } from '../runtime/index.ts';

/** What an AppSandbox needs: the lag now, and a place to report the time guest code held the thread. */
export interface LagSource {
  /** Recent lag not caused by guest code, ms (>= 0). */
  value(): number;
  /** Guest code held the thread for `ms` (reported by every sandbox on the thread). */
  busy(ms: number): void;
}

/** A LagSource its user starts and stops (a box's running app: its own LagMeter, or a hold on one
 *  shared by the boxes of an emulated fleet, devices/shared-lag.ts). */
export interface LagHandle extends LagSource {
  start(): void;
  stop(): void;
}

export interface LagMeterOptions {
  clock: Clock;
  /** Monotonic ms; default performance.now. */
  now?: () => number;
  /** Tick period, ms. Default 100. */
  intervalMs?: number;
  /** Ticks the estimate remembers (their largest lag is the value). Default 10 (about 1 s). */
  window?: number;
}

export class LagMeter implements LagHandle {
  #clock: Clock;
  #now: () => number;
  #interval: number;
  #window: number;
  #samples: number[] = [];
  #busy = 0;
  #due = 0;
  #timer: TimerHandle | undefined;
  #ticks = 0;

  constructor(options: LagMeterOptions) {
    rejectUnknown('LagMeter', options, ['clock', 'now', 'intervalMs', 'window']);
    this.#clock = options.clock;
    this.#now = options.now ?? (() => performance.now());
    this.#interval = options.intervalMs ?? 100;
    this.#window = options.window ?? 10;
    if (!Number.isInteger(this.#interval) || this.#interval < 1) throw new ArgumentError('LagMeter: intervalMs must be a positive integer', 'intervalMs');
    if (!Number.isInteger(this.#window) || this.#window < 1) throw new ArgumentError('LagMeter: window must be a positive integer', 'window');
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#arm();
  }

  stop(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  value(): number {
    let max = 0;
    for (const s of this.#samples) if (s > max) max = s;
    return max;
  }

  busy(ms: number): void {
    if (Number.isFinite(ms) && ms > 0) this.#busy += ms;
  }

  get ticks(): number {
    return this.#ticks;
  }

  #arm(): void {
    this.#due = this.#now() + this.#interval;
    this.#busy = 0;
    this.#timer = this.#clock.setTimeout(() => this.#tick(), this.#interval);
  }

  #tick(): void {
    this.#ticks++;
    const late = Math.max(0, this.#now() - this.#due - this.#busy);
    this.#samples.push(late);
    if (this.#samples.length > this.#window) this.#samples.shift();
    this.#arm();
  }
}
