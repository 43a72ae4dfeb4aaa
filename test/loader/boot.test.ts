// Booting from a real carousel with a real broker (aedes in process): the two-way channel up at
// once, session setup against the head-end responder, mutable placement by the box's resources.
import test from 'ava';
import { profile } from '../../devices/profiles.ts';
import { loadEngine } from '../../sandbox/index.ts';
import { guideApp, signer } from '../_helpers/box-app.ts';
import { boxBroker, carouselFeed, makeBox, teardownInOrder } from '../_helpers/box-fixtures.ts';
import { Responder } from '../_helpers/headend-responder.ts';
import { until } from '../_helpers/mqtt-fixtures.ts';

const engine = await loadEngine();
const keys = await signer();

test('boots from the carousel, the two-way channel comes up at once, session set up, a mutable module placed on the box replaces its proxy', async (t) => {
  const app = await guideApp(keys);
  const broker = await boxBroker();
  const he = await Responder.start({ url: broker.url, engine, app, trusted: keys.trusted });
  const feed = carouselFeed(app.set);
  const { box, events } = makeBox(engine, keys.trusted, feed.tuner, broker.url, { profile: profile('modern-4k') });
  teardownInOrder(t, box, he, broker);
  await box.start();
  await box.waitFor((b) => b.state === 'up', 10_000);

  // The boot sequence went the short way: no fallback tier was needed [c1].
  t.deepEqual(
    box.history.map((h) => h.state),
    ['tuning', 'acquiring-boot', 'starting', 'connecting', 'session-setup', 'up'],
  );
  t.deepEqual(box.screen('ui'), { screen: 'home', version: '1.0.0' });

  // Session setup per runtime/session.ts [c41-c45].
  t.is(he.opens.length, 1);
  const open = he.opens[0];
  t.is(open?.app, 'guide');
  t.is(open?.boxId, 'box-1');
  t.is(open?.report.profile, 'modern-4k');
  t.is(open?.running, undefined, 'nothing ran locally before the session');
  const reply = he.replies[0];
  t.deepEqual(reply?.download, ['search', 'listings'], 'the 4K box has room: search and listings come from the selected node');
  t.deepEqual(he.gets.map((g) => g.module).sort(), ['listings', 'search']);
  await until(() => he.started.length === 1, 3000, 'client-started');
  t.deepEqual(he.started[0]?.modules.sort(), ['listings', 'search', 'ui']);
  t.is(he.started[0]?.dst, reply?.dasp);

  // [c18, c40] search runs on the box now: the proxy is gone, ui and search talk box to box, the head-end never sees it.
  t.is(box.where('search'), 'local');
  t.is(box.where('server'), 'remote');
  await box.pressKey('search');
  await box.waitFor((b) => (b.screen('ui') as { screen?: string } | undefined)?.screen === 'results', 3000);
  t.like(box.screen('ui'), { screen: 'results', count: 1, hits: ['News at Ten', 'Late News'] });
  t.is(he.served.filter((s) => s.module === 'search').length, 0);

  // The server portion answers across the return channel [c39, c45.5].
  await box.pressKey('now');
  await box.waitFor((b) => (b.screen('ui') as { screen?: string } | undefined)?.screen === 'now', 3000);
  t.like(box.screen('ui'), { screen: 'now', title: 'News at Ten', n: 1 });
  t.is(he.served.filter((s) => s.module === 'server').length, 1);
  const started = (await box.ask('server', {})) as { started: { session: string; modules: string[] } };
  t.is(started.started.session, reply?.session as string, 'the server portion got client-started [c42]');

  // Periodic resource reports [c5].
  await until(() => he.reports.length >= 2, 3000, 'two reports');
  const r = he.reports.at(-1);
  t.is(r?.boxId, 'box-1');
  t.true(r?.twoWayUp);
  t.true((r?.sandboxBytes ?? 0) > 0 && (r?.freeMemoryBytes ?? 0) < profile('modern-4k').appMemoryBytes);
  t.false(events.some((e) => e.kind === 'refused'));
});

test('a box short of memory gets the mutable module placed on the head-end and talks to it there', async (t) => {
  const app = await guideApp(keys, { searchMemory: 8 * 1024 * 1024 });
  const broker = await boxBroker();
  const he = await Responder.start({ url: broker.url, engine, app, trusted: keys.trusted });
  const feed = carouselFeed(app.set);
  const { box } = makeBox(engine, keys.trusted, feed.tuner, broker.url, { profile: profile('legacy-sd'), boxId: 'box-2' });
  teardownInOrder(t, box, he, broker);
  await box.start();
  await box.waitFor((b) => b.state === 'up', 10_000);
  const reply = he.replies[0];
  t.is(reply?.modules.find((m) => m.module === 'search')?.side, 'headend', 'legacy-sd has 4 MB for apps: box-lacks-memory [c5]');
  t.deepEqual(reply?.download, ['listings']);
  t.is(box.where('search'), 'remote');
  t.false(box.running().includes('search'));
  for (let i = 1; i <= 2; i++) {
    await box.pressKey('search');
    await box.waitFor((b) => (b.screen('ui') as { count?: number } | undefined)?.count === i, 3000);
  }
  t.is(he.served.filter((s) => s.module === 'search').length, 2, 'served by the head-end instance');
  t.true(he.hosted(reply?.session as string, 'search'));
});
