// A late busy answer that comes before the box acted on the verdict is undone there too (issue
// 19): the dial begun at power-on (issue 18.6) failed on a dead-path verdict while the app was
// still starting, then its kept connection was answered CONNACK 3. `connecting` then takes no
// failure from that dial: the box waits for the round's next attempt instead of falling back.
// (A verdict the box already acted on, in `connecting`, stays acted on: docs/DECISIONS.md.)
import test from 'ava';
import { profile } from '../../devices/profiles.ts';
import { TimeoutError } from '../../runtime/index.ts';
import type { DialRequest, Dialer, ReturnChannel } from '../../loader/index.ts';
import { type Engine, loadEngine } from '../../sandbox/index.ts';
import { guideApp, signer } from '../_helpers/box-app.ts';
import { carouselFeed, makeBox, teardownInOrder } from '../_helpers/box-fixtures.ts';
import { until } from '../_helpers/mqtt-fixtures.ts';

const engine = await loadEngine();
const keys = await signer();

test('a verdict of the power-on dial undone by a late busy answer before `connecting`: no fallback, the box waits for the round', async (t) => {
  const app = await guideApp(keys);
  const feed = carouselFeed(app.set);
  let resolveEngine: (e: Engine) => void = () => {};
  const loading = new Promise<Engine>((res) => (resolveEngine = res));
  const asked: DialRequest[] = [];
  // The first attempt is a dead-path verdict; the next never settles (the round's attempt under way).
  const dialer: Dialer = (r) => (asked.push(r), asked.length === 1 ? Promise.reject(new TimeoutError('no CONNACK within 165 ms: dead path', 165)) : new Promise<ReturnChannel>(() => {}));
  const { box, events } = makeBox(engine, keys.trusted, feed.tuner, undefined, { profile: profile('hd-dvr'), boxId: 'box-1', engine: loading, dialer });
  teardownInOrder(t, box);
  await box.start();
  await box.waitFor(() => events.some((e) => e.kind === 'dial' && !e.ok), 10_000);
  t.true(box.history.every((h) => h.state !== 'connecting'), 'the verdict came before connecting');
  asked[0]?.onBusy?.(1);
  t.like(events.at(-1), { kind: 'dial', ok: false, undone: 1 });
  resolveEngine(engine);
  await box.waitFor((b) => b.history.some((h) => h.state === 'connecting'), 15_000);
  await until(() => asked.length === 2, 10_000, 'the round\'s next attempt, after the busy backoff');
  t.is(box.history.at(-1)?.state, 'connecting', 'waiting for the round, not falling back on an undone verdict');
  t.false(box.history.some((h) => h.state === 'acquiring-fallback-1'));
});
