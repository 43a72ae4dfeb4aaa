// The operator console's HTTP surface without a browser: metrics, state, events, history, and
// actions behind the operator token. Routes are called through app.fetch (no sockets) except one
// test through a real server on a free loopback port.
import test from 'ava';
import { ConsoleMetrics, History, consoleApp, nodeSource, startConsole, type ConsoleSnapshot, type ConsoleSource } from '../../headend/console/index.ts';
import { LogRing } from '../../headend/console/log-ring.ts';
import { createLogger } from '../../headend/log.ts';
import { MIXED_APP, signedApp } from '../_helpers/apps.ts';
import { memoryRegistry, testNode } from '../_helpers/headend.ts';
import { until } from '../_helpers/mqtt-fixtures.ts';

const TOKEN = 'operator-token-0123456789';

function fakeSource(calls: unknown[] = []): ConsoleSource & { snap: ConsoleSnapshot } {
  const snap: ConsoleSnapshot = {
    node: 'n1',
    at: 1_000_000,
    nodes: [
      { node: 'n1', state: 'ok', ageMs: 10, sessions: 3, workers: 2, cpu: 0.25, rssBytes: 80e6, loopP99Ms: 4, waitMs: 1.5, load: 3, capacity: 8 },
      { node: 'n2', state: 'dead', ageMs: 9000, sessions: 0, workers: 2, cpu: 0, rssBytes: 70e6, loopP99Ms: 3, waitMs: 0, load: 0, capacity: 8 },
    ],
    counters: { node_dispatched: 100, node_undeliverable: 2, sessions_opened: 5, sessions_refused: 0 },
    errorCounters: ['node_undeliverable'],
  };
  return {
    snap,
    snapshot: () => structuredClone(snap),
    actions: {
      'stop-session': async (args) => {
        calls.push(args);
        if (args.session === 'nope') throw new Error('no session "nope"');
        return { stopped: 1 };
      },
    },
  };
}

function app(source: ConsoleSource) {
  return consoleApp({ source, metrics: new ConsoleMetrics(() => source.snapshot()), history: new History(10), token: TOKEN, assets: { '/': { type: 'text/html', body: '<h1>console</h1>' } }, pushEveryMs: 10 });
}

