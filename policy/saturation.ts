// Spawning and spreading [c25, c30]: when every node serving a portion saturates, start another
// server portion on the node the statistics pick (load of this and other applications), and split
// the portion's requests so the nodes' utilisations level out. Pure: decisions, no side effects.

import { ArgumentError, rejectUnknown } from '../runtime/index.ts';
import { healthy, selectConfig, selectNode, type PendingOf, type SelectOptions } from './select.ts';
import type { ClusterView, NodeReport, Uniform } from './types.ts';

/** A server portion and the nodes that serve it; the caller keeps this between decisions. */
export interface PortionState {
  readonly app: string;
  /** Nodes serving the portion, the primary first. */
  readonly nodes: readonly string[];
  /** Share of the portion's requests each node takes (same order; sums to 1). */
  readonly shares: readonly number[];
  /** The portion's total demand in capacity units (from the statistics process). */
  readonly demand: number;
  /** Since when every node of the portion has been calm (below lowUtil); undefined if not. */
  readonly calmSince?: number;
  /** Since when every node of the portion has been saturated; undefined if not. */
  readonly hotSince?: number;
  /** When nodes were last added or removed. */
  readonly changedAt?: number;
}

export interface ScaleOptions {
  /** A node at or above this utilisation ... Default 0.95. */
  highUtil?: number;
  /** ... whose critical-section wait (from request start [c24]) is at or above this is saturated. Default 50 ms. */
  waitTargetMs?: number;
  /** Saturation must last this long before a spawn (one busy report is noise). Default 3000 ms. */
  hotHoldMs?: number;
  /** Replicas retire once every node is below this utilisation for holdMs. Default 0.7. */
  lowUtil?: number;
  /** Hold time before retiring a replica (falling load must last). Default 30 000 ms. */
  holdMs?: number;
  /** Minimum time between two changes of one portion (reports must catch up). Default 5000 ms. */
  cooldownMs?: number;
  /** Most nodes one portion may span. Default 4. */
  maxNodes?: number;
  /** Options for choosing the new node (freshness, memory high water). */
  select?: SelectOptions;
}

export type ScaleConfig = Required<Omit<ScaleOptions, 'select'>> & { select: SelectOptions };

export type ScaleDecision =
  | { kind: 'spawn'; app: string; node: string; reason: string }
  | { kind: 'retire'; app: string; node: string; reason: string }
  | { kind: 'none'; reason: string };

const KNOWN: readonly (keyof ScaleOptions)[] = ['highUtil', 'waitTargetMs', 'hotHoldMs', 'lowUtil', 'holdMs', 'cooldownMs', 'maxNodes', 'select'];

export function scaleConfig(options: ScaleOptions = {}, where = 'scaleConfig'): ScaleConfig {
  rejectUnknown(where, options, KNOWN);
  const c: ScaleConfig = {
    highUtil: options.highUtil ?? 0.95,
    waitTargetMs: options.waitTargetMs ?? 50,
    hotHoldMs: options.hotHoldMs ?? 3000,
    lowUtil: options.lowUtil ?? 0.7,
    holdMs: options.holdMs ?? 30_000,
    cooldownMs: options.cooldownMs ?? 5000,
    maxNodes: options.maxNodes ?? 4,
    select: options.select ?? {},
  };
  if (!(c.lowUtil < c.highUtil)) throw new ArgumentError(`${where}: lowUtil must be below highUtil`, 'lowUtil');
  if (!Number.isInteger(c.maxNodes) || c.maxNodes < 1) throw new ArgumentError(`${where}: maxNodes must be an integer >= 1`, 'maxNodes');
  for (const k of ['waitTargetMs', 'hotHoldMs', 'holdMs', 'cooldownMs'] as const) {
    if (!(c[k] >= 0)) throw new ArgumentError(`${where}: ${k} must be >= 0`, k);
  }
  selectConfig(c.select, `${where}.select`);
  return c;
}

/**
 * Saturated: busy and requests wait too long for the critical section [c20, c24]. Both, because a
 * busy node whose requests do not wait is doing its job, and a wait on a node with idle workers
 * is a lock problem that another node would not fix.
 */
