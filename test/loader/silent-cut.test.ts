// A silent cut of an idle `up` box (issue 13.5): no request is waiting, reports are QoS 0, so
// only the broker-answered probe (PINGREQ after 4 s of silence) can find it; the box then goes
// to the fallback tiers at once, with no 30 s grace (that is for flaps), and back up after.
import test from 'ava';
import { profile } from '../../devices/profiles.ts';
import { ReturnPath } from '../../devices/return-path.ts';
import { loadEngine } from '../../sandbox/index.ts';
import { guideApp, signer } from '../_helpers/box-app.ts';
import { boxBroker, carouselFeed, makeBox, teardownInOrder } from '../_helpers/box-fixtures.ts';
import { Responder } from '../_helpers/headend-responder.ts';

const engine = await loadEngine();
const keys = await signer();

test('an idle up box whose return path goes silent finds it by its probe and takes the fallback tiers without waiting out the grace', async (t) => {
  const app = await guideApp(keys);
  const broker = await boxBroker();
  const path = await ReturnPath.start({ target: { host: broker.host, port: broker.port } });
  const he = await Responder.start({ url: broker.url, engine, app, trusted: keys.trusted, reportEveryMs: 60_000 });
  const { box } = makeBox(engine, keys.trusted, carouselFeed(app.set).tuner, broker.url, { boxId: 'box-9', profile: profile('hd-dvr'), dialUrl: path.url });
  teardownInOrder(t, box, he, path, broker);
  await box.start();
  await box.waitFor((b) => b.state === 'up', 10_000);
  const first = box.session?.session as string;
  path.setMode('dead'); // packets dropped both ways, no reset: nothing tells the box
  await box.waitFor((b) => b.history.some((h) => h.event === 'link-dead'), 15_000);
  const after = box.history.slice(box.history.findIndex((h) => h.event === 'link-dead'));
  t.is(after[0]?.state, 'acquiring-fallback-1', 'straight to the fallback tiers');
  t.false(box.history.some((h) => h.event === 'grace-expired' || h.state === 'interrupted'), 'no grace for a dead path');
  t.is(box.session, undefined, 'the session was given up: the box does not report up on a dead path');
  t.like(box.stats().channel, { deadLinks: 1 });
  path.setMode('open');
  await box.waitFor((b) => b.state === 'up' && b.history.filter((h) => h.state === 'up').length >= 2, 20_000);
  t.is(he.opens.length, 2, 'a session again once the path is back');
  // The head-end never heard the box give the session up: the open names it, so the head-end
  // continues it (state included) instead of holding a second, orphaned one (scale, wave 4).
  t.is(he.opens[1]?.previous, first, 'the open after a dead path names the session it gave up');
});
