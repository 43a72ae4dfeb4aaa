// [wave 15] A box's client-started whose answer is lost (a loaded broker; the head-end heard it):
// the box's setup fails and it opens again. Before, that open was a fresh one and the head-end
// kept the confirmed first session beside it, with no box (D108 ends only unconfirmed ones).
// Now the box names it as `previous`, so the head-end continues it (a retried open of the same
// version restarts nothing) or, when it is gone, opens afresh.
import test from 'ava';
import { profile } from '../../devices/profiles.ts';
import { loadEngine } from '../../sandbox/index.ts';
import { guideApp, signer } from '../_helpers/box-app.ts';
import { boxBroker, carouselFeed, makeBox, teardownInOrder } from '../_helpers/box-fixtures.ts';
import { Responder } from '../_helpers/headend-responder.ts';

const engine = await loadEngine();
const keys = await signer();
const FAST = { round: { baseMs: 50, capMs: 200 }, background: { baseMs: 100, capMs: 300 } };

test('a confirm that got no answer: the next open names that session as previous', async (t) => {
  const app = await guideApp(keys);
  const broker = await boxBroker();
  const he = await Responder.start({ url: broker.url, engine, app, trusted: keys.trusted, muteStarted: 1 });
  const { box } = makeBox(engine, keys.trusted, carouselFeed(app.set).tuner, broker.url, { boxId: 'box-7', profile: profile('hd-dvr'), channel: { rttMs: 100, ...FAST }, requestTimeoutMs: 1000 });
  teardownInOrder(t, box, he, broker);
  await box.start();
  await box.waitFor((b) => b.state === 'up', 20_000);
  t.is(he.opens.length, 2, 'the setup failed once and was asked again');
  t.is(he.started.length, 2, 'the first confirm was heard');
  const first = he.started[0]?.session;
  t.is(he.opens[0]?.previous, undefined);
  t.is(he.opens[1]?.previous, first, 'the second open continues the session the head-end may hold');
});