export function saturated(r: NodeReport, cfg: Pick<ScaleConfig, 'highUtil' | 'waitTargetMs'>): boolean {
  return r.util >= cfg.highUtil && r.waitMs >= cfg.waitTargetMs;
}

/**
 * Decide whether a portion needs another node, can give one back, or stays. Spawn when every node
 * serving it has been saturated for hotHoldMs (no headroom left to shift requests to) [c25, c30
 * step 3]; retire the last-added node when every node has been calm for holdMs. Returns the
 * decision and the portion's new `calmSince` and `hotSince`, which the caller keeps.
 */
export function decideScale(
  view: ClusterView,
  portion: PortionState,
  cfg: ScaleConfig,
  random: Uniform,
  pendingOf?: PendingOf,
): { decision: ScaleDecision; calmSince: number | undefined; hotSince: number | undefined } {
  const byId = new Map(view.nodes.map((r) => [r.node, r]));
  const reports = portion.nodes.map((n) => byId.get(n));
  const calm = reports.every((r) => r !== undefined && r.util < cfg.lowUtil && r.waitMs < cfg.waitTargetMs);
  const calmSince = calm ? (portion.calmSince ?? view.now) : undefined;
  const cooling = portion.changedAt !== undefined && view.now - portion.changedAt < cfg.cooldownMs;
  const maxAge = selectConfig(cfg.select).maxReportAgeMs;
  const live = reports.filter((r): r is NodeReport => r !== undefined && healthy(view, r, maxAge));
  const allSaturated = live.length > 0 && live.every((r) => saturated(r, cfg));
  const hotSince = allSaturated ? (portion.hotSince ?? view.now) : undefined;
  const none = (reason: string) => ({ decision: { kind: 'none' as const, reason }, calmSince, hotSince });

  if (allSaturated) {
    if (view.now - (hotSince as number) < cfg.hotHoldMs) return none('saturated, holding');
    if (cooling) return none('saturated, cooling down');
    if (portion.nodes.length >= cfg.maxNodes) return none('saturated at maxNodes');
    // [c30 step 2-3] the new node is chosen from every node's load, this app's and the others'.
    const sel = selectConfig({ ...cfg.select, choices: view.nodes.length });
    const move = portion.demand / (portion.nodes.length + 1);
    const hot = view.nodes.filter((r) => !portion.nodes.includes(r.node) && saturated(r, cfg)).map((r) => r.node);
    const r = selectNode(view, { app: portion.app, cost: move, exclude: [...portion.nodes, ...hot] }, sel, random, pendingOf);
    if (!r.ok) {
      const reason = r.error.excluded > portion.nodes.length ? 'saturated, every candidate is too' : 'saturated, no eligible node';
      return none(reason);
    }
    return { decision: { kind: 'spawn', app: portion.app, node: r.value.node, reason: 'every serving node saturated' }, calmSince, hotSince: undefined };
  }
  if (portion.nodes.length > 1 && calmSince !== undefined && view.now - calmSince >= cfg.holdMs && !cooling) {
    const node = portion.nodes[portion.nodes.length - 1] as string;
    return { decision: { kind: 'retire', app: portion.app, node, reason: `calm for ${cfg.holdMs} ms` }, calmSince: undefined, hotSince };
  }
  return none('within limits');
}

/** One node of a split: its capacity and the load it carries apart from this portion. */
export interface SplitEntry {
  readonly capacity: number;
  readonly otherLoad: number;
}

/**
 * Water-filling split of `demand` over nodes [c30 step 4]: find the level L at which
 * sum(max(0, L*capacity - otherLoad)) = demand, so that every node taking a share ends at the same
 * utilisation and no node takes a share it has no room for. Returns shares that sum to 1.
 */
