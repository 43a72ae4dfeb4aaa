// The cluster view [c16, c38]: a pure aggregator fed `stat` envelopes (node and box reports) with
// the time each arrived. No clock, no timers, no I/O: the live head-end and the simulator feed it
// the same way. Liveness is the timing process's call (setAlive); reports never overrule it.

import { ArgumentError, type Envelope, fail, ok, positiveInt, rejectUnknown, type Result } from '../../runtime/index.ts';
import type { ClusterView, NodeReport } from '../../policy/index.ts';
import { type BoxStats, type NodeStats, parseBoxStats, parseNodeStats, STAT_OPS } from './statistics.ts';

export interface AggregatorOptions {
  /** A node whose last report is older than this (ms) is `stale`. Default 5000. */
  staleAfterMs?: number;
  /** Nodes and boxes not heard from for this long (ms) are dropped by prune(). Default 120000. */
  forgetAfterMs?: number;
}

export type NodeState = 'ok' | 'stale' | 'dead';

export interface NodeEntry {
  stats: NodeStats;
  /** When the report arrived, on the aggregator's clock. Ages use it, so node clock skew does not matter. */
  receivedAt: number;
  ageMs: number;
  state: NodeState;
}

/** A snapshot any node can read (and send as the reply to `stats.view`). */
export interface StatsView {
  at: number;
  /** Sorted by node id. */
  nodes: NodeEntry[];
  boxes: { count: number; fresh: number };
  totals: { nodes: number; alive: number; sessions: number; workers: number; capacity: number; load: number };
}

export interface AggregatorStats {
  nodeReports: number;
  boxReports: number;
  late: number;
  malformed: number;
  ignored: number;
}

export type Ingested = 'node' | 'box';
/** Why an envelope was not taken: not statistics, older than what we have, or a bad body. */
export type NotIngested = { reason: 'ignored' | 'late' | 'malformed'; detail: string };

interface NodeSlot {
  stats: NodeStats;
  receivedAt: number;
}

interface BoxSlot {
  stats: BoxStats;
  receivedAt: number;
}

export class StatsAggregator {
  readonly staleAfterMs: number;
  readonly forgetAfterMs: number;
  #nodes = new Map<string, NodeSlot>();
  #boxes = new Map<string, BoxSlot>();
  #dead = new Set<string>();
  #counts: AggregatorStats = { nodeReports: 0, boxReports: 0, late: 0, malformed: 0, ignored: 0 };

  constructor(options: AggregatorOptions = {}) {
    rejectUnknown('StatsAggregator', options, ['staleAfterMs', 'forgetAfterMs']);
    this.staleAfterMs = positiveInt('StatsAggregator', 'staleAfterMs', options.staleAfterMs ?? 5000);
    this.forgetAfterMs = positiveInt('StatsAggregator', 'forgetAfterMs', options.forgetAfterMs ?? 120_000);
  }

  /** Take one envelope that arrived at `receivedAt`. Anything but a well-formed report is refused as a value. */
  ingest(env: Envelope, receivedAt: number): Result<Ingested, NotIngested> {
    if (env.kind !== 'stat' || (env.op !== STAT_OPS.node && env.op !== STAT_OPS.box)) {
      this.#counts.ignored++;
      return fail({ reason: 'ignored', detail: `${env.kind} ${env.op ?? '(no op)'} is not a statistics report` });
    }
    if (env.op === STAT_OPS.node) {
      const parsed = parseNodeStats(env.body);
      if (!parsed.ok) return this.#malformed(parsed.error);
      return this.ingestNode(parsed.value, receivedAt);
    }
    const parsed = parseBoxStats(env.body);
    if (!parsed.ok) return this.#malformed(parsed.error);
    return this.ingestBox(parsed.value, receivedAt);
  }

