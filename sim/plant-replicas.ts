// Replicated portions in the simulator [c25, c30]: which (home node, app) portions have extra
// nodes and their shares, the load each node carries for them, and the per-report tick that
// applies policy/'s decideScale and portionShares. Node and app are indexes here.

import { decideScale, pickShare, portionShares } from '../policy/index.ts';
import type { ClusterView, HostedWork, PortionState, ScaleConfig, Uniform } from '../policy/index.ts';

interface Portion {
  home: number;
  app: number;
  nodes: number[];
  shares: number[];
  calmSince: number | undefined;
  hotSince: number | undefined;
  changedAt: number | undefined;
}

export class ReplicaSet {
  /** Portions on more than one node, by home * apps + app. */
  readonly #active = new Map<number, Portion>();
  /** Portions on one node whose timers (hot, changed) must survive until the next tick. */
  readonly #idle = new Map<number, Portion>();
  spawns = 0;
  retires = 0;

  constructor(
    private readonly apps: readonly string[],
    private readonly ids: readonly string[],
    private readonly scale: ScaleConfig,
    private readonly random: Uniform,
    private readonly maxReportAgeMs: number,
  ) {}

  /** The node that serves one request of a session homed on `home` (u uniform in [0,1)). */
  route(home: number, app: number, u: number): number {
    const p = this.#active.get(home * this.apps.length + app);
    return p === undefined ? home : (p.nodes[pickShare(p.shares, u)] as number);
  }

  /** Share of its own portion of `app` that `home` keeps. */
  ownShare(home: number, app: number): number {
    return this.#active.get(home * this.apps.length + app)?.shares[0] ?? 1;
  }

  /** The replicas node `i` runs for other nodes' portions, appended to `work` (policy nodeLoad) [c30]. */
  hostedWork(i: number, demand: (home: number, app: number) => number, work: HostedWork[]): void {
    for (const p of this.#active.values()) {
      for (let k = 1; k < p.nodes.length; k++) {
        if (p.nodes[k] !== i) continue;
        work.push({ app: this.apps[p.app] as string, kind: 'replica', count: 1, cost: demand(p.home, p.app), share: p.shares[k] as number });
      }
    }
  }

  /** Extra nodes in use over all portions. */
  get count(): number {
    let n = 0;
    for (const p of this.#active.values()) n += p.nodes.length - 1;
    return n;
  }

  /** Node `i` is dead: its own portions go, and it leaves the others. */
  dropNode(i: number): void {
    for (const [key, p] of this.#active) {
      if (p.home === i) this.#active.delete(key);
      else if (p.nodes.includes(i)) {
        const k = p.nodes.indexOf(i);
        p.nodes.splice(k, 1);
        p.shares.splice(k, 1);
        const sum = p.shares.reduce((x, y) => x + y, 0);
        p.shares = sum > 0 ? p.shares.map((v) => v / sum) : p.nodes.map(() => 1 / p.nodes.length);
        if (p.nodes.length === 1) this.#active.delete(key);
      }
    }
  }

  /** One decision round over every portion of every live node, on the current view. */
  tick(view: ClusterView, now: number, alive: Uint8Array, demand: (home: number, app: number) => number): void {
    const nA = this.apps.length;
    const ids = this.ids;
    for (let h = 0; h < alive.length; h++) {
      if (alive[h] === 0) continue;
      // One spawn per node per tick: the portion with the largest demand goes first.
      let best = -1;
      let bestD = 0;
      for (let a = 0; a < nA; a++) {
        const d = demand(h, a);
        if (d > bestD) {
          bestD = d;
          best = a;
        }
      }
      for (let a = 0; a < nA; a++) {
        const key = h * nA + a;
        const p = this.#active.get(key) ?? this.#idle.get(key) ?? { home: h, app: a, nodes: [h], shares: [1], calmSince: undefined, hotSince: undefined, changedAt: undefined };
        const state: PortionState = {
          app: this.apps[a] as string, nodes: p.nodes.map((n) => ids[n] as string), shares: p.shares, demand: demand(h, a),
          calmSince: p.calmSince, hotSince: p.hotSince, changedAt: p.changedAt,
        };
        const { decision, calmSince, hotSince } = decideScale(view, state, this.scale, this.random);
        p.calmSince = calmSince;
        p.hotSince = hotSince;
        if (decision.kind === 'spawn' && a === best) {
          p.nodes.push(ids.indexOf(decision.node));
          p.shares.push(0);
          p.changedAt = now;
          this.spawns++;
        } else if (decision.kind === 'retire') {
          const k = p.nodes.indexOf(ids.indexOf(decision.node));
          p.nodes.splice(k, 1);
          p.shares.splice(k, 1);
          p.changedAt = now;
          this.retires++;
        }
        if (p.nodes.length === 1 && (p.hotSince !== undefined || p.changedAt !== undefined)) this.#idle.set(key, p);
        else this.#idle.delete(key);
        if (p.nodes.length > 1) {
          const shown = { ...state, nodes: p.nodes.map((n) => ids[n] as string), shares: p.shares };
          p.shares = portionShares(view, shown, { maxReportAgeMs: this.maxReportAgeMs, waitTargetMs: this.scale.waitTargetMs });
          this.#active.set(key, p);
        } else this.#active.delete(key);
      }
    }
  }
}
