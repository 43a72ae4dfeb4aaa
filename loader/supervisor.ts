// The restart budget of the app's modules on the box [issue 13.3]: a module stopped by a fault
// restarts after a growing backoff, at most `restarts` times within `windowMs`; past that it
// has failed and stays down. Pure bookkeeping on an injected `now`: no timers, no sandbox.

import { ArgumentError, rejectUnknown } from '../runtime/index.ts';

export interface SupervisionOptions {
  /** Restarts a module gets within windowMs before it is declared failed. Default 3. */
  restarts: number;
  /** The window restarts are counted in, ms. Default 60 000. */
  windowMs: number;
  /** First backoff, ms; doubled per restart within the window. Default 200. */
  backoffMs: number;
  /** Longest backoff, ms. Default 5 000. */
  maxBackoffMs: number;
  /** How often running modules' snapshots are taken (the state a restart resumes from), ms. Default 1 000. */
  checkpointMs: number;
}

export const DEFAULT_SUPERVISION: Readonly<SupervisionOptions> = Object.freeze({ restarts: 3, windowMs: 60_000, backoffMs: 200, maxBackoffMs: 5_000, checkpointMs: 1_000 });

export type Verdict = { action: 'restart'; delayMs: number; attempt: number } | { action: 'fail'; restarts: number };

export function resolveSupervision(input: Partial<SupervisionOptions> | undefined): Readonly<SupervisionOptions> {
  if (input === undefined) return DEFAULT_SUPERVISION;
  rejectUnknown('supervision', input, Object.keys(DEFAULT_SUPERVISION));
  const out = { ...DEFAULT_SUPERVISION, ...input };
  for (const [k, v] of Object.entries(out)) {
    if (!Number.isInteger(v) || v < (k === 'restarts' ? 0 : 1)) throw new ArgumentError(`supervision.${k} must be a ${k === 'restarts' ? 'non-negative' : 'positive'} integer, got ${String(v)}`, k);
  }
  return Object.freeze(out);
}

export class RestartBudget {
  readonly options: Readonly<SupervisionOptions>;
  #now: () => number;
  #faults = new Map<string, number[]>();
  #failed = new Map<string, string>();

  constructor(options: Readonly<SupervisionOptions>, now: () => number) {
    this.options = options;
    this.#now = now;
  }

  /** A fatal fault stopped `module`: restart it after a backoff, or it has failed. */
  onFault(module: string, reason: string): Verdict {
    const now = this.#now();
    const recent = (this.#faults.get(module) ?? []).filter((at) => now - at < this.options.windowMs);
    if (recent.length >= this.options.restarts) {
      this.#failed.set(module, reason);
      this.#faults.delete(module);
      return { action: 'fail', restarts: recent.length };
    }
    recent.push(now);
    this.#faults.set(module, recent);
    const delayMs = Math.min(this.options.maxBackoffMs, this.options.backoffMs * 2 ** (recent.length - 1));
    return { action: 'restart', delayMs, attempt: recent.length };
  }

  /** Modules past their budget, with the fault that ended them. */
  failed(): ReadonlyMap<string, string> {
    return this.#failed;
  }

  /** A new version or an operator start: the module gets a fresh budget. */
  forget(module: string): void {
    this.#faults.delete(module);
    this.#failed.delete(module);
  }
}
