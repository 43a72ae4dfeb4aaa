// The console as a person sees it, in Debian's chromium: the nodes table, the error panel
// lighting up when a failure is counted, the live stream, and an action that needs the
// operator token and then takes effect.
import test from 'ava';
import { Channel, SessionOps, checkOpenReply, formatTraceparent, newTrace, ok, type Envelope } from '../../runtime/index.ts';
import { SeededRandom, type PlacementPolicy } from '../../policy/index.ts';
import { createUdpTransport } from '../../transport/index.ts';
import { LogRing, nodeSource, startConsole, type ConsoleSnapshot, type ConsoleSource } from '../../headend/console/index.ts';
import { createLogger } from '../../headend/log.ts';
import { OtelNodeTracer } from '../../headend/trace/tracer-otel.ts';
import { MIXED_APP, signedApp } from '../_helpers/apps.ts';
import { launchBrowser } from '../_helpers/browser.ts';
import { memoryRegistry, testNode } from '../_helpers/headend.ts';
import { until } from '../_helpers/mqtt-fixtures.ts';

/** Sessions go to `id` while it takes work; a drain excludes it, and the rest go to the other node. */
const onNode = (id: string): PlacementPolicy => ({
  name: `on-${id}`,
  place: (view, req) => {
    const i = view.nodes.findIndex((n) => (req.exclude ?? []).includes(id) ? n.node !== id && !(req.exclude ?? []).includes(n.node) : n.node === id);
    return ok({ node: view.nodes[i]?.node ?? id, index: i, score: 0 });
  },
});

const TOKEN = 'browser-test-token-0123456789';

function source(stopped: string[]): ConsoleSource & { snap: ConsoleSnapshot } {
  const snap: ConsoleSnapshot = {
    node: 'n1',
    at: Date.UTC(2026, 11, 5),
    nodes: [
      { node: 'n1', state: 'ok', ageMs: 10, sessions: 2, workers: 2, cpu: 0.31, rssBytes: 90e6, loopP99Ms: 3.2, waitMs: 0.4, load: 2, capacity: 8 },
      { node: 'n2', state: 'dead', ageMs: 9500, sessions: 0, workers: 1, cpu: 0, rssBytes: 60e6, loopP99Ms: 0, waitMs: 0, load: 0, capacity: 8 },
    ],
    counters: { node_dispatched: 10, node_undeliverable: 0, sessions_opened: 2 },
    errorCounters: ['node_undeliverable'],
  };
  return {
    snap,
    snapshot: () => structuredClone(snap),
    actions: {
      'stop-session': async (args) => {
        stopped.push(String(args.session));
        return { stopped: 1 };
      },
    },
  };
}

test('an engineer sees the nodes and a failing counter, then stops a session with the operator token', async (t) => {
  const browser = await launchBrowser(t);
  if (browser === undefined) return;
  const stopped: string[] = [];
  const src = source(stopped);
  const c = await startConsole({ source: src, token: TOKEN, pushEveryMs: 50 });
  t.teardown(() => c.close());
  const page = await browser.newPage();
  await page.goto(c.url);
  await page.getByRole('status').filter({ hasText: 'live' }).waitFor();
  const rows = page.locator('#nodes tbody tr');
  await rows.nth(1).waitFor();
  t.deepEqual(await rows.nth(0).locator('td').allTextContents().then((c) => c.slice(0, 3)), ['n1', 'ok', '2']);
  t.is(await rows.nth(1).locator('td').nth(1).textContent(), 'dead');
  t.is(await rows.nth(1).locator('td span').getAttribute('class'), 'bad');
  // A failure is counted on the node: the error panel shows it, highlighted, without a reload.
  src.snap.counters.node_undeliverable = 7;
  await page.locator('#errors li.hot', { hasText: 'node undeliverable: 7' }).waitFor();
  // An action without the token is refused and nothing happens.
  await page.fill('#session-id', 's-42');
  await page.click('#stop-session button');
  await page.locator('#action-result', { hasText: 'operator token is needed' }).waitFor();
  t.deepEqual(stopped, []);
  // With the token it takes effect.
  await page.fill('#token', TOKEN);
  await page.click('#stop-session button');
  await page.locator('#action-result', { hasText: 'stop-session: done' }).waitFor();
  t.deepEqual(stopped, ['s-42']);
  // The charts are drawn from the history endpoint.
  t.is(await page.locator('.uplot').count(), 3);
});

