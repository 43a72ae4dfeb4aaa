// Acquisition from the carousel [c1, c3]: a version change in the middle of the boot tier, a
// corrupted block (CRC) and a module that does not match the signed manifest (refused,
// re-acquired, never run), and a download from the head-end that does not match either.
import test from 'ava';
import { profile } from '../../devices/profiles.ts';
import { loadEngine } from '../../sandbox/index.ts';
import type { Box, BoxEvent } from '../../loader/index.ts';
import { guideApp, signer } from '../_helpers/box-app.ts';
import { boxBroker, carouselFeed, makeBox } from '../_helpers/box-fixtures.ts';
import { Responder } from '../_helpers/headend-responder.ts';
import { prng } from '../carousel/_app.ts';

const engine = await loadEngine();
const keys = await signer();

type Scene = { screen?: string; version?: string } | undefined;
const scenes = (events: BoxEvent[]): Scene[] => events.filter((e): e is Extract<BoxEvent, { kind: 'scene' }> => e.kind === 'scene').map((e) => e.scene as Scene);
const refusals = (events: BoxEvent[]): Extract<BoxEvent, { kind: 'refused' }>[] => events.filter((e): e is Extract<BoxEvent, { kind: 'refused' }> => e.kind === 'refused');

function broadcastOnly(box: { box: Box; events: BoxEvent[] }, t: import('ava').ExecutionContext): Box {
  t.teardown(() => box.box.stop());
  return box.box;
}

test('the carousel switches to a new version in the middle of the boot tier: the box runs the new one, never a mix', async (t) => {
  const v1 = await guideApp(keys, { version: '1.0.0', uiPadding: 60_000 });
  const v2 = await guideApp(keys, { version: '2.0.0', uiPadding: 60_000 });
  const feed = carouselFeed(v1.set, { paused: true, fec: false });
  const tb = makeBox(engine, keys.trusted, feed.tuner, undefined, { profile: profile('broadcast-only') });
  const box = broadcastOnly(tb, t);
  await box.start();
  feed.deliver(12); // DSI, DII and part of v1's ui (about 45 datagrams of blocks)
  await box.waitFor((b) => b.state === 'acquiring-boot', 3000);
  t.is(box.running().length, 0);
  feed.update(v2.set);
  feed.resume();
  await box.waitFor((b) => b.running().includes('ui'), 10_000);
  t.like(box.screen('ui'), { screen: 'home', version: '2.0.0' });
  t.false(scenes(tb.events).some((s) => s?.version === '1.0.0'), 'v1 never ran');
  t.deepEqual(refusals(tb.events), [], 'the receiver restarted the changed modules; nothing mixed reached verification');
  t.is(box.app?.manifest.version, '2.0.0');
});

test('a new version while running: acquired and verified, then the app restarts on it', async (t) => {
  const v1 = await guideApp(keys, { version: '1.0.0' });
  const v2 = await guideApp(keys, { version: '1.1.0' });
  const feed = carouselFeed(v1.set);
  const tb = makeBox(engine, keys.trusted, feed.tuner, undefined, { profile: profile('broadcast-only') });
  const box = broadcastOnly(tb, t);
  await box.start();
  await box.waitFor((b) => b.state === 'degraded', 10_000);
  feed.update(v2.set);
  await box.waitFor((b) => (b.screen('ui') as Scene)?.version === '1.1.0', 10_000);
  t.true(box.history.some((h) => h.event === 'update' && h.action === 'restart-app'));
  await box.waitFor((b) => b.state === 'degraded' && b.history.filter((h) => h.state === 'degraded').length === 2, 10_000);
  t.deepEqual(box.running().sort(), ['listings', 'search', 'ui'], 'the fallback tiers of the new version run too');
});

