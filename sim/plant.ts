// The cable-plant simulator [c13-c16, c25, c30]: boxes start sessions (a Poisson process following
// the diurnal curve), each session's server portion is placed by a balancer policy and then sends
// requests to it; servers are FIFO multi-worker queues. Runs the same policy code as the live head-end.
// Randomness of the trace is a hash of (session, request), so every policy sees the same trace.
// This file builds the balancers and runs a PlantRun (plant-run.ts), which holds the plant's state.

import { SeededRandom, createPolicy } from '../policy/index.ts';
import type { PlacementPolicy, PolicyKind } from '../policy/index.ts';
import { PlantRun } from './plant-run.ts';
import type { PolicyFactory, RunOptions, RunResult } from './plant-types.ts';
import type { Scenario } from './scenario.ts';

export type { PolicyFactory, RunOptions, RunResult, SeriesPoint, NodeSummary } from './plant-types.ts';

/** Run one scenario with one policy (a kind, or a factory of one policy object per balancer). */
export function runPlant(sc: Scenario, policy: PolicyKind | PolicyFactory, options: RunOptions = {}): RunResult {
  const wall0 = performance.now();
  const rep = sc.reports;
  const maxReportAgeMs = options.select?.maxReportAgeMs ?? 3 * rep.intervalMs + rep.delayMs + rep.jitterMs;
  const make: PolicyFactory =
    typeof policy === 'function' ? policy : (_b, random) => createPolicy(policy, { maxReportAgeMs, ...options.select, random, ...(policy === 'weft' ? { peers: options.peers ?? sc.balancers } : {}) });
  const policies: PlacementPolicy[] = [];
  for (let b = 0; b < sc.balancers; b++) policies.push(make(b, new SeededRandom(sc.seed * 7919 + b + 1).uniform()));
  const policyName = policies[0]?.name ?? 'none';
  const useReplicas = (options.replicas ?? sc.replicas !== null) && policyName === 'weft';

  const run = new PlantRun(sc, policies, useReplicas, maxReportAgeMs);
  run.schedule();
  run.run();
  return run.result(policyName, wall0);
}
