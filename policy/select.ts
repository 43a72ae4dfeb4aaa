// Server selection [c13-c16, c41, c43]: power-of-k choices over eligible nodes, scored by
// capacity-weighted load with this balancer's optimistic local increments. Pure: view, request,
// options, randomness and pending placements in; a decision out. No clock, no I/O, no state.

import { ArgumentError, fail, ok, rejectUnknown, type Result } from '../runtime/index.ts';
import type { Pending } from './ledger.ts';
import type { ClusterView, NoCapacity, NodeReport, Placement, PlaceRequest, Uniform } from './types.ts';

export interface SelectOptions {
  /** k in power-of-k choices. Default 2: enough to avoid the worst node, random enough not to herd. */
  choices?: number;
  /** Reports older than this (ms) mean the node is not chosen: stale or missing. Default 5000. */
  maxReportAgeMs?: number;
  /** A node whose memory would pass this fraction of its limit is not chosen. Default 0.85. */
  memHighWater?: number;
  /**
   * How candidates are drawn: `capacity` (default) draws each node with probability proportional
   * to its capacity, so a node four times larger can get four times the work; `uniform` is the
   * classic draw, which caps any node near k/n of the placements.
   */
  sampling?: 'capacity' | 'uniform';
  /** A node this busy (util) that also has a backlog (queue > capacity) is chosen last. Default 0.98. */
  overloadUtil?: number;
  /** `utilization` (default): load over capacity after placing; `wait`: expected queueing delay. */
  scoring?: 'wait' | 'utilization';
}

export type SelectConfig = Required<SelectOptions>;

const KNOWN: readonly (keyof SelectOptions)[] = ['choices', 'maxReportAgeMs', 'memHighWater', 'sampling', 'overloadUtil', 'scoring'];

/** Validate options once (reject unknown ones by name) and fill defaults. */
export function selectConfig(options: SelectOptions = {}, where = 'selectConfig'): SelectConfig {
  rejectUnknown(where, options, KNOWN);
  const cfg: SelectConfig = {
    choices: options.choices ?? 2,
    maxReportAgeMs: options.maxReportAgeMs ?? 5000,
    memHighWater: options.memHighWater ?? 0.85,
    sampling: options.sampling ?? 'capacity',
    overloadUtil: options.overloadUtil ?? 0.98,
    scoring: options.scoring ?? 'utilization',
  };
  if (!Number.isInteger(cfg.choices) || cfg.choices < 1) throw new ArgumentError(`${where}: choices must be an integer >= 1`, 'choices');
  if (!(cfg.maxReportAgeMs > 0)) throw new ArgumentError(`${where}: maxReportAgeMs must be > 0`, 'maxReportAgeMs');
  if (!(cfg.memHighWater > 0 && cfg.memHighWater <= 1)) throw new ArgumentError(`${where}: memHighWater must be in (0, 1]`, 'memHighWater');
  if (cfg.sampling !== 'capacity' && cfg.sampling !== 'uniform') throw new ArgumentError(`${where}: sampling must be "capacity" or "uniform"`, 'sampling');
  if (cfg.scoring !== 'wait' && cfg.scoring !== 'utilization') throw new ArgumentError(`${where}: scoring must be "wait" or "utilization"`, 'scoring');
  if (!(cfg.overloadUtil > 0)) throw new ArgumentError(`${where}: overloadUtil must be > 0`, 'overloadUtil');
  return cfg;
}

/** Pending placements of this balancer on a node since `reportAt` (see PlacementLedger). */
export type PendingOf = (node: string, reportAt: number) => Pending;

const NONE: Pending = { cost: 0, mem: 0, count: 0 };
const noPending: PendingOf = () => NONE;
/** Added to the score of an overloaded node so that any other candidate wins. */
export const OVERLOADED = 1e6;

/** Is this node alive, fresh and outside `exclude`? Shared by every policy (health checks). */
export function healthy(view: ClusterView, r: NodeReport, maxReportAgeMs: number): boolean {
  return r.alive !== false && view.now - r.at <= maxReportAgeMs && r.capacity > 0;
}

