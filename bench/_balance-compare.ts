// bench/balance part (c): the live run's recorded decisions against the simulator's policy
// [c13-c16, D16]. Pure: a decision log and the live hosted counts in, the three figures out.
// - live_spread: max/min sessions hosted per node (equal capacities: 1 is perfect);
// - live_vs_sim_decisions: each recorded (view, request) through a fresh Balancer seeded as the
//   live one: the fraction of choices that differ;
// - live_vs_sim_counts: the same opens through sim/replay.ts (the simulator's bookkeeping, with a
//   report round wherever the live view changed): the largest relative difference in sessions
//   hosted per node.

import { Balancer, SeededRandom, type ClusterView, type PlaceRequest } from '../policy/index.ts';
import { replayTrace, type TraceEvent } from '../sim/index.ts';

/** One placement as the live balancer made it: what it saw, what it was asked, where it put it. */
export interface Decision {
  view: ClusterView;
  req: PlaceRequest;
  node: string | undefined;
}

export interface Comparison {
  liveSpread: number;
  liveVsSimDecisions: number;
  liveVsSimCounts: number;
  /** Sessions hosted per node when the simulator replays the trace. */
  sim: Record<string, number>;
  /** Indexes of the decisions the replayed policy made differently (for the bench's diagnosis). */
  differing: number[];
  /**
   * Decisions whose view, with the balancer's own placements not yet in a report (those after
   * the report's `at`), put some node off its hosted count then: what the policy was told wrong.
   */
  viewOff: number;
}

/** How many decisions saw some node's load plus pending placements differ from what it hosted. */
function viewOff(log: readonly Decision[]): number {
  const placed = new Map<string, number[]>();
  let off = 0;
  for (const d of log) {
    const wrong = d.view.nodes.some((n) => {
      const times = placed.get(n.node) ?? [];
      return n.load + times.filter((t) => t > n.at).length !== times.length;
    });
    if (wrong) off++;
    if (d.node !== undefined) placed.set(d.node, [...(placed.get(d.node) ?? []), d.view.now]);
  }
  return off;
}

export function compareLive(log: readonly Decision[], hosted: Readonly<Record<string, number>>, seed: number): Comparison {
  const ids = Object.keys(hosted).sort();
  const counts = ids.map((id) => hosted[id] ?? 0);
  const liveSpread = Math.max(...counts) / Math.max(1, Math.min(...counts));
  // (1) the recorded pairs through the simulator's policy object, seeded alike.
  const policy = new Balancer({ random: new SeededRandom(seed).uniform() });
  const differing: number[] = [];
  log.forEach((d, i) => {
    const r = policy.place(d.view, d.req);
    if ((r.ok ? r.value.node : undefined) !== d.node) differing.push(i);
  });
  // (2) the trace through the simulator's bookkeeping: a report round wherever the view changed.
  const trace: TraceEvent[] = [];
  let lastAt = '';
  log.forEach((d, i) => {
    const at = d.view.nodes.map((n) => `${n.node}@${n.at}`).join(',');
    if (at !== lastAt) trace.push({ kind: 'report', at: d.view.now });
    lastAt = at;
    trace.push({ kind: 'open', session: `s${i}`, app: d.req.app, cost: d.req.cost ?? 1 });
  });
  const capacity = new Map<string, number>();
  for (const d of log) for (const n of d.view.nodes) capacity.set(n.node, n.capacity);
  const replay = replayTrace(ids.map((node) => ({ node, capacity: capacity.get(node) ?? 1 })), trace, new Balancer({ random: new SeededRandom(seed).uniform() }));
  let worst = 0;
  for (const id of ids) worst = Math.max(worst, Math.abs((hosted[id] ?? 0) - (replay.hosted[id] ?? 0)) / Math.max(1, replay.hosted[id] ?? 0));
  return { liveSpread, liveVsSimDecisions: log.length === 0 ? 1 : differing.length / log.length, liveVsSimCounts: worst, sim: { ...replay.hosted }, differing, viewOff: viewOff(log) };
}
