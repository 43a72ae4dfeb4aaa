// The console page: live state over Server-Sent Events, charts of the last hour (uPlot), and
// operator actions with the token kept for this tab only. DOM built with textContent: no
// string of server data ever becomes markup.
'use strict';
const $ = (id) => document.getElementById(id);
const el = (tag, text, cls) => {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
};
const row = (cells) => {
  const tr = el('tr');
  for (const c of cells) {
    const td = el('td');
    if (c instanceof Node) td.append(c);
    else td.textContent = String(c);
    tr.append(td);
  }
  return tr;
};
let actions = [];

function token() {
  return sessionStorage.getItem('weft-token') || '';
}
$('token').value = token();
$('token').addEventListener('input', (e) => sessionStorage.setItem('weft-token', e.target.value));
$('token-form').addEventListener('submit', (e) => e.preventDefault());

async function act(name, args) {
  const out = $('action-result');
  out.textContent = `${name} ...`;
  const r = await fetch(`/api/actions/${encodeURIComponent(name)}`, { method: 'POST', headers: { authorization: `Bearer ${token()}`, 'content-type': 'application/json' }, body: JSON.stringify(args) });
  const body = await r.json().catch(() => ({ error: r.statusText }));
  out.textContent = r.ok ? `${name}: done ${JSON.stringify(body.result)}` : `${name}: ${body.error}`;
  out.className = r.ok ? 'ok' : 'bad';
}

$('stop-session').addEventListener('submit', (e) => {
  e.preventDefault();
  void act('stop-session', { session: $('session-id').value.trim() });
});

// Rows are kept per node and their cells updated in place: a table rebuilt on every push (each
// 50 ms in tests, 1 s by default) replaced the Drain button before a slow browser's click landed.
const nodeRows = new Map();

function nodeRow(node) {
  let r = nodeRows.get(node);
  if (r !== undefined) return r;
  const drain = el('button', 'Drain');
  drain.addEventListener('click', () => void act('drain', { node }));
  const state = el('span');
  const tr = row([node, state, '', '', '', '', '', '', '', drain]);
  r = { tr, state, drain, cells: [...tr.cells] };
  nodeRows.set(node, r);
  return r;
}

function setText(e, text) {
  const t = String(text);
  if (e.textContent !== t) e.textContent = t;
}

function renderNodes(s) {
  const body = $('nodes').tBodies[0];
  const seen = new Set();
  const rows = s.nodes.map((n) => {
    seen.add(n.node);
    const r = nodeRow(n.node);
    setText(r.state, n.state);
    const cls = n.state === 'ok' ? 'ok' : n.state === 'draining' ? 'warn' : 'bad';
    if (r.state.className !== cls) r.state.className = cls;
    const values = [n.sessions, n.workers, `${Math.round(n.cpu * 100)}%`, Math.round(n.rssBytes / 1e6), n.loopP99Ms.toFixed(1), n.waitMs.toFixed(1), `${n.load.toFixed(1)} / ${n.capacity.toFixed(1)}`];
    values.forEach((v, i) => setText(r.cells[i + 2], v));
    const disabled = !actions.includes('drain');
    if (r.drain.disabled !== disabled) r.drain.disabled = disabled;
    const title = disabled ? 'drain is not available on this head-end' : `move ${n.node}'s sessions elsewhere, then stop it`;
    if (r.drain.title !== title) r.drain.title = title;
    return r.tr;
  });
  for (const node of [...nodeRows.keys()]) if (!seen.has(node)) nodeRows.delete(node);
  // Touch the table only when its rows or their order changed.
  const same = rows.length === body.rows.length && rows.every((tr, i) => body.rows[i] === tr);
  if (!same) body.replaceChildren(...rows);
}

function renderCounters(s) {
  $('errors').replaceChildren(...s.errorCounters.map((n) => el('li', `${n.replace(/_/g, ' ')}: ${s.counters[n]}`, s.counters[n] > 0 ? 'hot' : '')));
  $('counters').replaceChildren(...Object.entries(s.counters).map(([n, v]) => el('li', `${n.replace(/_/g, ' ')}: ${v}`)));
}

// The last warnings and errors of the serving node, newest first, with the trace id to look up.
function renderLogs(s) {
  const lines = (s.logs || []).slice().reverse();
  if (lines.length === 0) return $('logs').replaceChildren(el('li', 'none', 'muted'));
  $('logs').replaceChildren(
    ...lines.map((l) => {
      const li = el('li', undefined, l.level === 'warn' ? 'warn' : 'bad');
      li.append(el('span', `${new Date(l.at).toISOString().slice(11, 19)} ${l.level} ${l.node || ''} `, 'muted'), el('span', l.msg));
      if (l.trace_id) li.append(el('span', ` trace_id=${l.trace_id}`, 'trace'));
      return li;
    }),
  );
}

function renderDrain(s) {
  const d = s.drain;
  if (!d) return;
  const text = d.state === 'serving' ? `${s.node} is serving` : `${s.node}: ${d.state}, ${d.moved} of ${d.total} moved, ${d.remaining} left, ${d.failed} failed (at most ${d.ratePerS}/s)${d.lastError ? `; last error: ${d.lastError}` : ''}`;
  $('drain').textContent = text;
  $('drain').className = d.state === 'serving' ? 'muted' : d.state === 'stuck' ? 'bad' : 'warn';
}

function renderBoxes(s) {
  const boxes = (s.extra && s.extra.boxes) || [];
  $('boxes-section').hidden = boxes.length === 0;
  $('boxes').tBodies[0].replaceChildren(
    ...boxes.map((b) => row([b.id, b.profile, b.state, b.session ? b.session.session : '-', b.search, b.screen ? `${b.screen.title || b.screen.screen || ''} ${b.screen.query ? `"${b.screen.query}"` : ''}` : '(dark)'])),
  );
}

function render(s) {
  $('node').textContent = `served by ${s.node}`;
  renderNodes(s);
  renderCounters(s);
  renderLogs(s);
  renderDrain(s);
  renderBoxes(s);
}

const charts = {};
function chart(id, title, key) {
  const opts = { title, width: 380, height: 180, scales: { x: { time: true } }, series: [{}, { label: title, stroke: '#58a6ff', width: 2 }], axes: [{ stroke: '#8fa3b8' }, { stroke: '#8fa3b8' }] };
  charts[id] = { key, plot: new uPlot(opts, [[], []], $(id)) };
}
chart('chart-sessions', 'sessions', 'sessions');
chart('chart-errors', 'errors / s', 'errorsPerS');
chart('chart-routed', 'routed / s', 'routedPerS');

async function refreshCharts() {
  const points = await (await fetch('/api/history')).json();
  for (const c of Object.values(charts)) c.plot.setData([points.map((p) => p.at / 1000), points.map((p) => p[c.key])]);
}

async function start() {
  actions = await (await fetch('/api/actions')).json();
  const events = new EventSource('/api/events');
  events.addEventListener('state', (e) => render(JSON.parse(e.data)));
  events.addEventListener('open', () => {
    $('live').textContent = 'live';
    $('live').className = 'pill ok';
  });
  events.addEventListener('error', () => {
    $('live').textContent = 'reconnecting';
    $('live').className = 'pill bad';
  });
  await refreshCharts();
  setInterval(() => void refreshCharts(), 5000);
}
void start();
