// Prometheus exposition of a console snapshot (prom-client, one registry per console: no global
// state). Values are read at scrape time; labels are node ids only (bounded by the cluster's
// size), never sessions or boxes, so a node with a million sessions scrapes as fast as one.
import { Counter, Gauge, Registry } from 'prom-client';
import type { ConsoleSnapshot, NodeRow } from './source.ts';

type NodeField = Exclude<keyof NodeRow, 'node' | 'state'>;
const DRAIN_STATES = ['serving', 'draining', 'drained', 'left', 'stuck'];
const NODE_GAUGES: [NodeField, string, string][] = [
  ['sessions', 'weft_node_sessions', 'sessions hosted by the node'],
  ['workers', 'weft_node_workers', 'worker threads of the node'],
  ['cpu', 'weft_node_cpu_ratio', "busy fraction of the node's CPU cores (0..1)"],
  ['rssBytes', 'weft_node_rss_bytes', 'resident set size of the node process'],
  ['loopP99Ms', 'weft_node_event_loop_p99_ms', 'event-loop delay p99 over the last interval'],
  ['waitMs', 'weft_node_critical_wait_ms', 'critical-section wait of the worst portion (EWMA) [c24]'],
  ['load', 'weft_node_load', 'demand on the node in work units'],
  ['capacity', 'weft_node_capacity', 'work units the node can carry'],
  ['ageMs', 'weft_node_report_age_ms', "age of the node's last statistics report"],
];

export class ConsoleMetrics {
  readonly registry = new Registry();
  #snapshot: () => ConsoleSnapshot;
  #last: ConsoleSnapshot | undefined;
  #counters = new Map<string, Counter>();

  constructor(snapshot: () => ConsoleSnapshot) {
    this.#snapshot = snapshot;
    const fresh = (): ConsoleSnapshot => this.#fresh();
    for (const [field, name, help] of NODE_GAUGES) {
      new Gauge({
        name,
        help,
        labelNames: ['node'],
        registers: [this.registry],
        collect() {
          this.reset();
          for (const n of fresh().nodes) this.set({ node: n.node }, n[field]);
        },
      });
    }
    new Gauge({
      name: 'weft_node_up',
      help: '1 when the statistics process sees the node alive, else 0',
      labelNames: ['node'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const n of fresh().nodes) this.set({ node: n.node }, n.state === 'ok' ? 1 : 0);
      },
    });

    // The drain of this node (headend/node/drain.ts): 1 on its current state, and what is left.
    new Gauge({
      name: 'weft_drain_state',
      help: "this node's drain state: 1 on the current one (serving, draining, drained, left, stuck)",
      labelNames: ['state'],
      registers: [this.registry],
      collect() {
        this.reset();
        const d = fresh().drain;
        if (d !== undefined) for (const s of DRAIN_STATES) this.set({ state: s }, d.state === s ? 1 : 0);
      },
    });
    new Gauge({
      name: 'weft_drain_remaining',
      help: 'portion instances still to move off this node while it drains',
      registers: [this.registry],
      collect() {
        this.set(fresh().drain?.remaining ?? 0);
      },
    });
  }

  /** The exposition text; takes one snapshot per scrape. */
  async scrape(): Promise<string> {
    this.#last = undefined;
    const snap = this.#fresh();
    for (const [name, value] of Object.entries(snap.counters)) {
      const c = this.#counter(name);
      c.reset();
      c.inc(value);
    }
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  #fresh(): ConsoleSnapshot {
    this.#last ??= this.#snapshot();
    return this.#last;
  }

  #counter(name: string): Counter {
    let c = this.#counters.get(name);
    if (c === undefined) {
      c = new Counter({ name: `weft_${name.replace(/[^a-zA-Z0-9_]/g, '_')}_total`, help: `count of ${name.replace(/_/g, ' ')} on this node`, registers: [this.registry] });
      this.#counters.set(name, c);
    }
    return c;
  }
}
