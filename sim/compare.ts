// Runs several policies on one scenario (the same trace: arrivals, session lengths, think and
// service times are fixed by the seed) and reports each policy's sojourn against a baseline.

import type { PolicyKind } from '../policy/index.ts';
import { runPlant, type RunOptions, type RunResult } from './plant.ts';
import type { Scenario } from './scenario.ts';

export interface Comparison {
  readonly results: readonly RunResult[];
  /** Mean and p99 sojourn of each policy over the baseline's. */
  readonly ratios: readonly { readonly policy: string; readonly mean: number; readonly p99: number }[];
}

export function comparePolicies(sc: Scenario, kinds: readonly PolicyKind[], baseline: PolicyKind, options: RunOptions = {}): Comparison {
  const results = kinds.map((k) => runPlant(sc, k, options));
  const base = results[kinds.indexOf(baseline)];
  if (base === undefined) throw new Error(`comparePolicies: baseline ${baseline} is not among the policies run`);
  return {
    results,
    ratios: results.map((r) => ({ policy: r.policy, mean: r.meanMs / base.meanMs, p99: r.p99Ms / base.p99Ms })),
  };
}
