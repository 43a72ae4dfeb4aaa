// The arrival gate of one fleet process: a box whose arrival has come starts only while this
// process's event loop has room (its utilisation over the last window under a bound) and fewer
// than a bound of its boxes are still booting. Otherwise it is held, and the hold is counted
// apart: a box's boot time starts when the box does, so it measures the box, not the fleet's
// own queue for its CPU [issue 19.5]. Clock, loop meter and sleep are injected: no timers here.

import { ArgumentError } from '../runtime/index.ts';

export interface PaceOptions {
  /** Event-loop utilisation (0..1) over the last window above which no box starts. Default 0.6. */
  maxUtilisation?: number;
  /** Most boxes of this process booting at once (started, not yet up or degraded). Default 100. */
  maxBooting?: number;
  /** The utilisation is measured over at least this long, ms. Default 250. */
  windowMs?: number;
  /** How long a held box waits before the gate looks again, ms. Default 20. */
  checkMs?: number;
  now?: () => number;
  /** The loop's cumulative active and idle time, ms (default: performance.eventLoopUtilization). */
  loop?: () => { active: number; idle: number };
  sleep?: (ms: number) => Promise<void>;
}

/** Boxes of this process still booting, and how many have finished their boot (up or degraded). */
export interface BootProgress {
  booting(): number;
  settled(): number;
}

export interface PaceStats {
  /** Boxes that had to wait at the gate, and their waits in total, ms. */
  held: number;
  heldMs: number;
  /** Boots per second this process can afford at its utilisation bound: boots finished per
   *  second of loop time (idle boxes' work included, so a lower bound), times the bound. */
  capacityPerS: number | null;
}

interface Sample {
  t: number;
  active: number;
  idle: number;
}

const KNOWN = new Set(['maxUtilisation', 'maxBooting', 'windowMs', 'checkMs', 'now', 'loop', 'sleep']);

export class BootPacer {
  readonly maxUtilisation: number;
  readonly maxBooting: number;
  #windowMs: number;
  #checkMs: number;
  #now: () => number;
  #loop: () => { active: number; idle: number };
  #sleep: (ms: number) => Promise<void>;
  #progress: BootProgress;
  #samples: Sample[] = [];
  #first: Sample | undefined;
  #fresh: number[] = [];
  #stats = { held: 0, heldMs: 0 };

  constructor(progress: BootProgress, o: PaceOptions = {}) {
    for (const k of Object.keys(o)) if (!KNOWN.has(k)) throw new ArgumentError(`BootPacer: unknown option "${k}"`, k);
    const u = o.maxUtilisation ?? 0.6;
    if (!(u > 0 && u <= 1)) throw new ArgumentError('BootPacer: maxUtilisation must be in (0, 1]', 'maxUtilisation');
    const b = o.maxBooting ?? 100;
    if (!(Number.isInteger(b) && b >= 1 && b <= 100_000)) throw new ArgumentError('BootPacer: maxBooting must be an integer in [1, 100000]', 'maxBooting');
    this.maxUtilisation = u;
    this.maxBooting = b;
    this.#windowMs = o.windowMs ?? 250;
    this.#checkMs = o.checkMs ?? 20;
    this.#now = o.now ?? (() => performance.now());
    this.#loop = o.loop ?? loopTime;
    this.#sleep = o.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.#progress = progress;
  }

  /** Resolves when a box due at `dueAt` (default: now) may start; with the ms it started after
   *  its arrival (0: on time). A box the process got to late waited in the fleet's queue too. */
  async admit(dueAt: number = this.#now()): Promise<number> {
    while (!this.#room()) await this.#sleep(this.#checkMs);
    const held = Math.max(0, this.#now() - dueAt);
    if (held > 0) {
      this.#stats.held++;
      this.#stats.heldMs += held;
    }
    this.#fresh.push(held);
    return held;
  }

  /** The loop's utilisation over the last window (at least windowMs, or since the first look). */
  utilisation(): number {
    const s = this.#sample();
    let base = this.#samples[0] as Sample;
    for (const x of this.#samples) if (s.t - x.t >= this.#windowMs) base = x;
    this.#samples = this.#samples.filter((x) => x.t >= base.t); // older than the base: not needed again
    const active = s.active - base.active;
    const total = active + (s.idle - base.idle);
    return total > 0 ? active / total : 0;
  }

  stats(): PaceStats {
    const first = this.#first;
    const s = this.#sample();
    const activeS = first === undefined ? 0 : (s.active - first.active) / 1000;
    const done = this.#progress.settled();
    return { ...this.#stats, capacityPerS: activeS > 0 && done > 0 ? (done * this.maxUtilisation) / activeS : null };
  }

  /** How long each box started since the last call was held, ms (0: not held). */
  takeHeld(): number[] {
    const out = this.#fresh;
    this.#fresh = [];
    return out;
  }

  #room(): boolean {
    return this.#progress.booting() < this.maxBooting && this.utilisation() <= this.maxUtilisation;
  }

  #sample(): Sample {
    const l = this.#loop();
    const s = { t: this.#now(), active: l.active, idle: l.idle };
    this.#first ??= s;
    const last = this.#samples.at(-1);
    if (last === undefined || s.t > last.t) this.#samples.push(s);
    return s;
  }
}

function loopTime(): { active: number; idle: number } {
  const e = performance.eventLoopUtilization();
  return { active: e.active, idle: e.idle };
}
