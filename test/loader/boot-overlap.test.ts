// [issue 18.6] At power-on a warm box checks its cached app, tunes and dials at once: none of the
// three waits for another (they did one after the other, and the dial waited for the app's start).
// What must not change: a module runs only once its check passed, a DSI heard during the check
// does not make a warm boot a cold one, and the box shows the same states as before. The waits
// are held open by gates the test releases, so nothing here depends on timing.
import test from 'ava';
import { profile } from '../../devices/profiles.ts';
import { MemoryStorage, type Tuner } from '../../loader/index.ts';
import { type TrustedKey, verifySignature } from '../../runtime/app/index.ts';
import { loadEngine } from '../../sandbox/index.ts';
import { type BuiltApp, guideApp, signer } from '../_helpers/box-app.ts';
import { boxBroker, carouselFeed, makeBox, teardownInOrder } from '../_helpers/box-fixtures.ts';
import { Responder } from '../_helpers/headend-responder.ts';
import { until } from '../_helpers/mqtt-fixtures.ts';

/** Each wait ends on its event; this bound only ends a run that fails (a cold boot on a loaded 2-core machine took over 10 s). */
const BOUND_MS = 45_000;

const engine = await loadEngine();
const keys = await signer();

interface Gate {
  readonly open: Promise<void>;
  release(): void;
}
function gate(): Gate {
  let release = (): void => {};
  const open = new Promise<void>((r) => (release = r));
  return { open, release };
}

/** Device storage holding the guide app, as a first boot from the carousel left it. */
async function warmStorage(app: BuiltApp, boxId: string): Promise<MemoryStorage> {
  const storage = new MemoryStorage(profile('hd-dvr').storageBytes);
  const first = makeBox(engine, keys.trusted, carouselFeed(app.set).tuner, undefined, { profile: profile('broadcast-only'), storage, boxId });
  await first.box.start();
  await first.box.waitFor((b) => b.running().includes('ui'), BOUND_MS);
  await first.box.stop();
  return storage;
}

/** The trusted keys, with every signature check held at `g` until it opens; `verdicts` overrides the
 *  real check's answer, in order (undefined: the real answer). */
function heldKeys(g: Gate, log: string[], verdicts: (boolean | undefined)[] = []): TrustedKey[] {
  return keys.trusted.map((k) => ({
    ...k,
    verify: async (bytes: Uint8Array, sig: Uint8Array) => {
      log.push('verify');
      await g.open;
      const real = await verifySignature(bytes, sig, { ...k, verify: undefined });
      return verdicts.shift() ?? real;
    },
  }));
}

/** The carousel feed's tuner, whose tune() is recorded and answers only once `g` opens. */
function heldTuner(inner: Tuner, g: Gate, log: string[]): Tuner {
  return {
    tune: async (onData, onStatus) => {
      log.push('tune');
      await g.open;
      return inner.tune(onData, onStatus);
    },
  };
}

test('the cached app is checked while the box tunes: both are under way before either ends', async (t) => {
  const app = await guideApp(keys);
  const storage = await warmStorage(app, 'box-3');
  const check = gate();
  const tuned = gate();
  const log: string[] = [];
  const { box, events } = makeBox(engine, heldKeys(check, log), heldTuner(carouselFeed(app.set).tuner, tuned, log), undefined, { profile: profile('broadcast-only'), storage, boxId: 'box-3' });
  t.teardown(() => box.stop());
  void box.start();
  // Before: tune() was called only after the check had ended, so this never held.
  await until(() => log.includes('tune') && log.includes('verify'), BOUND_MS, 'the tune and the check under way together');
  t.deepEqual(box.running(), [], 'nothing runs while its check is open');
  t.is(box.history.at(-1)?.state, 'tuning');
  check.release();
  tuned.release();
  await box.waitFor((b) => b.running().includes('ui'), BOUND_MS);
  t.deepEqual(box.history.slice(0, 2).map((h) => [h.state, h.event]), [['tuning', 'boot'], ['starting', 'warm-hit']]);
  t.true(box.app?.fromCache);
  t.false(events.some((e) => e.kind === 'error'));
});

