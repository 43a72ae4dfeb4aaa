// A flapping return channel: the established link drops and comes back; the session survives
// short drops (calls fail fast meanwhile), and a drop past the grace period gives the server
// portion up for degraded mode until a new session can be had.
import test from 'ava';
import { profile } from '../../devices/profiles.ts';
import { ReturnPath } from '../../devices/return-path.ts';
import { Codes } from '../../runtime/index.ts';
import { loadEngine } from '../../sandbox/index.ts';
import type { Box } from '../../loader/index.ts';
import { guideApp, signer } from '../_helpers/box-app.ts';
import { boxBroker, carouselFeed, makeBox, teardownInOrder } from '../_helpers/box-fixtures.ts';
import { Responder } from '../_helpers/headend-responder.ts';
import { until } from '../_helpers/mqtt-fixtures.ts';

const engine = await loadEngine();
const keys = await signer();

type Scene = { screen?: string; n?: number; code?: number; count?: number } | undefined;
const scene = (b: Box): Scene => b.screen('ui') as Scene;

async function rig(t: import('ava').ExecutionContext, boxId: string, extra: { sessionGraceMs?: number; searchMemory?: number; profileId?: string } = {}) {
  const app = await guideApp(keys, extra.searchMemory === undefined ? {} : { searchMemory: extra.searchMemory });
  const broker = await boxBroker();
  const path = await ReturnPath.start({ target: { host: broker.host, port: broker.port } });
  const he = await Responder.start({ url: broker.url, engine, app, trusted: keys.trusted, reportEveryMs: 100 });
  const { box, events } = makeBox(engine, keys.trusted, carouselFeed(app.set).tuner, broker.url, {
    boxId,
    profile: profile(extra.profileId ?? 'hd-dvr'),
    dialUrl: path.url,
    ...(extra.sessionGraceMs === undefined ? {} : { sessionGraceMs: extra.sessionGraceMs }),
  });
  teardownInOrder(t, box, he, path, broker);
  await box.start();
  await box.waitFor((b) => b.state === 'up', 10_000);
  return { box, events, he, path };
}

test('the link flaps three times: the session survives, calls fail fast while it is down and work again after', async (t) => {
  const { box, he, path } = await rig(t, 'box-1');
  let served = 0;
  for (let i = 1; i <= 3; i++) {
    path.setMode('reset'); // connections cut; reconnects refused at once
    await box.waitFor((b) => b.state === 'interrupted', 5000);
    t.false(box.report().twoWayUp);
    await box.pressKey('now');
    await box.waitFor((b) => scene(b)?.screen === 'error', 3000);
    // UNAVAILABLE, not TIMEOUT: the call failed at once on the down link instead of waiting out
    // its deadline (not timed: a wall-clock bound fails on a busy machine).
    t.is(scene(box)?.code, Codes.UNAVAILABLE);
    path.setMode('open');
    await box.waitFor((b) => b.state === 'up', 5000);
    await box.pressKey('now');
    await box.waitFor((b) => scene(b)?.screen === 'now', 3000);
    served++;
    t.is(scene(box)?.n, served, `round ${i}: the same server portion answers`);
  }
  t.is(he.opens.length, 1, 'one session throughout');
  t.like(box.stats().switch, { failed: { UNAVAILABLE: 3 } }, 'each call made while the link was down failed with a clear error, counted');
  const downs = box.history.filter((h) => h.state === 'interrupted').length;
  t.is(downs, 3);
  const reportsBefore = he.reports.length;
  await until(() => he.reports.length > reportsBefore, 3000, 'reports resume');
  t.true(he.reports.at(-1)?.twoWayUp);
});

test('a drop past the grace period: the server portion is given up, the box runs degraded, and gets a new session when the link returns', async (t) => {
  const { box, he, path } = await rig(t, 'box-2', { sessionGraceMs: 300, searchMemory: 8 * 1024 * 1024, profileId: 'legacy-sd' });
  t.is(box.where('search'), 'remote');
  // Cut and kept refused: a drop that could be a flap, so the grace runs (a dead path skips it:
  // test/loader/silent-cut.test.ts).
  path.setMode('reset');
  await box.pressKey('search');
  await box.waitFor((b) => b.history.some((h) => h.event === 'grace-expired'), 10_000);
  await box.waitFor((b) => b.running().includes('search'), 10_000);
  t.is(box.where('search'), 'local', 'the carousel copy runs locally in degraded mode');
  await box.pressKey('search');
  await box.waitFor((b) => scene(b)?.screen === 'results', 3000);
  path.setMode('open');
  await box.waitFor((b) => b.state === 'up' && b.history.filter((h) => h.state === 'up').length >= 2, 15_000);
  t.is(he.opens.length, 2, 'a new session');
  t.is(he.opens[1]?.running?.[0]?.module, 'search');
  t.not(he.replies[1]?.session, he.replies[0]?.session);
});
