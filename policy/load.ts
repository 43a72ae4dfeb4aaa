// The one definition of a node's load [c13, c16, c30]: the demand of the portions it hosts, in
// capacity units (workers). The live sampler (headend/stats/statistics-sampler.ts) and the
// simulator (sim/plant.ts) both report `nodeLoad(...)`, so the policy sees the same world in
// both. Pure: no clock, no I/O. (docs/DECISIONS.md D16)

import { ArgumentError } from '../runtime/index.ts';

/** Portions of one kind and app hosted on a node, grouped (a count of like portions). */
export interface HostedWork {
  readonly app: string;
  /**
   * `session`: portions of single sessions hosted here (not merely placed from here); `shared`:
   * a portion shared by the app's sessions (`*`), with all its worker threads; `replica`: a
   * replica of another node's saturated portion [c25, c30].
   */
  readonly kind: 'session' | 'shared' | 'replica';
  /** How many such portions (sessions, for `session`). */
  readonly count: number;
  /**
   * Demand of one, capacity units: a session's cost (its service over its request cycle; 1 when
   * unknown), or the measured busy workers of a shared portion or replica.
   */
  readonly cost: number;
  /** Fraction of the portion's requests served here (a portion spread over replicas [c30]). Default 1. */
  readonly share?: number;
}

/** A node's load as its report carries it (NodeReport.load, .apps, .sessions). */
export interface NodeLoadFigures {
  /** Demand of all hosted work, capacity units. */
  readonly load: number;
  /** The same by application. */
  readonly apps: Record<string, number>;
  /** Sessions whose portion this node hosts. */
  readonly sessions: number;
}

/**
 * Demand of hosted work: sum of count x cost x share. Critical-section waits are not added here:
 * a request waiting for a section holds no worker (the lock is awaited, not spun), and the wait
 * reaches the policy on its own as `waitMs` (policy/saturation.ts `pressure`); adding it to the
 * demand would count a saturated section twice.
 */
export function nodeLoad(work: readonly HostedWork[]): NodeLoadFigures {
  const apps: Record<string, number> = {};
  let load = 0;
  let sessions = 0;
  for (const w of work) {
    const share = w.share ?? 1;
    if (!(w.count >= 0) || !(w.cost >= 0) || !(share >= 0 && share <= 1)) {
      throw new ArgumentError(`nodeLoad: ${w.kind} work of ${w.app} needs count >= 0, cost >= 0 and share in [0, 1]`, 'work');
    }
    const d = w.count * w.cost * share;
    apps[w.app] = (apps[w.app] ?? 0) + d;
    load += d;
    if (w.kind === 'session') sessions += w.count;
  }
  return { load, apps, sessions };
}