test('a DSI heard while the cached app is checked does not turn the warm boot into a cold one', async (t) => {
  const app = await guideApp(keys);
  const storage = await warmStorage(app, 'box-4');
  const check = gate();
  const log: string[] = [];
  const feed = carouselFeed(app.set);
  const { box, events } = makeBox(engine, heldKeys(check, log), feed.tuner, undefined, { profile: profile('broadcast-only'), storage, boxId: 'box-4' });
  t.teardown(() => box.stop());
  void box.start();
  // The carousel is on air while the check is held: its DSI (every 100 ms here) arrives first.
  await until(() => feed.sent > 400, BOUND_MS, 'the carousel heard during the check (~2 s of stream: DSIs among it)');
  t.true(log.includes('verify'));
  t.is(box.history.at(-1)?.state, 'tuning');
  check.release();
  await box.waitFor((b) => b.running().includes('ui'), BOUND_MS);
  t.deepEqual(box.history.slice(0, 2).map((h) => h.state), ['tuning', 'starting'], 'started from storage, not acquired again');
  t.true(box.app?.fromCache);
  t.false(events.some((e) => e.kind === 'error'));
});

test('a cached app that fails its check never runs, though the tune was done first: the box boots cold', async (t) => {
  const app = await guideApp(keys);
  const storage = await warmStorage(app, 'box-5');
  const check = gate();
  const log: string[] = [];
  // The cached manifest's signature is refused (a key taken back, say); the carousel's passes.
  const { box, events } = makeBox(engine, heldKeys(check, log, [false]), carouselFeed(app.set).tuner, undefined, { profile: profile('broadcast-only'), storage, boxId: 'box-5' });
  t.teardown(() => box.stop());
  void box.start();
  await until(() => log.includes('verify'), BOUND_MS, 'the check under way');
  check.release();
  await box.waitFor(() => events.some((e) => e.kind === 'module' && e.action === 'started'), BOUND_MS);
  t.is(box.history[1]?.state, 'acquiring-boot', 'no warm hit');
  const started = events.findIndex((e) => e.kind === 'module' && e.action === 'started');
  const verified = events.findIndex((e) => e.kind === 'state' && e.event === 'tier-verified');
  t.true(verified >= 0 && started > verified, 'the first module started only after the carousel copy was verified');
  t.false(box.app?.fromCache);
});

test('the dial begins at power-on, beside the check: the link is up before the app starts, and the states are as before', async (t) => {
  const app = await guideApp(keys);
  const storage = await warmStorage(app, 'box-6');
  const broker = await boxBroker();
  const he = await Responder.start({ url: broker.url, engine, app, trusted: keys.trusted });
  const check = gate();
  const log: string[] = [];
  const { box, events } = makeBox(engine, heldKeys(check, log), carouselFeed(app.set).tuner, broker.url, { profile: profile('hd-dvr'), storage, boxId: 'box-6' });
  teardownInOrder(t, box, he, broker);
  void box.start();
  // Before: the dial began with the app's start, after the check: no link while it was held.
  await until(() => events.some((e) => e.kind === 'link' && e.up), BOUND_MS, 'the link up while the check is held');
  t.is(box.history.at(-1)?.state, 'tuning');
  t.deepEqual(box.running(), []);
  check.release();
  await box.waitFor((b) => b.state === 'up', BOUND_MS);
  t.deepEqual(box.history.map((h) => h.state), ['tuning', 'starting', 'connecting', 'session-setup', 'up']);
  t.is(events.filter((e) => e.kind === 'dial').length, 1, 'one dial: connecting took the one begun at power-on');
  t.is(he.opens.length, 1);
});