export function splitShares(entries: readonly SplitEntry[], demand: number): number[] {
  const n = entries.length;
  if (n === 0) return [];
  const caps = entries.map((e) => Math.max(0, e.capacity));
  const capSum = caps.reduce((a, b) => a + b, 0);
  if (capSum === 0) return entries.map(() => 1 / n);
  if (!(demand > 0)) return caps.map((c) => c / capSum);
  const order = entries
    .map((e, i) => ({ i, start: caps[i] === 0 ? Infinity : Math.max(0, e.otherLoad) / (caps[i] as number) }))
    .sort((a, b) => a.start - b.start);
  // Raise the level node by node: between starts, filled volume grows linearly with the level.
  let capIn = 0;
  let baseIn = 0;
  let level = 0;
  for (let j = 0; j < order.length; j++) {
    const o = order[j] as { i: number; start: number };
    if (o.start === Infinity) break;
    capIn += caps[o.i] as number;
    baseIn += Math.max(0, (entries[o.i] as SplitEntry).otherLoad);
    level = (demand + baseIn) / capIn;
    const next = order[j + 1];
    if (next === undefined || level <= next.start) break;
  }
  const x = entries.map((e, i) => Math.max(0, level * (caps[i] as number) - Math.max(0, e.otherLoad)));
  const sum = x.reduce((a, b) => a + b, 0);
  return sum > 0 ? x.map((v) => v / sum) : caps.map((c) => c / capSum);
}

/** How hard a node is pressed: utilisation plus its critical-section wait in units of the target. */
export function pressure(r: NodeReport, waitTargetMs: number): number {
  return r.util + r.waitMs / waitTargetMs;
}

export interface ShareOptions {
  /** Fraction of the way to the water-filling split a new node starts at. Default 0.5. */
  damping?: number;
  /** Feedback gain on pressure differences, per decision. Default 0.5. */
  gain?: number;
  maxReportAgeMs?: number;
  waitTargetMs?: number;
}

/**
 * Shares for a portion from the current view [c30 step 4]. Two parts, because the statistics
 * model (load per session) cannot see a node that got slower: a node that has no share yet
 * starts at part of its water-filling share (model, at least 1/2n), and every share then follows measured
 * pressure (utilisation plus wait over target): shares move from pressed nodes to the others
 * multiplicatively, at most by e per decision. Dead or unreported nodes get no share.
 */
export function portionShares(view: ClusterView, portion: PortionState, options: ShareOptions = {}): number[] {
  const damping = options.damping ?? 0.5;
  const gain = options.gain ?? 0.5;
  const maxAge = options.maxReportAgeMs ?? 5000;
  const waitTarget = options.waitTargetMs ?? 50;
  const byId = new Map(view.nodes.map((r) => [r.node, r]));
  const reports = portion.nodes.map((n) => {
    const r = byId.get(n);
    return r !== undefined && healthy(view, r, maxAge) ? r : undefined;
  });
  const entries = reports.map((r, i) => (r === undefined ? { capacity: 0, otherLoad: 0 } : { capacity: r.capacity, otherLoad: r.load - (portion.shares[i] ?? 0) * portion.demand }));
  const model = splitShares(entries, portion.demand);
  // A node without a share starts at part of its model share, but at least 1/(2n): the model
  // says nothing when the pressed node looks fine on paper, and feedback cannot grow a zero.
  const floor = 1 / (2 * portion.nodes.length);
  const seeded = reports.map((r, i) => (r === undefined ? 0 : (portion.shares[i] ?? 0) > 0 ? (portion.shares[i] as number) : Math.max(floor, damping * (model[i] as number))));
  const seedSum = seeded.reduce((a, b) => a + b, 0);
  if (seedSum <= 0) return model;
  const w = seeded.map((x) => x / seedSum);
  const p = reports.map((r) => (r === undefined ? 0 : pressure(r, waitTarget)));
  const mean = w.reduce((a, x, i) => a + x * (p[i] as number), 0);
  // Live nodes keep at least 1% so feedback can bring them back; retiring is decideScale's job.
  const moved = w.map((x, i) => (reports[i] === undefined ? 0 : Math.max(0.01, x * Math.exp(Math.max(-1, Math.min(1, -gain * ((p[i] as number) - mean)))))));
  const sum = moved.reduce((a, b) => a + b, 0);
  return moved.map((x) => x / sum);
}

/** Index of the node that takes a request, given shares and a uniform draw u in [0,1). */
export function pickShare(shares: readonly number[], u: number): number {
  let acc = 0;
  for (let i = 0; i < shares.length; i++) {
    acc += shares[i] as number;
    if (u < acc) return i;
  }
  return Math.max(0, shares.length - 1);
}