test('/metrics: node gauges labelled by node only, counters as _total', async (t) => {
  const r = await app(fakeSource()).request('/metrics');
  t.is(r.status, 200);
  t.regex(r.headers.get('content-type') ?? '', /text\/plain/);
  const text = await r.text();
  t.regex(text, /^weft_node_sessions\{node="n1"\} 3$/m);
  t.regex(text, /^weft_node_up\{node="n2"\} 0$/m);
  t.regex(text, /^weft_node_undeliverable_total 2$/m);
  t.regex(text, /^weft_sessions_opened_total 5$/m);
  t.notRegex(text, /session="/, 'no per-session labels');
});

test('actions need the operator token; with it they run with the body as arguments', async (t) => {
  const calls: unknown[] = [];
  const a = app(fakeSource(calls));
  const post = (path: string, body: string, token?: string) => a.request(path, { method: 'POST', body, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
  t.is((await post('/api/actions/stop-session', '{"session":"s1"}')).status, 401);
  t.is((await post('/api/actions/stop-session', '{"session":"s1"}', 'wrong-token-0123456789xx')).status, 401);
  t.deepEqual(calls, [], 'nothing ran without the token');
  t.is((await post('/api/actions/explode', '{}', TOKEN)).status, 404);
  t.is((await post('/api/actions/stop-session', 'not json', TOKEN)).status, 400);
  const ok = await post('/api/actions/stop-session', '{"session":"s1"}', TOKEN);
  t.deepEqual(await ok.json(), { ok: true, result: { stopped: 1 } });
  const failed = await post('/api/actions/stop-session', '{"session":"nope"}', TOKEN);
  t.is(failed.status, 400);
  t.deepEqual(await failed.json(), { error: 'no session "nope"' });
  t.deepEqual(calls, [{ session: 's1' }, { session: 'nope' }]);
});

test('state, history and the event stream', async (t) => {
  const source = fakeSource();
  const a = app(source);
  t.like(await (await a.request('/api/state')).json(), { node: 'n1', counters: { sessions_opened: 5 } });
  const events = await a.request('/api/events');
  const reader = events.body?.getReader();
  const first = new TextDecoder().decode((await reader?.read())?.value);
  await reader?.cancel();
  t.regex(first, /^event: state\ndata: \{"node":"n1"/);
});

test('history: rates from counter deltas over the snapshot clock, bounded to its capacity', (t) => {
  const source = fakeSource();
  const h = new History(3);
  h.sample(source.snapshot());
  source.snap.at += 5000;
  source.snap.counters.node_undeliverable = 12;
  source.snap.counters.node_dispatched = 600;
  const p = h.sample(source.snapshot());
  t.is(p.errorsPerS, 2);
  t.is(p.routedPerS, 100);
  t.is(p.sessions, 3);
  t.is(p.nodesUp, 1);
  h.sample(source.snapshot());
  h.sample(source.snapshot());
  t.is(h.points().length, 3);
});

test('a real server on a free loopback port serves the page and metrics; a short token is refused', async (t) => {
  await t.throwsAsync(startConsole({ source: fakeSource(), token: 'short' }), { message: /at least 16 characters/ });
  const c = await startConsole({ source: fakeSource(), token: TOKEN });
  t.teardown(() => c.close());
  t.regex(c.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  t.regex(await (await fetch(c.url)).text(), /<title>Weft head-end console<\/title>/);
  t.regex(await (await fetch(`${c.url}uplot.js`)).text(), /uPlot/);
  t.regex(await (await fetch(`${c.url}metrics`)).text(), /weft_node_sessions/);
});

test('every metric the ready-made Grafana dashboard queries is exported', async (t) => {
  const { readFileSync } = await import('node:fs');
  const dash = JSON.parse(readFileSync(new URL('../../docs/grafana-dashboard.json', import.meta.url), 'utf8')) as { panels: { targets: { expr: string }[] }[] };
  const text = await (await app(fakeSource()).request('/metrics')).text();
  const names = new Set(dash.panels.flatMap((p) => p.targets.flatMap((q) => q.expr.match(/weft_[a-z0-9_]+/g) ?? [])));
  t.true(names.size >= 10);
  for (const n of names) t.regex(text, new RegExp(`^# TYPE ${n} `, 'm'), `${n} is exported`);
});

test('/metrics shows the drain: a gauge on its state and what remains to move', async (t) => {
  const src = fakeSource();
  src.snap.drain = { state: 'draining', total: 4, moved: 1, failed: 0, remaining: 3, ratePerS: 20 };
  const text = await (await app(src).request('/metrics')).text();
  t.regex(text, /^weft_drain_state\{state="draining"\} 1$/m);
  t.regex(text, /^weft_drain_state\{state="serving"\} 0$/m);
  t.regex(text, /^weft_drain_remaining 3$/m);
});

test('the log ring keeps the last warnings and errors with their trace ids, bounded', (t) => {
  const ring = new LogRing(3);
  const log = createLogger({ component: 'headend', level: 'info', file: '/dev/null', recent: ring });
  log.info('routine');
  log.warn({ node: 'n2', trace_id: 'a'.repeat(32), span_id: 'b'.repeat(16) }, 'undeliverable');
  log.error({ node: 'n2' }, 'x'.repeat(1000));
  t.deepEqual(ring.lines().map((l) => [l.level, l.node, l.trace_id?.length]), [['warn', 'n2', 32], ['error', 'n2', undefined]], 'info stays out of the ring');
  t.is(ring.lines()[1]?.msg.length, 300, 'a long message is cut');
  for (let i = 0; i < 5; i++) log.warn(`w${i}`);
  t.deepEqual(ring.lines().map((l) => l.msg), ['w2', 'w3', 'w4']);
  ring.write('not json');
  t.is(ring.malformed, 1);
});

test('the drain action drains this node or a peer through its control endpoint; the peer leaves and the console shows it', async (t) => {
  const { pub, trusted } = await signedApp('mix', MIXED_APP);
  const registry = memoryRegistry();
  const n1 = await testNode({ id: 'n1', registry, apps: [pub], trusted });
  const n2 = await testNode({ id: 'n2', registry, apps: [pub], trusted });
  t.teardown(async () => {
    await n1.close();
    await n2.close();
    await registry.close();
  });
  await n1.refreshPeers();
  await n2.refreshPeers();
  const src = nodeSource(n1);
  await t.throwsAsync(src.actions.drain?.({ node: 'n9' }) ?? Promise.reject(new Error('none')), { message: /no node "n9" in this cluster \(known: n1, n2\)/ });
  await t.throwsAsync(src.actions.drain?.({ node: 'n2', ratePerS: -1 }) ?? Promise.reject(new Error('none')), { message: /ratePerS/ });
  const r = (await src.actions.drain?.({ node: 'n2' })) as { node: string; state: string };
  t.like(r, { node: 'n2' });
  await until(() => n2.drainer.progress.state === 'left', 10_000, 'n2 left');
  await until(() => !n1.peers().includes('n2'), 10_000, 'n1 forgot n2');
  t.is(src.snapshot().drain?.state, 'serving', "n1's own drain panel: serving");
  t.is(nodeSource(n2).snapshot().drain?.state, 'left');
});