/**
 * Score of a node after adding `cost` (lower is better); overloaded nodes sort last. `utilization`
 * is load over capacity. `wait` is the expected queueing delay, in service times, of a c-worker
 * node at that utilisation (Sakasegawa's approximation of Erlang C): at equal utilisation a small
 * node queues far longer than a large one, so this loads large nodes a little more.
 */
export function score(r: NodeReport, pendingCost: number, cost: number, cfg: Pick<SelectConfig, 'overloadUtil' | 'scoring'>): number {
  const rho = (r.load + pendingCost + cost) / r.capacity;
  let s = rho;
  if (cfg.scoring === 'wait') {
    const c = r.capacity;
    s = rho >= 0.999 ? 1e3 * rho : Math.pow(Math.max(rho, 0), Math.sqrt(2 * (c + 1)) - 1) / (c * (1 - rho));
  }
  return r.util >= cfg.overloadUtil && r.queue > r.capacity ? s + OVERLOADED : s;
}

/**
 * Choose a node for `req`: draw k eligible candidates (capacity-weighted by default) and take the
 * one with the lowest score [c41 step 3]. Eligible: alive, report fresh, memory below the high
 * water mark counting this balancer's pending placements, not excluded. No eligible node is an
 * expected outcome: `{ ok: false, error: NoCapacity }`.
 */
export function selectNode(
  view: ClusterView,
  req: PlaceRequest,
  cfg: SelectConfig,
  random: Uniform,
  pendingOf: PendingOf = noPending,
): Result<Placement, NoCapacity> {
  const nodes = view.nodes;
  const n = nodes.length;
  const cost = req.cost ?? 1;
  const mem = req.mem ?? 0;
  const exclude = req.exclude;
  const byCapacity = cfg.sampling === 'capacity';
  // Pass 1: what the reports alone rule out, and the total weight left. No allocation: this runs
  // for every placement.
  let total = 0;
  let dead = 0;
  let stale = 0;
  let memory = 0;
  let excluded = 0;
  for (let i = 0; i < n; i++) {
    const r = nodes[i] as NodeReport;
    const why = ruledOut(view, r, exclude, mem, cfg);
    if (why === 0) total += byCapacity ? r.capacity : 1;
    else if (why === 1) excluded++;
    else if (why === 2) dead++;
    else if (why === 3) stale++;
    else memory++;
  }
  // Draw candidates without replacement; the ledger is read only for them. A candidate that our
  // own pending placements push past the memory high water mark is dropped and another drawn.
  const picked: number[] = [];
  let best = -1;
  let bestScore = Infinity;
  let draws = 0;
  while (draws < cfg.choices && total > 1e-12) {
    let u = random() * total;
    let i = -1;
    let last = -1;
    for (let j = 0; j < n; j++) {
      const r = nodes[j] as NodeReport;
      if (ruledOut(view, r, exclude, mem, cfg) !== 0 || picked.includes(j)) continue;
      last = j;
      u -= byCapacity ? r.capacity : 1;
      if (u < 0) {
        i = j;
        break;
      }
    }
    if (i < 0) i = last;
    if (i < 0) break;
    const r = nodes[i] as NodeReport;
    picked.push(i);
    total -= byCapacity ? r.capacity : 1;
    const p = pendingOf(r.node, r.at);
    if (r.memUsed + p.mem + mem > cfg.memHighWater * r.memLimit) {
      memory++;
      continue;
    }
    draws++;
    const s = score(r, p.cost, cost, cfg);
    if (s < bestScore) {
      bestScore = s;
      best = i;
    }
  }
  if (best < 0) return fail({ reason: 'no-eligible-node', nodes: n, dead, stale, memory, excluded });
  return ok({ node: (nodes[best] as NodeReport).node, index: best, score: bestScore });
}

/** 0 eligible on the report alone; else why not: 1 excluded, 2 dead, 3 stale, 4 memory. */
function ruledOut(view: ClusterView, r: NodeReport, exclude: readonly string[] | undefined, mem: number, cfg: SelectConfig): number {
  if (exclude !== undefined && exclude.includes(r.node)) return 1;
  if (r.alive === false || r.capacity <= 0) return 2;
  if (view.now - r.at > cfg.maxReportAgeMs) return 3;
  if (r.memUsed + mem > cfg.memHighWater * r.memLimit) return 4;
  return 0;
}