test('corrupted blocks fail their CRC and are taken again on a later lap; the app boots intact', async (t) => {
  const app = await guideApp(keys, { uiPadding: 20_000 });
  const feed = carouselFeed(app.set, { fec: false });
  const r = prng(7);
  feed.impair((d) => {
    if (r() >= 0.2) return [d];
    const c = d.slice();
    const at = 8 + Math.floor(r() * 1300); // one byte inside a packet payload
    c[at] = (c[at] ?? 0) ^ 0x41;
    return [c];
  });
  const tb = makeBox(engine, keys.trusted, feed.tuner, undefined, { profile: profile('broadcast-only') });
  const box = broadcastOnly(tb, t);
  await box.start();
  await box.waitFor((b) => b.state === 'degraded', 15_000);
  const rx = (box.stats().acquire as { receiver: { badSections: number } }).receiver;
  t.true(rx.badSections > 0, `CRC refused ${rx.badSections} sections`);
  t.like(box.screen('ui'), { screen: 'home', version: '1.0.0' });
  t.deepEqual(refusals(tb.events), []);
});

test('a module that does not match the signed manifest is refused, re-acquired, never run; the genuine one runs once on air', async (t) => {
  const genuine = await guideApp(keys);
  const forged = await guideApp(keys, { tamper: { ui: `weft.ui.show({ screen: 'pwned' });` } });
  const feed = carouselFeed(forged.set);
  const tb = makeBox(engine, keys.trusted, feed.tuner, undefined, { profile: profile('broadcast-only') });
  const box = broadcastOnly(tb, t);
  await box.start();
  await box.waitFor(() => refusals(tb.events).length >= 3, 10_000);
  const r = refusals(tb.events)[0];
  t.is(r?.problem, 'tampered-module');
  t.is(r?.module, 'ui');
  t.is(box.state, 'acquiring-boot', 'refused every lap; nothing started');
  t.deepEqual(box.running(), []);
  t.false(scenes(tb.events).some((s) => s?.screen === 'pwned'));
  const receivers = (box.stats().acquire as { receivers: number }).receivers;
  t.true(receivers >= 4, 'each refusal starts a fresh acquisition');

  feed.update(genuine.set);
  await box.waitFor((b) => b.running().includes('ui'), 10_000);
  t.like(box.screen('ui'), { screen: 'home', version: '1.0.0' });
  t.false(scenes(tb.events).some((s) => s?.screen === 'pwned'), 'the forged bytes never ran');
});

test('a manifest signed by a key the box does not trust is refused whole', async (t) => {
  const other = await signer();
  const app = await guideApp(other);
  const feed = carouselFeed(app.set);
  const tb = makeBox(engine, keys.trusted, feed.tuner, undefined, { profile: profile('broadcast-only') });
  const box = broadcastOnly(tb, t);
  await box.start();
  await box.waitFor(() => refusals(tb.events).length >= 2, 10_000);
  t.is(refusals(tb.events)[0]?.problem, 'unknown-key');
  t.deepEqual(box.running(), []);
});

test('a download from the head-end that does not match the signed manifest never runs; the carousel copy does', async (t) => {
  const app = await guideApp(keys);
  const broker = await boxBroker();
  const he = await Responder.start({ url: broker.url, engine, app, trusted: keys.trusted, tamper: (m, code) => (m === 'search' ? new TextEncoder().encode(`weft.on('request', () => ({ count: 666 }));`) : code) });
  const feed = carouselFeed(app.set);
  const tb = makeBox(engine, keys.trusted, feed.tuner, broker.url, { profile: profile('modern-4k'), boxId: 'box-6' });
  t.teardown(async () => {
    await tb.box.stop();
    await he.close();
    await broker.close();
  });
  await tb.box.start();
  await tb.box.waitFor((b) => b.history.some((h) => h.event === 'session-failed'), 10_000);
  const r = refusals(tb.events).find((e) => e.module === 'search');
  t.is(r?.problem, 'tampered-module');
  await tb.box.waitFor((b) => b.running().includes('search'), 10_000);
  await tb.box.pressKey('search');
  await tb.box.waitFor((b) => (b.screen('ui') as { count?: number } | undefined)?.count !== undefined, 3000);
  t.like(tb.box.screen('ui'), { count: 1 }, 'the verified carousel copy answers, not the forged download');
});
