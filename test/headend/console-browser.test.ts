// The console as a person sees it, in Debian's chromium: the nodes table, the error panel
// lighting up when a failure is counted, the live stream, and an action that needs the
// operator token and then takes effect.
import test from 'ava';
import { startConsole, type ConsoleSnapshot, type ConsoleSource } from '../../headend/console/index.ts';
import { launchBrowser } from '../_helpers/browser.ts';

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
