// What the console shows and can do, as plain data: a snapshot of the cluster as one node sees
// it, and named operator actions. The console (app.ts) knows only this interface; the adapter
// from a HeadendNode lives in node-source.ts, so the node can change without the console.

/** One node as the statistics process sees it. */
export interface NodeRow {
  node: string;
  state: string;
  ageMs: number;
  sessions: number;
  workers: number;
  /** Busy fraction of the node's CPU cores, 0..1. */
  cpu: number;
  rssBytes: number;
  loopP99Ms: number;
  waitMs: number;
  load: number;
  capacity: number;
}

export interface ConsoleSnapshot {
  /** The node serving this console. */
  node: string;
  at: number;
  nodes: NodeRow[];
  /** Monotonic counts by name (`sessions_opened`, `node_undeliverable`, ...): the metrics' counters. */
  counters: Record<string, number>;
  /** The names in `counters` that count failures, for the console's error panel. */
  errorCounters: string[];
  /** This node's drain (headend/node/drain.ts): state and progress, for the drain panel and /metrics. */
  drain?: DrainView;
  /** Recent warnings and errors of this process, newest last (log-ring.ts), with their trace ids. */
  logs?: LogLine[];
  /** Anything else the composition root adds (the demo adds its emulated boxes). */
  extra?: Record<string, unknown>;
}

export interface DrainView {
  state: string;
  total: number;
  moved: number;
  failed: number;
  remaining: number;
  ratePerS: number;
  lastError?: string;
}

/** One log line as the console shows it. */
export interface LogLine {
  at: number;
  level: string;
  msg: string;
  node?: string;
  trace_id?: string;
  span_id?: string;
}

/** An operator action: validated arguments in, a JSON-able result out, or a thrown Error whose message the operator sees. */
export type ConsoleAction = (args: Record<string, unknown>) => Promise<unknown>;

export interface ConsoleSource {
  snapshot(): ConsoleSnapshot;
  /** Actions by name (`stop-session`, `drain`, ...); each behind the operator token. */
  actions: Readonly<Record<string, ConsoleAction>>;
}
