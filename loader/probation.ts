// Probation of a new app version on the box (issue 15): the decision alone, on an injected
// `now`, with no timers, storage or sandbox. A version commits when every boot-tier client module
// reported ready (started, or restarted by the supervisor) and stayed healthy for the probation
// time after that; more module faults than `faultsAllowed` (one by default: a slow box's single
// watchdog stop is forgiven, a version that faults on every start is not), a crash loop (the
// supervisor's budget, supervisor.ts) or no ready within `readyMs` reverts it. probation-box.ts
// wires it to the box.

import type { BoxEvent } from './box-events.ts';

export const PROBATION_REASONS = ['module-fault', 'crash-loop', 'no-ready', 'signature', 'directive'] as const;
export type ProbationReason = (typeof PROBATION_REASONS)[number];

export type ProbationVerdict = { kind: 'commit' } | { kind: 'revert'; reason: ProbationReason; detail: string };

export interface Trial {
  /** SHA-256 of the manifest on trial, and its version. */
  sha: string;
  version: string;
  /** The modules that must report ready (boot-tier client modules). */
  expect: readonly string[];
  probationMs: number;
  /** Faults forgiven in this trial (default: the Probation's `faultsAllowed`). */
  faultsAllowed?: number;
}

export class Probation {
  readonly readyMs: number;
  readonly faultsAllowed: number;
  #now: () => number;
  #lag: () => number;
  #faults = 0;
  #trial: Trial | undefined;
  #since = 0;
  #ready = new Set<string>();
  #readyAt: number | undefined;

  /** `lag`: the box's measured event-loop lag now, ms (sandbox/lag.ts); the ready deadline stretches by it. */
  constructor(o: { now: () => number; readyMs: number; faultsAllowed?: number; lag?: (() => number) | undefined }) {
    if (!Number.isFinite(o.readyMs) || o.readyMs <= 0) throw new RangeError('probation: readyMs > 0');
    this.#now = o.now;
    this.#lag = o.lag ?? (() => 0);
    this.readyMs = o.readyMs;
    this.faultsAllowed = o.faultsAllowed ?? 1;
    if (!Number.isInteger(this.faultsAllowed) || this.faultsAllowed < 0) throw new RangeError('probation: faultsAllowed: integer >= 0');
  }

  /** The version on trial, if any. */
  get trial(): Trial | undefined {
    return this.#trial;
  }

  /** When every expected module reported ready (undefined before). */
  get readyAt(): number | undefined {
    return this.#readyAt;
  }

  /** Put a version on trial (replacing any other). */
  begin(t: Trial): void {
    if (!Number.isFinite(t.probationMs) || t.probationMs < 0) throw new RangeError('probation: probationMs >= 0');
    this.#trial = { ...t, expect: [...t.expect] };
    this.#since = this.#now();
    this.#ready = new Set();
    this.#faults = 0;
    this.#readyAt = t.expect.length === 0 ? this.#since : undefined;
  }

  /** The trial ended (committed, reverted or replaced by the caller). */
  end(): void {
    this.#trial = undefined;
  }

  /** A box event during the trial: a fault or a crash loop reverts at once; starts count as ready. */
  event(e: BoxEvent): ProbationVerdict | undefined {
    const t = this.#trial;
    if (t === undefined || e.kind !== 'module') return undefined;
    if (e.action === 'failed') return { kind: 'revert', reason: 'crash-loop', detail: `${e.module} passed its restart budget: ${e.detail ?? ''}`.trim() };
    if (e.action === 'fault' && ++this.#faults > (t.faultsAllowed ?? this.faultsAllowed)) return { kind: 'revert', reason: 'module-fault', detail: `${e.module}: ${e.detail ?? 'fault'}` };
    if ((e.action === 'started' || e.action === 'restarted') && t.expect.includes(e.module)) {
      this.#ready.add(e.module);
      if (this.#readyAt === undefined && t.expect.every((m) => this.#ready.has(m))) this.#readyAt = this.#now();
    }
    return this.check();
  }

  /** At `now`: commit after probation past ready; revert when ready never came within readyMs. */
  check(): ProbationVerdict | undefined {
    const t = this.#trial;
    if (t === undefined) return undefined;
    const now = this.#now();
    if (this.#readyAt === undefined) {
      // [13.3] slow is not dead: a starved box (its loop lagging) has not yet given the version its readyMs.
      if (now < this.#readyDue()) return undefined;
      const missing = t.expect.filter((m) => !this.#ready.has(m));
      return { kind: 'revert', reason: 'no-ready', detail: `${missing.join(', ')} not ready within ${this.readyMs} ms` };
    }
    return now - this.#readyAt >= t.probationMs ? { kind: 'commit' } : undefined;
  }

  /** When check() may next change its answer (ms since the epoch of `now`), if a trial runs. */
  due(): number | undefined {
    const t = this.#trial;
    if (t === undefined) return undefined;
    return this.#readyAt === undefined ? this.#readyDue() : this.#readyAt + t.probationMs;
  }

  #readyDue(): number {
    return this.#since + this.readyMs + Math.max(0, this.#lag());
  }
}
