// The plain data the placement policy reads (a cluster view built by the statistics process) and
// the decisions it returns. Data only: no clocks, no I/O, so the live head-end and the simulator
// build the same shapes and run the same functions [c13, c16].

/** One node's latest statistics report [c16, c38], as the balancer sees it (possibly stale). */
export interface NodeReport {
  /** Node id (unique in the cluster). */
  readonly node: string;
  /** When the node measured this report (ms since the epoch). `view.now - at` is its age. */
  readonly at: number;
  /** Capacity in work units: worker threads x relative speed. Servers differ; must be > 0. */
  readonly capacity: number;
  /**
   * Demand of the work placed on the node, all applications, in the same units as capacity
   * (sessions x per-session cost per app, as the statistics process estimates it) [c30].
   */
  readonly load: number;
  /** Load per application (this and other applications) [c30]; optional. */
  readonly apps?: Readonly<Record<string, number>>;
  /** Active sessions on the node, all applications. */
  readonly sessions: number;
  /** Requests in the node now (waiting + in service). */
  readonly queue: number;
  /** Busy fraction of the node's workers over the last report interval, 0..1. */
  readonly util: number;
  /** Critical-section wait (EWMA, ms), measured from each request's start [c24]. */
  readonly waitMs: number;
  /** Memory in use and the node's limit, bytes (any unit, the same for both). */
  readonly memUsed: number;
  readonly memLimit: number;
  /** False once the timing process has declared the node dead (missed heartbeats) [c16]. */
  readonly alive?: boolean;
}

/** What a balancer knows about the cluster at one moment. */
export interface ClusterView {
  /** The balancer's clock (ms since the epoch); report ages are measured against it. */
  readonly now: number;
  readonly nodes: readonly NodeReport[];
}

/** A request for a place to run work: a session's server portion, or a replica of one. */
export interface PlaceRequest {
  /** Application id. */
  readonly app: string;
  /** Expected demand of the work, in capacity units (default 1). */
  readonly cost?: number;
  /** Memory the work needs on the node (same unit as memUsed; default 0). */
  readonly mem?: number;
  /** Node ids that must not be chosen (e.g. where the primary already runs). */
  readonly exclude?: readonly string[];
}

/** A chosen node: its id, its index in `view.nodes`, and the score it won with (lower is better). */
export interface Placement {
  readonly node: string;
  readonly index: number;
  readonly score: number;
}

/** Why no node was chosen: counts of nodes left out, by reason. An expected outcome, not a throw. */
export interface NoCapacity {
  readonly reason: 'no-eligible-node';
  readonly nodes: number;
  readonly dead: number;
  readonly stale: number;
  readonly memory: number;
  readonly excluded: number;
}

/** A source of uniform numbers in [0, 1); inject a seeded one for tests and the simulator. */
export type Uniform = () => number;
