// The console's view of a HeadendNode: the one place that knows the node's fields. Counters are
// named `<component>_<name>` so metrics and the console's error panel share one list.
import type { HeadendNode } from '../node.ts';
import type { ConsoleAction, ConsoleSnapshot, ConsoleSource, NodeRow } from './source.ts';

const ERROR_COUNTERS = ['node_undeliverable', 'sessions_refused', 'services_errors', 'checkpoint_refused', 'checkpoint_failed', 'checkpoint_fenced', 'checkpoint_sync_errors'];

export function nodeSource(node: HeadendNode, o: { extra?: () => Record<string, unknown>; actions?: Record<string, ConsoleAction> } = {}): ConsoleSource {
  return {
    snapshot: (): ConsoleSnapshot => {
      const view = node.statistics.view();
      const nodes: NodeRow[] = view.nodes.map((e) => ({
        node: e.stats.node,
        state: e.state,
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
      counters.services_errors = node.services.stats().errors;
      // Durable portion state [issue 13.2]: written, bytes, deferred, refused, restored, loss window ms.
      for (const [k, v] of Object.entries(node.checkpoints.stats())) counters[`checkpoint_${snake(k)}`] = v;
      // What the trust boundaries refused (docs/SECURITY.md): every one is an error to look at.
      const sec = node.security;
      const refusals: string[] = [];
      for (const [reason, n] of Object.entries(sec.refused)) refusals.push(put(counters, `box_refused_${snake(reason)}`, n));
      for (const [what, n] of Object.entries(sec.dispatch)) refusals.push(put(counters, `dispatch_refused_${snake(what)}`, n));
      refusals.push(put(counters, 'udp_strangers', sec.strangers));
      for (const [reason, n] of Object.entries(node.sessions.refusals.counts)) refusals.push(put(counters, `sessions_refused_${snake(reason)}`, n));
      const errorCounters = [...ERROR_COUNTERS.filter((n) => n in counters), ...refusals];
      const snap: ConsoleSnapshot = { node: node.id, at: node.clock.now(), nodes, counters, errorCounters };
      if (o.extra !== undefined) snap.extra = o.extra();
      return snap;
    },
    actions: {
      'stop-session': async (args) => {
        const session = args.session;
        if (typeof session !== 'string' || session.length === 0 || session.length > 128) throw new Error('stop-session needs {session: "<id>"}');
        return { session, stopped: await node.stopSession(session) };
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
