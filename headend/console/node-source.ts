// The console's view of a HeadendNode: the one place that knows the node's fields. Counters are
// named `<component>_<name>` so metrics and the console's error panel share one list.
import type { HeadendNode } from '../node.ts';
import { DRAIN_OPS } from '../node/drain.ts';
import { Endpoint } from '../node/endpoints.ts';
import { Membership } from '../node/membership.ts';
import type { LogRing } from './log-ring.ts';
import type { ConsoleAction, ConsoleSnapshot, ConsoleSource, NodeRow } from './source.ts';

const ERROR_COUNTERS = ['node_undeliverable', 'sessions_refused', 'services_errors', 'checkpoint_refused', 'checkpoint_failed', 'checkpoint_fenced', 'checkpoint_sync_errors', 'registry_wait_short', 'registry_failed', 'claims_copies_stopped', 'claims_stop_errors'];

/** The registry adapter's numeric `stats`, if it keeps any. */
function registryStats(node: HeadendNode): Record<string, number> {
  const stats = (node.registry as { stats?: unknown }).stats;
  const out: Record<string, number> = {};
  if (stats === null || typeof stats !== 'object') return out;
  for (const [k, v] of Object.entries(stats)) if (typeof v === 'number') out[k] = v;
  return out;
}

export function nodeSource(node: HeadendNode, o: { extra?: () => Record<string, unknown>; actions?: Record<string, ConsoleAction>; logs?: LogRing } = {}): ConsoleSource {
  return {
    snapshot: (): ConsoleSnapshot => {
      const view = node.statistics.view();
      const drain = node.drainer.progress;
      const nodes: NodeRow[] = view.nodes.map((e) => ({
        node: e.stats.node,
        // A live node reporting no capacity is draining (headend/node/drain.ts); this one knows its own state.
        state: e.stats.node === node.id && drain.state !== 'serving' ? drain.state : e.state === 'ok' && e.stats.capacity === 0 ? 'draining' : e.state,
        ageMs: e.ageMs,
        sessions: e.stats.sessions,
        workers: e.stats.workers,
        cpu: e.stats.cpu.util,
        rssBytes: e.stats.memory.rss,
        loopP99Ms: e.stats.loop.p99Ms,
        waitMs: e.stats.waitMs,
        load: e.stats.load,
        capacity: e.stats.capacity,
      }));
      const counters: Record<string, number> = {};
      for (const [k, v] of Object.entries(node.counters)) counters[`node_${snake(k)}`] = v;
      for (const [k, v] of Object.entries(node.sessions.counters)) counters[`sessions_${snake(k)}`] = v;
      const adm = node.sessions.admission.stats; // [issue 19.6] opens let in, and answered QUOTA (setups) past capacity
      for (const k of ['admitted', 'refusedBehind', 'refusedCeiling', 'stale'] as const) counters[`admission_${snake(k)}`] = adm[k];
      const late = node.sessions.lateOpens; // opens their box gave up on: past the deadline, never confirmed [D47, D108]
      counters.sessions_late_opens_ended = late.ended;
      counters.sessions_unconfirmed_ended = late.unconfirmed.ended;
      counters.sessions_unconfirmed_failed = late.unconfirmed.failed;
      counters.services_errors = node.services.stats().errors;
      // Durable portion state [issue 13.2]: written, bytes, deferred, refused, restored, loss window ms.
      for (const [k, v] of Object.entries(node.checkpoints.stats())) counters[`checkpoint_${snake(k)}`] = v;
      // Adapters that count their own trouble (Redis Cluster: waitShort, failed, resets).
      for (const [k, v] of Object.entries(registryStats(node))) counters[`registry_${snake(k)}`] = v;
      // [c31] the node's held claims (portions/portion-claims.ts): a copy stopped is an error to look at.
      for (const [k, v] of Object.entries(node.claims.stats)) counters[`claims_${snake(k)}`] = v;
      // What the trust boundaries refused (docs/SECURITY.md): every one is an error to look at.
      const sec = node.security;
      const refusals: string[] = [];
      for (const [reason, n] of Object.entries(sec.refused)) refusals.push(put(counters, `box_refused_${snake(reason)}`, n));
      for (const [what, n] of Object.entries(sec.dispatch)) refusals.push(put(counters, `dispatch_refused_${snake(what)}`, n));
      refusals.push(put(counters, 'udp_strangers', sec.strangers));
      for (const [reason, n] of Object.entries(node.sessions.refusals.counts)) refusals.push(put(counters, `sessions_refused_${snake(reason)}`, n));
      const errorCounters = [...ERROR_COUNTERS.filter((n) => n in counters), ...refusals];
      counters.drain_moved = drain.moved;
      counters.drain_failed = drain.failed;
      const snap: ConsoleSnapshot = { node: node.id, at: node.clock.now(), nodes, counters, errorCounters: [...errorCounters, 'drain_failed'], drain: { state: drain.state, total: drain.total, moved: drain.moved, failed: drain.failed, remaining: drain.remaining, ratePerS: drain.ratePerS, ...(drain.lastError === undefined ? {} : { lastError: drain.lastError }) } };
      if (o.logs !== undefined) snap.logs = o.logs.lines();
      if (o.extra !== undefined) snap.extra = o.extra();
      return snap;
    },
    actions: {
      'stop-session': async (args) => {
        const session = args.session;
        if (typeof session !== 'string' || session.length === 0 || session.length > 128) throw new Error('stop-session needs {session: "<id>"}');
        return { session, stopped: await node.stopSession(session) };
      },
      // This node, or a peer by its control endpoint (node-to-node, under the cluster MAC).
      drain: async (args) => {
        const target = args.node ?? node.id;
        const rate = args.ratePerS;
        if (typeof target !== 'string' || target.length === 0 || target.length > 128) throw new Error('drain needs {node: "<id>"} (and optionally ratePerS)');
        if (rate !== undefined && (typeof rate !== 'number' || !(rate > 0) || rate > 10_000)) throw new Error('drain: ratePerS must be a number in (0, 10000]');
        const opts = rate === undefined ? {} : { ratePerS: rate };
        if (target === node.id) {
          void node.drain(opts).catch(() => undefined);
          return { node: target, ...node.drainer.progress };
        }
        const udp = node.peerUdp(target);
        if (udp === undefined) throw new Error(`no node "${target}" in this cluster (known: ${[node.id, ...node.peers()].join(', ')})`);
        return { node: target, ...((await node.request({ vaddr: Membership.vaddr(target, Endpoint.control), udp }, opts, DRAIN_OPS.drain)) as object) };
      },
      ...o.actions,
    },
  };
}

function snake(s: string): string {
  return s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`).replace(/-/g, '_');
}

function put(counters: Record<string, number>, name: string, value: number): string {
  counters[name] = value;
  return name;
}
