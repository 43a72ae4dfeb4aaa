// [issue 18.6] The box begins its dial before its app's start (at the app's start since wave 5,
// at power-on since wave 7: test/loader/boot-overlap.test.ts; under emulation the dial had
// waited for the app's start, which waited for the engine): the states it shows and what it does
// when the dial fails are unchanged; `connecting` only finds the dial's outcome there sooner.
import test from 'ava';
import { profile } from '../../devices/profiles.ts';
import { ReturnPath } from '../../devices/return-path.ts';
import type { BoxEvent } from '../../loader/index.ts';
import { type Engine, loadEngine } from '../../sandbox/index.ts';
import { guideApp, signer } from '../_helpers/box-app.ts';
import { boxBroker, carouselFeed, makeBox, teardownInOrder } from '../_helpers/box-fixtures.ts';
import { Responder } from '../_helpers/headend-responder.ts';

const engine = await loadEngine();
const keys = await signer();

function deferred(): { promise: Promise<Engine>; resolve: (e: Engine) => void } {
  let resolve: (e: Engine) => void = () => {};
  const promise = new Promise<Engine>((res) => (resolve = res));
  return { promise, resolve };
}

type Dial = Extract<BoxEvent, { kind: 'dial' }>;
const dials = (events: BoxEvent[]): Dial[] => events.filter((e): e is Dial => e.kind === 'dial');

async function setup(t: import('ava').ExecutionContext, mode: 'open' | 'dead', boxId: string) {
  const app = await guideApp(keys);
  const broker = await boxBroker();
  const path = await ReturnPath.start({ target: { host: broker.host, port: broker.port }, mode });
  const he = await Responder.start({ url: broker.url, engine, app, trusted: keys.trusted });
  const feed = carouselFeed(app.set);
  const loading = deferred();
  const { box, events } = makeBox(engine, keys.trusted, feed.tuner, broker.url, {
    profile: profile('hd-dvr'),
    boxId,
    dialUrl: path.url,
    engine: loading.promise,
    channel: { rttMs: 40, round: { baseMs: 50, capMs: 200 }, background: { baseMs: 100, capMs: 300 } },
  });
  teardownInOrder(t, box, he, path, broker);
  await box.start();
  return { box, events, he, loading };
}

test('the link comes up while the app is still starting; the box goes through connecting as before and is up', async (t) => {
  const { box, events, he, loading } = await setup(t, 'open', 'box-1');
  await box.waitFor((b) => b.history.some((h) => h.state === 'starting'), 10_000);
  // The engine has not loaded, so no module runs yet: the dial went ahead anyway.
  await box.waitFor(() => events.some((e) => e.kind === 'link' && e.up), 10_000);
  t.deepEqual(box.running(), []);
  t.is(box.history.at(-1)?.state, 'starting');

  loading.resolve(engine);
  await box.waitFor((b) => b.state === 'up', 10_000);
  t.deepEqual(box.history.map((h) => h.state), ['tuning', 'acquiring-boot', 'starting', 'connecting', 'session-setup', 'up']);
  t.deepEqual(dials(events).map((d) => d.ok), [true], 'one dial: connecting used the one begun early');
  t.is(he.opens.length, 1);
});

test('a dial that fails while the app starts: the box takes fallback-1 from connecting on that failure, as it did when it dialed there', async (t) => {
  const { box, events, loading } = await setup(t, 'dead', 'box-2');
  await box.waitFor((b) => b.history.some((h) => h.state === 'starting'), 10_000);
  await box.waitFor(() => dials(events).length >= 1, 10_000);
  const first = dials(events)[0];
  t.false(first?.ok);
  t.true(first?.deadPath);
  t.is(box.history.at(-1)?.state, 'starting', 'the failure came while the app was starting');

  loading.resolve(engine);
  await box.waitFor((b) => b.state === 'degraded', 15_000);
  t.deepEqual(
    box.history.map((h) => h.state),
    ['tuning', 'acquiring-boot', 'starting', 'connecting', 'acquiring-fallback-1', 'connecting-again', 'acquiring-fallback-2', 'degraded'],
  );
  const fallback = box.history.findIndex((h) => h.state === 'acquiring-fallback-1');
  t.is(box.history[fallback]?.event, 'dial-failed');
  t.deepEqual(box.running().sort(), ['listings', 'search', 'ui']);
});