  /** A checked node report. A report older than the one held (same incarnation, lower seq; or an older incarnation) is late. */
  ingestNode(stats: NodeStats, receivedAt: number): Result<Ingested, NotIngested> {
    const have = this.#nodes.get(stats.node);
    if (have !== undefined) {
      const h = have.stats;
      if (stats.incarnation < h.incarnation || (stats.incarnation === h.incarnation && stats.seq <= h.seq)) {
        this.#counts.late++;
        return fail({ reason: 'late', detail: `${stats.node} report ${stats.incarnation}/${stats.seq} after ${h.incarnation}/${h.seq}` });
      }
    }
    this.#nodes.set(stats.node, { stats, receivedAt });
    this.#counts.nodeReports++;
    return ok('node');
  }

  /** A checked box report; the latest to arrive wins (a rebooted box starts its seq over). */
  ingestBox(stats: BoxStats, receivedAt: number): Result<Ingested, NotIngested> {
    this.#boxes.set(stats.box, { stats, receivedAt });
    this.#counts.boxReports++;
    return ok('box');
  }

  /** The timing process's verdict [c16]: a dead node stays dead until it is declared alive again. */
  setAlive(node: string, alive: boolean): void {
    if (typeof node !== 'string') throw new ArgumentError('setAlive: node must be a string', 'node');
    if (alive) this.#dead.delete(node);
    else this.#dead.add(node);
  }

  /** The latest report of one box, for a placement decision [c5]. */
  box(box: string): BoxStats | undefined {
    return this.#boxes.get(box)?.stats;
  }

  node(node: string): NodeStats | undefined {
    return this.#nodes.get(node)?.stats;
  }

  view(now: number): StatsView {
    const nodes: NodeEntry[] = [];
    const totals = { nodes: 0, alive: 0, sessions: 0, workers: 0, capacity: 0, load: 0 };
    for (const id of [...this.#nodes.keys()].sort()) {
      const slot = this.#nodes.get(id) as NodeSlot;
      const ageMs = Math.max(0, now - slot.receivedAt);
      const state: NodeState = this.#dead.has(id) ? 'dead' : ageMs > this.staleAfterMs ? 'stale' : 'ok';
      nodes.push({ stats: slot.stats, receivedAt: slot.receivedAt, ageMs, state });
      totals.nodes++;
      if (state === 'dead') continue;
      totals.alive++;
      totals.sessions += slot.stats.sessions;
      totals.workers += slot.stats.workers;
      totals.capacity += slot.stats.capacity;
      totals.load += slot.stats.load;
    }
    let fresh = 0;
    for (const b of this.#boxes.values()) if (now - b.receivedAt <= this.staleAfterMs) fresh++;
    return { at: now, nodes, boxes: { count: this.#boxes.size, fresh }, totals };
  }

  /**
   * The placement policy's input [c13-c16]. `at` is the arrival time on this clock, so
   * `now - at` is the report's age whatever the node's clock says.
   */
  clusterView(now: number): ClusterView {
    const nodes: NodeReport[] = [];
    for (const id of [...this.#nodes.keys()].sort()) {
      const { stats: s, receivedAt } = this.#nodes.get(id) as NodeSlot;
      nodes.push({
        node: s.node,
        at: receivedAt,
        capacity: s.capacity,
        load: s.load,
        apps: s.apps,
        sessions: s.sessions,
        queue: s.queue,
        util: s.util,
        waitMs: s.waitMs,
        memUsed: s.memory.rss,
        memLimit: s.memory.limit,
        alive: !this.#dead.has(id),
      });
    }
    return { now, nodes };
  }

  /** Drop nodes and boxes not heard from for forgetAfterMs; gives how many went. */
  prune(now: number): number {
    let n = 0;
    for (const [id, slot] of this.#nodes) {
      if (now - slot.receivedAt > this.forgetAfterMs) {
        this.#nodes.delete(id);
        this.#dead.delete(id);
        n++;
      }
    }
    for (const [id, slot] of this.#boxes) {
      if (now - slot.receivedAt > this.forgetAfterMs) {
        this.#boxes.delete(id);
        n++;
      }
    }
    return n;
  }

  stats(): AggregatorStats {
    return { ...this.#counts };
  }

  #malformed(detail: string): Result<Ingested, NotIngested> {
    this.#counts.malformed++;
    return fail({ reason: 'malformed', detail });
  }
}
