// The simulator's placement bookkeeping on a given trace, without queues: sessions arrive (and
// leave), nodes report at given times with the load the policy defines (nodeLoad), and each
// arrival is placed by the policy on the latest reports. Used to replay a live run's trace and
// compare placements with the live head-end's [c13, c16, D16]. Pure: no clock, no I/O.

import { ArgumentError } from '../runtime/index.ts';
import { nodeLoad, type HostedWork, type NodeReport, type PlacementPolicy } from '../policy/index.ts';

/** One step of a trace. `report`: every node reports now; the view the policy sees is replaced. */
export type TraceEvent =
  | { readonly kind: 'open'; readonly session: string; readonly app: string; readonly cost?: number }
  | { readonly kind: 'close'; readonly session: string }
  | { readonly kind: 'report'; readonly at: number };

export interface ReplayNode {
  readonly node: string;
  readonly capacity: number;
  /** Memory limit in the unit of the reports (the sim does not model memory here: 0 used). */
  readonly memLimit?: number;
}

export interface ReplayResult {
  /** Node chosen per opened session, in trace order (undefined: no capacity). */
  readonly placements: readonly { session: string; node: string | undefined }[];
  /** Sessions hosted per node at the end. */
  readonly hosted: Readonly<Record<string, number>>;
}

/** How long after its report round an open is decided, ms: the live balancer decides on a report measured earlier. */
const DECIDED_AFTER_MS = 0.001;

/** Replay `trace` on `nodes` with `policy` (one balancer, reports delivered without delay). */
export function replayTrace(nodes: readonly ReplayNode[], trace: readonly TraceEvent[], policy: PlacementPolicy): ReplayResult {
  if (nodes.length === 0) throw new ArgumentError('replayTrace: nodes must not be empty', 'nodes');
  const home = new Map<string, { node: string; app: string; cost: number }>();
  const placements: { session: string; node: string | undefined }[] = [];
  let view: { now: number; nodes: NodeReport[] } = { now: 0, nodes: [] };
  for (const e of trace) {
    if (e.kind === 'report') {
      view = { now: e.at, nodes: nodes.map((n) => report(n, e.at, home)) };
    } else if (e.kind === 'open') {
      const cost = e.cost ?? 1;
      // Decided after the report it reads: a placement at the report's own time would count as
      // included in it (policy/ledger.ts), so the opens of one report round would forget each other.
      const at = { now: view.now + DECIDED_AFTER_MS, nodes: view.nodes };
      const r = view.nodes.length === 0 ? undefined : policy.place(at, { app: e.app, cost });
      const node = r?.ok === true ? r.value.node : undefined;
      placements.push({ session: e.session, node });
      if (node !== undefined) home.set(e.session, { node, app: e.app, cost });
    } else {
      const h = home.get(e.session);
      home.delete(e.session);
      if (h !== undefined) policy.release?.(h.node, h.cost, view.now);
    }
  }
  const hosted: Record<string, number> = Object.fromEntries(nodes.map((n) => [n.node, 0]));
  for (const h of home.values()) hosted[h.node] = (hosted[h.node] ?? 0) + 1;
  return { placements, hosted };
}

function report(n: ReplayNode, at: number, home: Map<string, { node: string; app: string; cost: number }>): NodeReport {
  const byApp = new Map<string, { count: number; cost: number }>();
  for (const h of home.values()) {
    if (h.node !== n.node) continue;
    const a = byApp.get(h.app) ?? { count: 0, cost: h.cost };
    a.count++;
    byApp.set(h.app, a);
  }
  const work: HostedWork[] = [...byApp].map(([app, a]) => ({ app, kind: 'session', count: a.count, cost: a.cost }));
  const { load, apps, sessions } = nodeLoad(work);
  return { node: n.node, at, capacity: n.capacity, load, apps, sessions, queue: 0, util: 0, waitMs: 0, memUsed: 0, memLimit: n.memLimit ?? 1, alive: true };
}
