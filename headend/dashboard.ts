// The dashboard: one web page for head-end engineers (nodes, load, sessions, placements, what
// each emulated box shows) that polls /api/state, served from the process that has the data.
// Loopback only by default; read-only.

import { createServer, type Server } from 'node:http';
import { rejectUnknown } from '../runtime/index.ts';
import type { HeadendNode } from './node.ts';

export interface DashboardOptions {
  port?: number;
  host?: string;
  /** What to show: the node and anything else JSON-able (the demo adds its boxes). */
  view: () => { headend: HeadendNode; boxes?: unknown[] };
}

export interface Dashboard {
  readonly url: string;
  close(): Promise<void>;
}

export function dashboardState(node: HeadendNode, boxes: unknown[] = []): unknown {
  const view = node.statistics.view();
  return {
    node: node.id,
    at: Date.now(),
    nodes: view.nodes.map((e) => ({ node: e.stats.node, state: e.state, ageMs: e.ageMs, sessions: e.stats.sessions, workers: e.stats.workers, cpu: e.stats.cpu.util, rss: e.stats.memory.rss, loopP99Ms: e.stats.loop.p99Ms, waitMs: e.stats.waitMs })),
    counters: node.counters,
    sessions: node.sessions.counters,
    // What the trust boundaries refused (docs/SECURITY.md).
    security: node.security,
    boxes,
  };
}

const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>Weft head-end</title>
<style>body{font:14px system-ui,sans-serif;margin:24px;background:#0f1720;color:#e6edf3}h1{font-size:20px}
table{border-collapse:collapse;margin:8px 0 20px}td,th{padding:4px 10px;border-bottom:1px solid #2d3a48;text-align:left}
th{color:#8fa3b8;font-weight:600}td{white-space:nowrap;vertical-align:top}.ok{color:#5bd18b}.bad{color:#ff7b72}.muted{color:#8fa3b8}
.tv{background:#05080c;border:2px solid #3b4b5c;border-radius:6px;padding:6px 10px;width:340px;font-size:12px;white-space:normal}
.tv b{color:#ffd866}.tv div{color:#c9d6e3}</style></head>
<body><h1>Weft head-end <span id="node" class="muted"></span></h1>
<h2>Nodes</h2><table id="nodes"></table><h2>Boxes</h2><table id="boxes"></table><p id="counters" class="muted"></p>
<script>
const esc = (s) => String(s).replace(/[&<>]/g, (c) => ({'&':'&amp;','<':'&lt;','>':'&gt;'}[c]));
const WHERE = { local: 'on the box', remote: 'head-end', held: 'moving', absent: '-' };
function tv(sc) {
  if (!sc) return '<span class="muted">(dark)</span>';
  if (sc.screen === 'detail') return '<div class="tv"><b>' + esc(sc.title) + '</b><div>ch ' + esc(sc.channel) + ' at ' + esc(sc.time) + ', ' + esc(sc.minutes) + ' min, ' + esc(sc.genre) + '</div></div>';
  const items = (sc.items || []).slice(0, 3).map((i) => '<div>' + (i.focused ? '&#9656; ' : '&nbsp;&nbsp;') + esc(i.time) + ' ch' + esc(i.channel) + ' ' + esc(i.title) + '</div>').join('');
  return '<div class="tv"><b>' + esc(sc.title) + '</b> &nbsp;search "' + esc(sc.query) + '" &middot; ' + esc(sc.status) + ', ' + esc(sc.total) + ' hits' + items + '</div>';
}
function row(cells, tag) { return '<tr>' + cells.map((c) => '<' + tag + '>' + c + '</' + tag + '>').join('') + '</tr>'; }
async function tick() {
  const s = await (await fetch('/api/state')).json();
  document.getElementById('node').textContent = 'served by ' + s.node;
  document.getElementById('nodes').innerHTML = row(['node','state','sessions','threads','cpu','rss MB','loop p99 ms','wait ms'], 'th') +
    s.nodes.map((n) => row([esc(n.node), '<span class="' + (n.state === 'ok' ? 'ok' : 'bad') + '">' + n.state + '</span>', n.sessions, n.workers, (n.cpu * 100).toFixed(0) + '%', (n.rss / 1e6).toFixed(0), n.loopP99Ms.toFixed(1), n.waitMs.toFixed(1)], 'td')).join('');
  document.getElementById('boxes').innerHTML = row(['box','profile','state','session','node','search runs','screen'], 'th') +
    s.boxes.map((b) => row([esc(b.id), esc(b.profile), esc(b.state), esc(b.session ? b.session.session : '-'), esc(b.session ? b.session.node : '-'), esc(WHERE[b.search] || b.search), tv(b.screen)], 'td')).join('');
  document.getElementById('counters').textContent = 'envelopes routed ' + s.counters.dispatched + ', forwarded ' + s.counters.forwarded + ', sessions opened ' + s.sessions.opened + ', module downloads ' + s.sessions.downloads +
    ', box envelopes refused ' + Object.values(s.security.refused).reduce((a, b) => a + b, 0) + ', relays refused ' + s.security.dispatch.relay;
}
tick(); setInterval(tick, 1000);
</script></body></html>`;

export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  rejectUnknown('startDashboard', options, ['port', 'host', 'view']);
  const host = options.host ?? '127.0.0.1';
  const server: Server = createServer((req, res) => {
    if (req.url === '/api/state') {
      const v = options.view();
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(dashboardState(v.headend, v.boxes)));
      return;
    }
    if (req.url === '/' || req.url === '/index.html') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(PAGE);
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, resolve);
  });
  const a = server.address();
  const port = typeof a === 'object' && a !== null ? a.port : 0;
  return { url: `http://${host}:${port}/`, close: () => new Promise<void>((r) => server.close(() => r())) };
}
