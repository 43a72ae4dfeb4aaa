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

export function renderSummary(node: HeadendNode, rows: BoxRow[], elapsedS: number): string {
  const view = node.statistics.view();
  const lines: string[] = [];
  lines.push(`weft demo  ${elapsedS.toFixed(0)} s   (Ctrl-C stops)`);
  lines.push('');
  lines.push('head-end nodes');
  for (const e of view.nodes) {
    const s = e.stats;
    lines.push(`  ${pad(s.node, 10)} ${pad(e.state, 6)} sessions ${String(s.sessions).padStart(3)}  threads ${s.workers}  cpu ${(s.cpu.util * 100).toFixed(0).padStart(3)}%  rss ${(s.memory.rss / 1e6).toFixed(0)} MB  loop p99 ${s.loop.p99Ms.toFixed(1)} ms`);
  }
  const c = node.counters;
  lines.push(`  envelopes routed ${c.dispatched}, forwarded ${c.forwarded}, client-started ${c.clientStarted}, module downloads ${node.sessions.counters.downloads}, box reports ${node.sessions.counters.reports}`);
  lines.push('');
  lines.push(`${pad('box', 10)} ${pad('profile', 15)} ${pad('state', 11)} ${pad('session', 12)} ${pad('search runs', 12)} screen`);
  for (const r of rows) {
    const search = r.search === 'local' ? 'on the box' : r.search === 'remote' ? 'head-end' : r.search;
    lines.push(`${pad(r.id, 10)} ${pad(r.profile, 15)} ${pad(r.state, 11)} ${pad(r.session?.session ?? '-', 12)} ${pad(search, 12)} ${screenText(r.screen)}`);
  }
  lines.push('');
  for (const r of rows) lines.push(`  ${pad(r.id, 10)} ${r.note}`);
  return `${lines.join('\n')}\n`;
}
