// The placement policies behind one interface: Weft's balancer (power-of-k with optimistic local
// increments, resource-aware, capacity-weighted) and the baselines it is compared with in the
// simulator. Each object is one balancer's state; the choice itself is a pure function.

import { ArgumentError, fail, ok, rejectUnknown, type Result } from '../runtime/index.ts';
import { PlacementLedger, type Pending } from './ledger.ts';
import { healthy, selectConfig, selectNode, type SelectConfig, type SelectOptions } from './select.ts';
import type { ClusterView, NoCapacity, NodeReport, Placement, PlaceRequest, Uniform } from './types.ts';

/** One balancer's placement policy. `release` is told when work it placed has ended. */
export interface PlacementPolicy {
  readonly name: string;
  place(view: ClusterView, req: PlaceRequest): Result<Placement, NoCapacity>;
  release?(node: string, cost: number, at?: number): void;
}

export const POLICY_KINDS = ['weft', 'random', 'round-robin', 'least-connections', 'p2c', 'jsq'] as const;
export type PolicyKind = (typeof POLICY_KINDS)[number];

export interface BalancerOptions extends SelectOptions {
  /** Uniform randomness in [0,1): Math.random live, a seeded generator in tests and the simulator. */
  random: Uniform;
  /**
   * Balancers placing work on the same nodes (this one included). Each sees only its own recent
   * placements; with `peers` > 1 it counts them that many times over, as the others draw from the
   * same view and place about as much on each node. Default 1.
   */
  peers?: number;
}

/**
 * Weft's balancer [c13-c16, c41, c43]: selectNode() plus a ledger of this balancer's own recent
 * placements, counted against each node until a report measured after them arrives.
 */