test('an engineer finds the failing node by its error counter, sees why in a log line with its trace id, and drains it from the console', async (t) => {
  const browser = await launchBrowser(t);
  if (browser === undefined) return;
  const { pub, trusted } = await signedApp('mix', MIXED_APP);
  const registry = memoryRegistry();
  const ring = new LogRing(50);
  const logger = createLogger({ component: 'headend', level: 'info', file: '/dev/null', recent: ring });
  const tracer = new OtelNodeTracer({ node: 'n1', logger: logger.child({ node: 'n1' }) });
  // Beats every 5 s: a node is declared dead only after 12.5 s of silence. On this shared machine
  // (load 20-30 on 2 cores, a browser beside) a starved process can miss shorter deadlines, and a
  // false death re-places n1's session from scratch, which is a failover, not the drain under test.
  const n1 = await testNode({ id: 'n1', registry, apps: [pub], trusted, tracer, policy: onNode('n1'), intervalMs: 5000 });
  const n2log: string[] = [];
  const n2 = await testNode({ id: 'n2', registry, apps: [pub], trusted, intervalMs: 5000, log: (l) => n2log.push(l) });
  const boxT = await createUdpTransport({ host: '127.0.0.1', port: 0 });
  t.teardown(async () => {
    await boxT.close();
    await n1.close();
    await n2.close();
    await tracer.close();
    await registry.close();
  });
  await n1.refreshPeers();
  await n2.refreshPeers();
  await until(() => n1.statistics.clusterView().nodes.length === 2, 10_000, 'n1 sees n2');
  // A box with a session on n1, and a sampled request of it that n1 cannot deliver.
  const tp = formatTraceparent(newTrace(new SeededRandom(17).uniform()));
  const box = new Channel({ self: { vaddr: 'weft://box/b/inbox', udp: boxT.address.udp as { host: string; port: number } }, write: (e: Envelope) => boxT.send(e), timeoutMs: 10_000 });
  boxT.onEnvelope((e) => box.receive(e));
  const report = { boxId: 'b', profile: 'legacy-sd', freeMemoryBytes: 1 << 20, appMemoryBytes: 4 << 20, cpuClass: 'low' as const, cpuLoad: 0, storageFreeBytes: 0, sandboxBytes: 0, twoWayUp: true, at: 0 };
  const s = checkOpenReply(await box.request({ vaddr: 'weft://headend/n1/sessions', udp: n1.udpAddress }, { app: 'mix', version: '1.0.0', boxId: 'b', report }, { op: SessionOps.open }));
  t.is(s.node, 'n1');
  t.like(await box.request({ vaddr: s.dasp, udp: n1.udpAddress }, 'before'), { n: 1 });
  const traced = new Channel({ self: { vaddr: 'weft://box/b/inbox', udp: boxT.address.udp as { host: string; port: number } }, write: (e: Envelope) => boxT.send(e), timeoutMs: 10_000, traceparent: () => tp });
  await t.throwsAsync(traced.request({ vaddr: `weft://mix/${s.session}/gone`, udp: n1.udpAddress }, 'x'));
  const c = await startConsole({ source: nodeSource(n1, { logs: ring }), token: TOKEN, pushEveryMs: 50 });
  t.teardown(() => c.close());
  const page = await browser.newPage();
  await page.goto(c.url);
  await page.getByRole('status').filter({ hasText: 'live' }).waitFor();
  // The failing node: its error counter is lit.
  await page.locator('#errors li.hot', { hasText: /node undeliverable: [1-9]/ }).waitFor();
  // Why: the warning names what failed and carries the trace id to look up in the trace store.
  const traceId = tp.split('-')[1] as string;
  const line = page.locator('#logs li', { hasText: `trace_id=${traceId}` });
  await line.waitFor();
  t.regex((await line.textContent()) ?? '', /warn n1 .*failed weft\.req/);
  // Drain it: the row's button, with the operator token.
  await page.fill('#token', TOKEN);
  await page.locator('#nodes tbody tr', { hasText: 'n1' }).getByRole('button', { name: 'Drain' }).click();
  await page.locator('#action-result', { hasText: 'drain: done' }).waitFor();
  await page.locator('#drain', { hasText: 'n1: left, 1 of 1 moved, 0 left' }).waitFor({ timeout: 20_000 });
  // It took effect: the session's portion and record are on n2, with its state; n2 re-placed nothing.
  t.is(n2.sessions.counters.replaced, 0, n2log.join('\n'));
  t.is((await registry.getSession(s.session))?.node, 'n2');
  t.true(n2.table.hosted.has(s.dasp));
  t.like(await box.request({ vaddr: s.dasp, udp: n2.udpAddress }, 'after'), { n: 2 });
});
