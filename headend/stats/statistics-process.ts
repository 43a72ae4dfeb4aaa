// The statistics process [c16, c38]: every interval, samples this node, keeps the report in its
// own cluster view and sends it to the cluster; takes other nodes' and boxes' reports as they
// arrive; answers `stats.view` requests. Time from the injected clock; sends through `send`.

import { ArgumentError, type Clock, type Envelope, positiveInt, rejectUnknown, type Result, systemClock, type TimerHandle } from '../../runtime/index.ts';
import type { ClusterView } from '../../policy/index.ts';
import { type AggregatorOptions, type Ingested, type NotIngested, StatsAggregator, type StatsView } from './statistics-aggregate.ts';
import { type NodeStats, STAT_OPS } from './statistics.ts';

export interface StatisticsProcessOptions {
  /** Gives this node's report (NodeSampler.sample, or a model of a node in the simulator). */
  sample: () => NodeStats;
  clock?: Clock;
  /** Report interval, ms. Default 1000. */
  intervalMs?: number;
  /** Carries this node's report to the cluster, as a `stat` envelope with op STAT_OPS.node [c38]. */
  send?: (op: string, stats: NodeStats) => Promise<void> | void;
  aggregator?: AggregatorOptions;
  /** A failed send or a sample that threw. Default: counted only. */
  onError?: (err: unknown) => void;
}

const OPTIONS = ['sample', 'clock', 'intervalMs', 'send', 'aggregator', 'onError'];

export class StatisticsProcess {
  readonly aggregator: StatsAggregator;
  readonly intervalMs: number;
  #sample: () => NodeStats;
  #clock: Clock;
  #send: StatisticsProcessOptions['send'];
  #onError: (err: unknown) => void;
  #timer: TimerHandle | undefined;
  #last: NodeStats | undefined;
  #counts = { reports: 0, errors: 0 };

  constructor(options: StatisticsProcessOptions) {
    rejectUnknown('StatisticsProcess', options, OPTIONS);
    if (typeof options.sample !== 'function') throw new ArgumentError('StatisticsProcess: sample must be a function', 'sample');
    this.#sample = options.sample;
    this.#clock = options.clock ?? systemClock;
    this.intervalMs = positiveInt('StatisticsProcess', 'intervalMs', options.intervalMs ?? 1000);
    this.#send = options.send;
    this.#onError = options.onError ?? (() => {});
    this.aggregator = new StatsAggregator(options.aggregator);
  }

  get running(): boolean {
    return this.#timer !== undefined;
  }

  /** Report now and every interval. Idempotent. */
  start(): void {
    if (this.running) return;
    const tick = (): void => {
      this.report();
      this.aggregator.prune(this.#clock.now());
      this.#timer = this.#clock.setTimeout(tick, this.intervalMs);
    };
    tick();
  }

  stop(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Sample this node once: into our own view, then out to the cluster. */
  report(): NodeStats | undefined {
    let stats: NodeStats;
    try {
      stats = this.#sample();
    } catch (e) {
      this.#error(e);
      return undefined;
    }
    this.#last = stats;
    this.#counts.reports++;
    this.aggregator.ingestNode(stats, this.#clock.now());
    if (this.#send !== undefined) {
      try {
        const p = this.#send(STAT_OPS.node, stats);
        if (p instanceof Promise) p.catch((e: unknown) => this.#error(e));
      } catch (e) {
        this.#error(e);
      }
    }
    return stats;
  }

  /** Feed an incoming `stat` envelope (another node's report, a box's resource report). */
  receive(env: Envelope): Result<Ingested, NotIngested> {
    return this.aggregator.ingest(env, this.#clock.now());
  }

  /** The reply body for a `stats.view` request, or undefined when `env` is something else. */
  answer(env: Envelope): StatsView | undefined {
    return env.kind === 'req' && env.op === STAT_OPS.view ? this.view() : undefined;
  }

  /** The timing process's verdict on a node [c16]. */
  setAlive(node: string, alive: boolean): void {
    this.aggregator.setAlive(node, alive);
  }

  view(): StatsView {
    return this.aggregator.view(this.#clock.now());
  }

  clusterView(): ClusterView {
    return this.aggregator.clusterView(this.#clock.now());
  }

  /** This node's latest report. */
  get last(): NodeStats | undefined {
    return this.#last;
  }

  stats(): Readonly<Record<string, number>> {
    return { ...this.#counts, ...this.aggregator.stats() };
  }

  #error(e: unknown): void {
    this.#counts.errors++;
    this.#onError(e);
  }
}