export class Balancer implements PlacementPolicy {
  readonly name = 'weft';
  readonly config: SelectConfig;
  #random: Uniform;
  #ledger = new PlacementLedger();
  #peers: number;
  #pendingOf = (node: string, at: number): Pending => {
    const p = this.#ledger.pending(node, at);
    return this.#peers === 1 ? p : { cost: p.cost * this.#peers, mem: p.mem * this.#peers, count: p.count };
  };

  constructor(options: BalancerOptions) {
    const { random, peers, ...rest } = options;
    if (typeof random !== 'function') throw new ArgumentError('Balancer: random must be a function', 'random');
    this.#peers = peers ?? 1;
    if (!(this.#peers >= 1)) throw new ArgumentError('Balancer: peers must be >= 1', 'peers');
    this.config = selectConfig(rest, 'Balancer');
    this.#random = random;
  }

  place(view: ClusterView, req: PlaceRequest): Result<Placement, NoCapacity> {
    const r = selectNode(view, req, this.config, this.#random, this.#pendingOf);
    if (r.ok) this.#ledger.record(r.value.node, view.now, req.cost ?? 1, req.mem ?? 0);
    return r;
  }

  /**
   * Work this balancer placed on `node` has ended at `at`: counted as a negative increment until
   * a report measured after it arrives (the report then shows the departure itself).
   */
  release(node: string, cost: number, at?: number, mem = 0): void {
    if (at !== undefined) this.#ledger.record(node, at, -cost, -mem);
  }

  /** The ledger, for the statistics of the balancer itself (how much it counts as pending). */
  get ledger(): PlacementLedger {
    return this.#ledger;
  }
}

export interface BaselineOptions {
  random: Uniform;
  /** Reports older than this are treated as a failed health check. Default 5000. */
  maxReportAgeMs?: number;
}

function eligible(view: ClusterView, req: PlaceRequest, maxAge: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < view.nodes.length; i++) {
    const r = view.nodes[i] as NodeReport;
    if (req.exclude !== undefined && req.exclude.includes(r.node)) continue;
    if (healthy(view, r, maxAge)) out.push(i);
  }
  return out;
}

function none(view: ClusterView): { ok: false; error: NoCapacity } {
  return fail({ reason: 'no-eligible-node', nodes: view.nodes.length, dead: 0, stale: 0, memory: 0, excluded: 0 });
}

function pick(view: ClusterView, i: number, score: number): Result<Placement, NoCapacity> {
  return ok({ node: (view.nodes[i] as NodeReport).node, index: i, score });
}

/** Argmin of f over candidates, scanning from a random offset so ties do not favour node 0. */
function argmin(cands: number[], f: (i: number) => number, random: Uniform): number {
  const off = Math.floor(random() * cands.length);
  let best = -1;
  let bestV = Infinity;
  for (let j = 0; j < cands.length; j++) {
    const i = cands[(j + off) % cands.length] as number;
    const v = f(i);
    if (v < bestV) {
      bestV = v;
      best = i;
    }
  }
  return best;
}

/** Random, weighted by capacity (blind to load, so immune to stale reports). */
export class RandomPolicy implements PlacementPolicy {
  readonly name = 'random';
  constructor(private readonly o: Required<BaselineOptions>) {}
  place(view: ClusterView, req: PlaceRequest): Result<Placement, NoCapacity> {
    const c = eligible(view, req, this.o.maxReportAgeMs);
    if (c.length === 0) return none(view);
    let total = 0;
    for (const i of c) total += (view.nodes[i] as NodeReport).capacity;
    let u = this.o.random() * total;
    for (const i of c) {
      u -= (view.nodes[i] as NodeReport).capacity;
      if (u < 0) return pick(view, i, 0);
    }
    return pick(view, c[c.length - 1] as number, 0);
  }
}

/** Smooth weighted round-robin (the nginx scheme): capacity-proportional, evenly interleaved. */
export class RoundRobinPolicy implements PlacementPolicy {
  readonly name = 'round-robin';
  #current = new Map<string, number>();
  constructor(private readonly o: Required<BaselineOptions>) {}
  place(view: ClusterView, req: PlaceRequest): Result<Placement, NoCapacity> {
    const c = eligible(view, req, this.o.maxReportAgeMs);
    if (c.length === 0) return none(view);
    let total = 0;
    let best = -1;
    let bestV = -Infinity;
    for (const i of c) {
      const r = view.nodes[i] as NodeReport;
      const v = (this.#current.get(r.node) ?? 0) + r.capacity;
      this.#current.set(r.node, v);
      total += r.capacity;
      if (v > bestV) {
        bestV = v;
        best = i;
      }
    }
    const chosen = (view.nodes[best] as NodeReport).node;
    this.#current.set(chosen, bestV - total);
    return pick(view, best, 0);
  }
}

/** Weighted least-connections on this balancer's own count of live work (as a proxy keeps it). */
export class LeastConnectionsPolicy implements PlacementPolicy {
  readonly name = 'least-connections';
  #active = new Map<string, number>();
  constructor(private readonly o: Required<BaselineOptions>) {}
  place(view: ClusterView, req: PlaceRequest): Result<Placement, NoCapacity> {
    const c = eligible(view, req, this.o.maxReportAgeMs);
    if (c.length === 0) return none(view);
    const cost = req.cost ?? 1;
    const f = (i: number) => {
      const r = view.nodes[i] as NodeReport;
      return ((this.#active.get(r.node) ?? 0) + cost) / r.capacity;
    };
    const best = argmin(c, f, this.o.random);
    const node = (view.nodes[best] as NodeReport).node;
    this.#active.set(node, (this.#active.get(node) ?? 0) + cost);
    return pick(view, best, f(best));
  }
  release(node: string, cost: number): void {
    const v = (this.#active.get(node) ?? 0) - cost;
    if (v <= 1e-9) this.#active.delete(node);
    else this.#active.set(node, v);
  }
}

/** Classic power of two choices: two uniform draws, the lower reported queue per capacity wins. */
export class P2CPolicy implements PlacementPolicy {
  readonly name = 'p2c';
  constructor(private readonly o: Required<BaselineOptions>) {}
  place(view: ClusterView, req: PlaceRequest): Result<Placement, NoCapacity> {
    const c = eligible(view, req, this.o.maxReportAgeMs);
    if (c.length === 0) return none(view);
    const a = c[Math.floor(this.o.random() * c.length)] as number;
    let b = a;
    if (c.length > 1) {
      const j = Math.floor(this.o.random() * (c.length - 1));
      b = c[j] as number;
      if (b === a) b = c[c.length - 1] as number;
    }
    const qa = queuePerCapacity(view.nodes[a] as NodeReport);
    const qb = queuePerCapacity(view.nodes[b] as NodeReport);
    return qb < qa ? pick(view, b, qb) : pick(view, a, qa);
  }
}

/** Join the shortest (reported) queue per capacity, over every healthy node. */
export class JsqPolicy implements PlacementPolicy {
  readonly name = 'jsq';
  constructor(private readonly o: Required<BaselineOptions>) {}
  place(view: ClusterView, req: PlaceRequest): Result<Placement, NoCapacity> {
    const c = eligible(view, req, this.o.maxReportAgeMs);
    if (c.length === 0) return none(view);
    const f = (i: number) => queuePerCapacity(view.nodes[i] as NodeReport);
    const best = argmin(c, f, this.o.random);
    return pick(view, best, f(best));
  }
}

function queuePerCapacity(r: NodeReport): number {
  return r.queue / r.capacity;
}

/** One balancer's policy of the given kind. `options` beyond `random` go to Weft's balancer only. */
export function createPolicy(kind: PolicyKind, options: BalancerOptions): PlacementPolicy {
  rejectUnknown('createPolicy', options, ['random', 'peers', 'choices', 'maxReportAgeMs', 'memHighWater', 'sampling', 'overloadUtil', 'scoring']);
  const base: Required<BaselineOptions> = { random: options.random, maxReportAgeMs: options.maxReportAgeMs ?? 5000 };
  switch (kind) {
    case 'weft':
      return new Balancer(options);
    case 'random':
      return new RandomPolicy(base);
    case 'round-robin':
      return new RoundRobinPolicy(base);
    case 'least-connections':
      return new LeastConnectionsPolicy(base);
    case 'p2c':
      return new P2CPolicy(base);
    case 'jsq':
      return new JsqPolicy(base);
    default:
      throw new ArgumentError(`createPolicy: unknown policy kind "${String(kind)}" (known: ${POLICY_KINDS.join(', ')})`, 'kind');
  }
}
