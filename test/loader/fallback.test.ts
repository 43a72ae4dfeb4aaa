// When the two-way channel fails [c1, c2]: a dead path found within a few round trips, the
// fallback tiers acquired in turn, degraded mode that still works, and the upgrade when the
// channel comes up late (mutable modules move back to the head-end with their state [c31]).
import test from 'ava';
import { profile } from '../../devices/profiles.ts';
import { ReturnPath } from '../../devices/return-path.ts';
import { Codes } from '../../runtime/index.ts';
import { StateCodec } from '../../runtime/app/index.ts';
import { loadEngine } from '../../sandbox/index.ts';
import type { Box, BoxEvent } from '../../loader/index.ts';
import { guideApp, signer } from '../_helpers/box-app.ts';
import { boxBroker, carouselFeed, makeBox, teardownInOrder } from '../_helpers/box-fixtures.ts';
import { Responder } from '../_helpers/headend-responder.ts';

const engine = await loadEngine();
const keys = await signer();
const FAST = { round: { baseMs: 50, capMs: 200 }, background: { baseMs: 100, capMs: 300 } };

type Scene = { screen?: string; count?: number; code?: number; listings?: string[] } | undefined;
const scene = (b: Box): Scene => b.screen('ui') as Scene;

async function press(box: Box, key: string, done: (s: Scene) => boolean): Promise<Scene> {
  await box.pressKey(key);
  await box.waitFor((b) => done(scene(b)), 3000);
  return scene(box);
}

async function setup(t: import('ava').ExecutionContext, o: { profileId: string; boxId: string; searchMemory?: number; mode: 'open' | 'dead'; rttMs?: number; refuse?: number }) {
  const app = await guideApp(keys, o.searchMemory === undefined ? {} : { searchMemory: o.searchMemory });
  const broker = await boxBroker();
  const path = await ReturnPath.start({ target: { host: broker.host, port: broker.port }, mode: o.mode });
  const he = await Responder.start({ url: broker.url, engine, app, trusted: keys.trusted, ...(o.refuse === undefined ? {} : { refuse: o.refuse }) });
  const feed = carouselFeed(app.set);
  const { box, events } = makeBox(engine, keys.trusted, feed.tuner, broker.url, {
    profile: profile(o.profileId),
    boxId: o.boxId,
    dialUrl: path.url,
    channel: { rttMs: o.rttMs ?? 100, ...FAST },
  });
  teardownInOrder(t, box, he, path, broker);
  await box.start();
  return { box, events, he, path, feed };
}

const dials = (events: BoxEvent[]): Extract<BoxEvent, { kind: 'dial' }>[] => events.filter((e): e is Extract<BoxEvent, { kind: 'dial' }> => e.kind === 'dial');

test('two-way never up: the dead path is found in 3 RTT + 50 ms, the box ends on fallback-2 and the app works degraded', async (t) => {
  const { box, events } = await setup(t, { profileId: 'hd-dvr', boxId: 'box-1', mode: 'dead', rttMs: 40 });
  await box.waitFor((b) => b.state === 'degraded', 15_000);
  t.deepEqual(
    box.history.map((h) => h.state),
    ['tuning', 'acquiring-boot', 'starting', 'connecting', 'acquiring-fallback-1', 'connecting-again', 'acquiring-fallback-2', 'degraded'],
  );
  const first = dials(events)[0];
  t.true(first?.deadPath, 'no CONNACK: a dead path, not a refusal');
  // The deadline is 3 x 40 + 45 = 165 ms, the verdict landing within 3 RTT + 50 ms (mqtt.js alone
  // would wait 30 s). When it lands depends on the CPU: a busy one first confirms the deadline over
  // the loop's lag (slow is not dead), so the wall time is only bounded below here, and
  // test/transport/dead-path.test.ts pins the verdict's time on a fake clock.
  t.regex(first?.error ?? '', /within 165 ms: dead path/);
  t.true((first?.ms ?? 0) >= 160, `decided in ${first?.ms} ms`);
  const fallback = box.history.findIndex((h) => h.state === 'acquiring-fallback-1');
  t.is(box.history[fallback - 1]?.state, 'connecting', 'fallback-1 is acquired right after the first dead-path verdict');
  t.is(box.history[fallback]?.event, 'dial-failed');

  // Degraded, not dead: the client UI, the local search and the listings all work [c2].
  t.deepEqual(box.running().sort(), ['listings', 'search', 'ui']);
  t.like(await press(box, 'search', (s) => s?.screen === 'results'), { count: 1 });
  t.like(await press(box, 'listings', (s) => s?.screen === 'listings'), { listings: ['18:00 News at Ten', '19:00 Nature Hour'] });
  // The server portion exists only on the head-end: unreachable, reported at once (no hang).
  t.like(await press(box, 'now', (s) => s?.screen === 'error'), { code: Codes.UNAVAILABLE });
  t.false(box.report().twoWayUp);

  // It keeps retrying in the background.
  const before = dials(events).length;
  await box.waitFor(() => dials(events).length >= before + 2, 5000);
  t.is(box.state, 'degraded');
});

