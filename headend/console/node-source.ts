// The console's view of a HeadendNode: the one place that knows the node's fields. Counters are
// named `<component>_<name>` so metrics and the console's error panel share one list.
import type { HeadendNode } from '../node.ts';
import type { ConsoleAction, ConsoleSnapshot, ConsoleSource, NodeRow } from './source.ts';

const ERROR_COUNTERS = ['node_undeliverable', 'sessions_refused', 'services_errors'];

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
      const snap: ConsoleSnapshot = { node: node.id, at: node.clock.now(), nodes, counters, errorCounters: ERROR_COUNTERS.filter((n) => n in counters) };
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
  return s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}
