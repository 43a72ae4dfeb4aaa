// Which app's envelope a portion worker runs next [DECISIONS D17]: the app with work that used
// the least CPU lately, one envelope per turn, so a spinning or flooding app waits behind its
// neighbours instead of in front of them. Per-app FIFO (per-session order is kept), bounded;
// no timers or threads here: the worker runs one turn per event-loop turn.

import { ArgumentError, rejectUnknown } from '../../runtime/index.ts';

export interface FairQueueOptions {
  /** Monotonic ms (performance.now in the worker). */
  now: () => number;
  /** Envelopes waiting per app; past it the newest is shed (counted). Default 4096. */
  maxPerApp?: number;
  /** Half-life of an app's remembered CPU use, ms. Default 1000. */
  halfLifeMs?: number;
  /** Apps tracked at once. Default 1024. */
  maxApps?: number;
}

interface Lane<T> {
  items: T[];
  /** Decayed CPU ms used lately, and when it was last decayed. */
  used: number;
  at: number;
}

export class FairQueue<T> {
  #now: () => number;
  #max: number;
  #halfLife: number;
  #maxApps: number;
  #lanes = new Map<string, Lane<T>>();
  #stats = { queued: 0, served: 0, shed: 0 };

  constructor(options: FairQueueOptions) {
    rejectUnknown('FairQueue', options, ['now', 'maxPerApp', 'halfLifeMs', 'maxApps']);
    if (typeof options.now !== 'function') throw new ArgumentError('FairQueue: now is required', 'now');
    this.#now = options.now;
    this.#max = options.maxPerApp ?? 4096;
    this.#halfLife = options.halfLifeMs ?? 1000;
    this.#maxApps = options.maxApps ?? 1024;
    for (const [k, v] of [['maxPerApp', this.#max], ['halfLifeMs', this.#halfLife], ['maxApps', this.#maxApps]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new ArgumentError(`FairQueue: ${k} must be a positive integer`, k);
    }
  }

  get size(): number {
    let n = 0;
    for (const l of this.#lanes.values()) n += l.items.length;
    return n;
  }

  /** Queue an item of `app`; false when it was shed (its lane, or the app table, is full). */
  push(app: string, item: T): boolean {
    let lane = this.#lanes.get(app);
    if (lane === undefined) {
      if (this.#lanes.size >= this.#maxApps) this.#forgetIdle();
      if (this.#lanes.size >= this.#maxApps) return this.#shed();
      lane = { items: [], used: 0, at: this.#now() };
      this.#lanes.set(app, lane);
    }
    if (lane.items.length >= this.#max) return this.#shed();
    lane.items.push(item);
    this.#stats.queued++;
    return true;
  }

  /** The next item to run: the oldest of the app with work that used the least CPU lately. */
  take(): { app: string; item: T } | undefined {
    const now = this.#now();
    let best: [string, Lane<T>] | undefined;
    for (const e of this.#lanes) {
      const lane = e[1];
      if (lane.items.length === 0) continue;
      this.#decay(lane, now);
      if (best === undefined || lane.used < best[1].used) best = e;
    }
    if (best === undefined) return undefined;
    this.#stats.served++;
    return { app: best[0], item: best[1].items.shift() as T };
  }

  /** `app` used `ms` of CPU running an item (or anything else on the thread). */
  charge(app: string, ms: number): void {
    const lane = this.#lanes.get(app);
    if (lane === undefined || !(ms > 0)) return;
    this.#decay(lane, this.#now());
    lane.used += ms;
  }

  stats(): { queued: number; served: number; shed: number; waiting: number; apps: number } {
    return { ...this.#stats, waiting: this.size, apps: this.#lanes.size };
  }

  #decay(lane: Lane<T>, now: number): void {
    const dt = now - lane.at;
    lane.at = now;
    if (dt > 0) lane.used *= 0.5 ** (dt / this.#halfLife);
  }

  #forgetIdle(): void {
    for (const [app, lane] of this.#lanes) if (lane.items.length === 0) this.#lanes.delete(app);
  }

  #shed(): false {
    this.#stats.shed++;
    return false;
  }
}
