// Box-side leftovers of issue 16: a module's request made before the session is up waits for it
// within its deadline (it failed at once with UNAVAILABLE, code 4), and a session refused with
// REFUSED is asked for again with exponential backoff, not every ~1.5 s.
import test from 'ava';
import { profile } from '../../devices/profiles.ts';
import { Codes, seededRandom } from '../../runtime/index.ts';
import { loadEngine } from '../../sandbox/index.ts';
import type { BoxEvent } from '../../loader/index.ts';
import { guideApp, signer } from '../_helpers/box-app.ts';
import { boxBroker, carouselFeed, makeBox, teardownInOrder } from '../_helpers/box-fixtures.ts';
import { Responder } from '../_helpers/headend-responder.ts';

const engine = await loadEngine();
const keys = await signer();

test('a request made at start, before the session is up, waits for it and is answered', async (t) => {
  // The ui asks the server portion the moment it starts: the box is still dialing then.
  const uiSource = `weft.on('start', async () => {
    try {
      const r = await weft.request(weft.address('server'), { op: 'now' }, { timeout: 20000 });
      weft.ui.show({ screen: 'now', title: r.title });
    } catch (e) {
      weft.ui.show({ screen: 'error', code: e.code, message: String(e.message) });
    }
  });`;
  const app = await guideApp(keys, { uiSource });
  const broker = await boxBroker();
  const he = await Responder.start({ url: broker.url, engine, app, trusted: keys.trusted });
  const { box } = makeBox(engine, keys.trusted, carouselFeed(app.set).tuner, broker.url, { profile: profile('modern-4k') });
  teardownInOrder(t, box, he, broker);
  await box.start();
  await box.waitFor((b) => b.screen('ui') !== undefined, 25_000);
  t.like(box.screen('ui'), { screen: 'now', title: 'News at Ten' }, 'not UNAVAILABLE at once');
  const stats = box.stats().switch as { sessionWait: { waited: number; expired: number } };
  t.is(stats.sessionWait.waited, 1);
  t.is(stats.sessionWait.expired, 0);
});

test('a box without a session coming (degraded) still fails such a request at once', async (t) => {
  const uiSource = `weft.on('key', async () => {
    try { await weft.request(weft.address('server'), {}, { timeout: 20000 }); weft.ui.show({ screen: 'ok' }); }
    catch (e) { weft.ui.show({ screen: 'error', code: e.code }); }
  });`;
  const app = await guideApp(keys, { uiSource });
  const { box } = makeBox(engine, keys.trusted, carouselFeed(app.set).tuner, undefined, { profile: profile('broadcast-only'), boxId: 'box-5' });
  t.teardown(() => box.stop());
  await box.start();
  await box.waitFor((b) => b.state === 'degraded', 15_000);
  await box.pressKey('x');
  await box.waitFor((b) => b.screen('ui') !== undefined, 5000);
  t.like(box.screen('ui'), { screen: 'error', code: Codes.UNAVAILABLE });
});

test('REFUSED sessions are asked for again with capped exponential backoff, seeded jitter', async (t) => {
  const app = await guideApp(keys);
  const broker = await boxBroker();
  const he = await Responder.start({ url: broker.url, engine, app, trusted: keys.trusted, refuse: 1000, refuseCode: Codes.REFUSED });
  const { box, events } = makeBox(engine, keys.trusted, carouselFeed(app.set).tuner, broker.url, {
    profile: profile('modern-4k'),
    boxId: 'box-3',
    random: seededRandom(7),
    channel: { rttMs: 100, round: { baseMs: 50, capMs: 200 }, background: { baseMs: 20, factor: 2, capMs: 320, jitter: 0.5 } },
  });
  teardownInOrder(t, box, he, broker);
  const retries = (): Extract<BoxEvent, { kind: 'session-retry' }>[] => events.filter((e): e is Extract<BoxEvent, { kind: 'session-retry' }> => e.kind === 'session-retry');
  await box.start();
  await box.waitFor(() => retries().length >= 6, 30_000).catch((e: unknown) => { t.log(events.map((x) => JSON.stringify(x)).join("\n")); throw e; });
  const r = retries().slice(0, 6);
  t.log(r.map((e) => `${e.refusals}: ${e.inMs.toFixed(0)} ms`).join(', '));
  for (const e of r) {
    // The n-th refusal in a row waits min(cap, base x 2^(n-1)), minus up to half of it (jitter).
    const d = Math.min(320, 20 * 2 ** (e.refusals - 1));
    t.true(e.refusals >= 1, 'each retry follows a REFUSED answer');
    t.true(e.inMs >= d / 2 && e.inMs <= d, `${e.inMs} ms after ${e.refusals} refusals, expected [${d / 2}, ${d}]`);
  }
  t.true((r.at(-1)?.refusals ?? 0) > (r[0]?.refusals ?? 0), 'refusals in a row grow');
  t.true((r.at(-1)?.inMs ?? 0) >= 160, 'the wait grew to the cap region');
});
