// The simulator's inputs besides the scenario (which policy, which options) and its outputs (the
// run's sojourn statistics, counters and time series). Types only.

import type { PlacementPolicy, SelectOptions, Uniform } from '../policy/index.ts';

export interface SeriesPoint {
  readonly t: number;
  readonly sessions: number;
  /** Demand of live sessions over live capacity. */
  readonly offered: number;
  readonly requests: number;
  readonly meanMs: number;
  readonly p99Ms: number;
  readonly meanUtil: number;
  readonly maxUtil: number;
  readonly replicas: number;
}

export interface NodeSummary {
  readonly workers: number;
  /** Mean utilisation after the warm-up. */
  readonly util: number;
  /** Mean demand of the sessions homed on it over its capacity (sampled per series bucket). */
  readonly demand: number;
  /** Sojourn of the requests it served after the warm-up. */
  readonly p99Ms: number;
  readonly meanMs: number;
}

export interface RunResult {
  readonly policy: string;
  /** Requests completed after the warm-up, and their sojourn (box sends -> reply). */
  readonly requests: number;
  readonly meanMs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
  readonly sessions: number;
  /** Sessions no node could take. */
  readonly rejected: number;
  /** Requests lost in a failed node (retried after the scenario's timeout). */
  readonly timeouts: number;
  /** Sessions placed again after their node was declared dead. */
  readonly replaced: number;
  readonly spawns: number;
  readonly retires: number;
  /** Distinct boxes that started a session. */
  readonly boxesSeen: number;
  readonly events: number;
  readonly wallMs: number;
  readonly series: readonly SeriesPoint[];
  readonly nodes: readonly NodeSummary[];
}

export type PolicyFactory = (balancer: number, random: Uniform) => PlacementPolicy;

export interface RunOptions {
  /** Options for Weft's balancer (the default maxReportAgeMs follows the report interval). */
  select?: SelectOptions;
  /** Weft's balancer counts its own pending placements this many times (default: balancers). */
  peers?: number;
  /** Apply the saturation rule (Weft's policy only); default: when the scenario sets replicas. */
  replicas?: boolean;
}
