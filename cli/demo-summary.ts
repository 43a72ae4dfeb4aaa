// The demo's live summary as text: head-end load and sessions, then one line per box with its
// boot state, session, where its mutable search module runs and what its screen shows.
import type { HeadendNode } from '../headend/index.ts';
import type { OpenReply } from '../runtime/index.ts';

export interface BoxRow {
  id: string;
  profile: string;
  note: string;
  state: string;
  session: OpenReply | undefined;
  search: string;
  screen: unknown;
}

function pad(s: string, n: number): string {
  return s.length >= n ? s.slice(0, n) : s + ' '.repeat(n - s.length);
}

function screenText(scene: unknown): string {
  if (scene === undefined || scene === null) return '-';
  const s = scene as { screen?: unknown; title?: unknown; query?: unknown; status?: unknown; total?: unknown; items?: { title?: unknown }[] };
  if (s.screen === 'detail') return `detail: ${String(s.title)}`;
  if (s.screen === 'guide') {
    const first = Array.isArray(s.items) && s.items.length > 0 ? `, first "${String(s.items[0]?.title)}"` : '';
    return `"${String(s.query)}" ${String(s.status)}: ${String(s.total)} hits${first}`;
  }
  return JSON.stringify(scene).slice(0, 60);
}

/** Where the box runs its search module, in words; degraded boxes run it from the carousel's fallback tier. */
function searchText(r: BoxRow): string {
  if (r.search === 'local') return 'on box';
  if (r.search === 'remote') return 'head-end';
  if (r.state === 'degraded' || r.state.startsWith('acquiring-fallback')) return 'fallback';
  return r.search;
}

/**
 * The summary, every line cut to `width` columns (80 by default: a terminal that size shows it
 * whole, and a redraw keeps the console URL on screen).
 */
export function renderSummary(node: HeadendNode, rows: BoxRow[], elapsedS: number, o: { consoleUrl?: string; width?: number } = {}): string {
  const width = Math.max(40, o.width ?? 80);
  const view = node.statistics.view();
  const lines: string[] = [];
  lines.push(`weft demo  ${elapsedS.toFixed(0)} s  (Ctrl-C stops)`);
  if (o.consoleUrl !== undefined) lines.push(`console ${o.consoleUrl}`);
  lines.push('');
  for (const e of view.nodes) {
    const s = e.stats;
    lines.push(`${pad(s.node, 8)} ${pad(e.state, 5)} sessions ${String(s.sessions).padStart(3)}  threads ${s.workers}  cpu ${(s.cpu.util * 100).toFixed(0).padStart(3)}%  rss ${(s.memory.rss / 1e6).toFixed(0)} MB  loop ${s.loop.p99Ms.toFixed(0)} ms`);
  }
  const c = node.counters;
  lines.push(`routed ${c.dispatched}  forwarded ${c.forwarded}  started ${c.clientStarted}  downloads ${node.sessions.counters.downloads}  reports ${node.sessions.counters.reports}`);
  lines.push('');
  lines.push(`${pad('box', 10)} ${pad('profile', 14)} ${pad('state', 16)} ${pad('search', 8)} screen`);
  for (const r of rows) lines.push(`${pad(r.id, 10)} ${pad(r.profile, 14)} ${pad(r.state, 16)} ${pad(searchText(r), 8)} ${screenText(r.screen)}`);
  lines.push('');
  for (const r of rows) lines.push(`  ${pad(r.id, 10)} ${r.note}`);
  return `${lines.map((l) => (l.length > width ? `${l.slice(0, width - 1)}~` : l)).join('\n')}\n`;
}

/** The same summary as one JSON object (`weft demo --json`): what a script reads instead of the text. */
export function summaryObject(node: HeadendNode, rows: BoxRow[], elapsedS: number): Record<string, unknown> {
  return {
    event: 'summary',
    s: Math.round(elapsedS),
    nodes: node.statistics.view().nodes.map((e) => ({ node: e.stats.node, state: e.state, sessions: e.stats.sessions, workers: e.stats.workers, cpu: e.stats.cpu.util, rssBytes: e.stats.memory.rss, loopP99Ms: e.stats.loop.p99Ms })),
    counters: { ...node.counters, downloads: node.sessions.counters.downloads, reports: node.sessions.counters.reports },
    boxes: rows.map((r) => ({ id: r.id, profile: r.profile, state: r.state, session: r.session?.session ?? null, search: searchText(r), screen: r.screen ?? null })),
  };
}

/**
 * Whether every box shows the behaviour the demo is for: its state and where its search runs
 * (as the summary words it) match `expect`, and the node's statistics count the sessions of
 * the boxes that are up. What `--until-settled` waits for instead of a fixed time.
 */
export function fleetSettled(node: HeadendNode, rows: BoxRow[], fleet: readonly { id: string; expect: readonly [string, string] }[]): boolean {
  for (const f of fleet) {
    const r = rows.find((x) => x.id === f.id);
    if (r === undefined || r.state !== f.expect[0] || searchText(r) !== f.expect[1]) return false;
  }
  const up = rows.filter((r) => r.state === 'up').length;
  return node.statistics.view().nodes.some((e) => e.stats.sessions === up);
}
