// [issue 18.6] The box takes the promise of its QuickJS engine: it tunes, waits for the DSI and
// acquires and verifies the boot tier while the engine loads, and only the first module's
// evaluation waits for it. A failed load is a clear error, not a hang or a crash.
import test from 'ava';
import { profile } from '../../devices/profiles.ts';
import { type Engine, loadEngine } from '../../sandbox/index.ts';
import { guideApp, signer } from '../_helpers/box-app.ts';
import { carouselFeed, makeBox } from '../_helpers/box-fixtures.ts';

const engine = await loadEngine();
const keys = await signer();

function deferred(): { promise: Promise<Engine>; resolve: (e: Engine) => void; reject: (e: Error) => void } {
  let resolve: (e: Engine) => void = () => {};
  let reject: (e: Error) => void = () => {};
  const promise = new Promise<Engine>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

test('the carousel work runs while the engine loads; the modules start once it is there', async (t) => {
  const app = await guideApp(keys);
  const feed = carouselFeed(app.set);
  const loading = deferred();
  const { box, events } = makeBox(engine, keys.trusted, feed.tuner, undefined, { profile: profile('legacy-sd'), engine: loading.promise });
  t.teardown(() => box.stop());
  await box.start();
  // Tuned, the DSI seen, the boot tier verified, the app's start begun: all before the engine exists.
  await box.waitFor((b) => b.history.some((h) => h.state === 'starting'), 10_000);
  t.deepEqual(box.history.map((h) => h.state), ['tuning', 'acquiring-boot', 'starting']);
  t.is((box.stats().acquire as { verified: number }).verified, 1);
  t.deepEqual(box.running(), [], 'no module is evaluated before the engine is there');
  t.false(events.some((e) => e.kind === 'error'));

  loading.resolve(engine);
  await box.waitFor((b) => b.state === 'degraded', 10_000);
  t.true(box.running().includes('ui'));
  t.deepEqual(box.screen('ui'), { screen: 'home', version: '1.0.0' });
  t.false(events.some((e) => e.kind === 'error' || (e.kind === 'module' && e.action === 'fault')));
});

test('an engine that fails to load is an error event naming the app start and the reason; the box still stops', async (t) => {
  const app = await guideApp(keys);
  const feed = carouselFeed(app.set);
  const loading = deferred();
  const { box, events } = makeBox(engine, keys.trusted, feed.tuner, undefined, { profile: profile('legacy-sd'), engine: loading.promise });
  await box.start();
  await box.waitFor((b) => b.history.some((h) => h.state === 'starting'), 10_000);
  loading.reject(new Error('no emscripten-module.wasm beside the firmware'));
  await box.waitFor(() => events.some((e) => e.kind === 'error'), 5000);
  const err = events.find((e) => e.kind === 'error');
  t.is(err?.kind === 'error' ? err.message : undefined, 'start-app: no emscripten-module.wasm beside the firmware');
  t.deepEqual(box.running(), []);
  await box.stop();
  t.is(box.state, 'stopped');
});

// A box announces a state as the table enters it; `state` is the one whose entry action has run.
// `settled` is how a script that counted the announcement reads the box's state afterwards: a
// fleet's `--exit-on degraded` counted both boxes at the announcement and then found one still
// `acquiring-fallback-2`, its fallback modules starting under load (`states: {degraded: 1}`).
test('settled waits for the entry action the box announced: state is then the announced one', async (t) => {
  const app = await guideApp(keys);
  const feed = carouselFeed(app.set);
  const loading = deferred();
  const { box } = makeBox(engine, keys.trusted, feed.tuner, undefined, { profile: profile('legacy-sd'), engine: loading.promise });
  t.teardown(() => box.stop());
  await box.start();
  await box.waitFor((b) => b.history.some((h) => h.state === 'starting'), 10_000);
  t.is(box.state, 'acquiring-boot', 'announced, not yet entered: the app start waits for the engine');
  let settled = false;
  const waiting = box.settled(10_000).then(() => (settled = true));
  await new Promise((r) => setImmediate(r));
  t.false(settled);
  loading.resolve(engine);
  await waiting;
  t.not(box.state, 'acquiring-boot', 'the app started: the box is in `starting` or past it');
});