test('two-way comes up late: the mutable module that ran locally moves back to the head-end with its state', async (t) => {
  const { box, events, he, path } = await setup(t, { profileId: 'legacy-sd', boxId: 'box-2', mode: 'dead', searchMemory: 8 * 1024 * 1024 });
  await box.waitFor((b) => b.state === 'degraded', 15_000);
  await press(box, 'search', (s) => s?.count === 1);
  await press(box, 'search', (s) => s?.count === 2);
  t.is(box.where('search'), 'local');

  path.setMode('open');
  await box.waitFor((b) => b.state === 'up', 10_000);
  const open = he.opens[0];
  t.is(open?.running?.length, 1);
  t.is(open?.running?.[0]?.module, 'search');
  t.deepEqual(new StateCodec().decode(open?.running?.[0]?.state as Uint8Array), { count: 2 }, 'its state went with the request');
  t.is(he.replies[0]?.modules.find((m) => m.module === 'search')?.side, 'headend', 'legacy-sd cannot hold it [c5]');

  // [c31] it runs on the head-end now, where it left off; the box routes to it there.
  t.false(box.running().includes('search'));
  t.is(box.where('search'), 'remote');
  t.true(events.some((e) => e.kind === 'module' && e.module === 'search' && e.action === 'moved-to-headend'));
  t.like(await press(box, 'search', (s) => s?.count === 3), { screen: 'results', count: 3 });
  t.is(he.served.filter((s) => s.module === 'search').length, 1);
  t.true(box.running().includes('listings'), 'client modules from the fallback tiers keep running');
  t.like(await press(box, 'now', (s) => s?.screen === 'now'), { screen: 'now' });
});

test('two-way comes up late on a box with room: the mutable module stays and keeps its state', async (t) => {
  const { box, events, he, path } = await setup(t, { profileId: 'modern-4k', boxId: 'box-3', mode: 'dead' });
  await box.waitFor((b) => b.state === 'degraded', 15_000);
  await press(box, 'search', (s) => s?.count === 1);
  path.setMode('open');
  await box.waitFor((b) => b.state === 'up', 10_000);
  t.is(he.replies[0]?.modules.find((m) => m.module === 'search')?.side, 'box');
  t.false(he.gets.some((g) => g.module === 'search'), 'it already runs here: nothing to download');
  t.true(events.some((e) => e.kind === 'module' && e.module === 'search' && e.action === 'kept-on-box'));
  t.like(await press(box, 'search', (s) => s?.count === 2), { count: 2 });
  t.is(he.served.length, 0);
});

test('a head-end that refuses the session sends the box down the fallback path; it asks again and gets one', async (t) => {
  const { box, he } = await setup(t, { profileId: 'hd-dvr', boxId: 'box-4', mode: 'open', refuse: 1 });
  await box.waitFor((b) => b.state === 'up', 15_000);
  const states = box.history.map((h) => h.state);
  t.deepEqual(states.slice(0, 7), ['tuning', 'acquiring-boot', 'starting', 'connecting', 'session-setup', 'acquiring-fallback-1', 'connecting-again']);
  t.is(he.opens.length, 2);
  t.is(he.opens[1]?.running?.[0]?.module, 'search', 'the second request offers the search that ran meanwhile');
});

test('a broadcast-only box never dials: it takes both fallback tiers and runs degraded', async (t) => {
  const app = await guideApp(keys);
  const feed = carouselFeed(app.set);
  const { box, events } = makeBox(engine, keys.trusted, feed.tuner, undefined, { profile: profile('broadcast-only'), boxId: 'box-5' });
  t.teardown(() => box.stop());
  await box.start();
  await box.waitFor((b) => b.state === 'degraded', 15_000);
  t.deepEqual(box.history.map((h) => h.state), ['tuning', 'acquiring-boot', 'starting', 'acquiring-fallback-1', 'acquiring-fallback-2', 'degraded']);
  t.is(dials(events).length, 0);
  t.like(await press(box, 'search', (s) => s?.screen === 'results'), { count: 1 });
});
