// [D95] The answer to the open of a version the box left (issue 15.6-7, D89) can open a fresh
// session: the box had none to name. The box never uses it and, on the head-end, nothing but the
// box's session.close ends it (test/headend/late-fresh-session.test.ts): the box closes it. A late
// answer naming the session the box holds, or will name, is not closed.
import test from 'ava';
import { profile } from '../../devices/profiles.ts';
import { loadEngine } from '../../sandbox/index.ts';
import { guideApp, signer } from '../_helpers/box-app.ts';
import { boxBroker, carouselFeed, makeBox, teardownInOrder } from '../_helpers/box-fixtures.ts';
import { Responder } from '../_helpers/headend-responder.ts';

const engine = await loadEngine();
const keys = await signer();

test('a late answer that opened a fresh session for a version the box left: the box closes that session, keeps its own', async (t) => {
  const v100 = await guideApp(keys, { version: '1.0.0' });
  const v101 = await guideApp(keys, { version: '1.0.1' });
  const broker = await boxBroker();
  const he = await Responder.start({ url: broker.url, engine, app: v100, trusted: keys.trusted });
  const feed = carouselFeed(v100.set);
  // The opens' own deadline outlasts the test's steps: a held open that expired would not be answered.
  const { box } = makeBox(engine, keys.trusted, feed.tuner, broker.url, { profile: profile('modern-4k'), requestTimeoutMs: 60_000 });
  teardownInOrder(t, box, he, broker);
  let release = (): void => undefined;
  const reached = new Promise<void>((r) => {
    he.gateOpen = (req) => (req.version === '1.0.0' ? new Promise<void>((go) => ((release = go), r())) : undefined);
  });
  await box.start();
  await reached; // 1.0.0's first open is held: the box has no session yet
  feed.update(v101.set);
  await box.waitFor((b) => b.state === 'up' && b.app?.manifest.version === '1.0.1', 20_000);
  const own = box.session?.session as string;
  t.is(he.closes.length, 0);
  release(); // 1.0.0's answer comes now: a fresh session the box will never use
  const late = (): { closed: number; failed: number } => (box.stats().lateSessions as { closed: number; failed: number } | undefined) ?? { closed: 0, failed: 0 };
  await box.waitFor(() => late().closed === 1, 10_000);
  const opened = he.replies.at(-1)?.session as string;
  t.not(opened, own);
  t.deepEqual(he.closes, [{ session: opened }]);
  t.is(box.session?.session, own, 'its own session kept');
  t.is(box.state, 'up');
  t.deepEqual(late(), { closed: 1, failed: 0 });
  t.false(he.started.some((s) => s.session === opened), 'the left version\'s answer is not applied: no client-started for it');
});
