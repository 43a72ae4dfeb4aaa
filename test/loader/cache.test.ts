// Warm boot from device storage [c1]: unchanged versions start without waiting for the carousel,
// a changed version is fetched; the profile's capacity is kept, and a full device still boots.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { profile } from '../../devices/profiles.ts';
import { loadEngine } from '../../sandbox/index.ts';
import { FolderStorage, MemoryStorage, ModuleCache, type BoxEvent } from '../../loader/index.ts';
import { guideApp, signer } from '../_helpers/box-app.ts';
import { carouselFeed, makeBox, silentTuner } from '../_helpers/box-fixtures.ts';

const engine = await loadEngine();
const keys = await signer();
const MB = 1024 * 1024;

type Scene = { screen?: string; version?: string } | undefined;

test('warm boot: a reboot with the same version starts from device storage with no carousel on air', async (t) => {
  const app = await guideApp(keys);
  const storage = new MemoryStorage(profile('hd-dvr').storageBytes);
  const first = makeBox(engine, keys.trusted, carouselFeed(app.set).tuner, undefined, { profile: profile('broadcast-only'), storage, boxId: 'box-7' });
  await first.box.start();
  await first.box.waitFor((b) => b.state === 'degraded', 10_000);
  await first.box.stop();
  t.true(storage.used() > 0);

  const again = makeBox(engine, keys.trusted, silentTuner, undefined, { profile: profile('broadcast-only'), storage, boxId: 'box-7' });
  t.teardown(() => again.box.stop());
  await again.box.start();
  await again.box.waitFor((b) => b.running().includes('ui'), 3000);
  t.deepEqual(again.box.history.slice(0, 2).map((h) => [h.state, h.event]), [['tuning', 'boot'], ['starting', 'warm-hit']]);
  t.like(again.box.screen('ui'), { screen: 'home', version: '1.0.0' });
  t.true(again.box.app?.fromCache);
  // Its fallback tiers were kept too: degraded mode needs no carousel either.
  await again.box.waitFor((b) => b.state === 'degraded', 5000);
  t.deepEqual(again.box.running().sort(), ['listings', 'search', 'ui']);
});

test('warm boot with a changed version on air: starts the cached one, fetches the new one, then runs it', async (t) => {
  const v1 = await guideApp(keys, { version: '1.0.0' });
  const v2 = await guideApp(keys, { version: '2.0.0' });
  const storage = new MemoryStorage(8 * MB);
  const first = makeBox(engine, keys.trusted, carouselFeed(v1.set).tuner, undefined, { profile: profile('broadcast-only'), storage, boxId: 'box-8' });
  await first.box.start();
  await first.box.waitFor((b) => b.running().includes('ui'), 10_000);
  await first.box.stop();

  const again = makeBox(engine, keys.trusted, carouselFeed(v2.set).tuner, undefined, { profile: profile('broadcast-only'), storage, boxId: 'box-8' });
  t.teardown(() => again.box.stop());
  await again.box.start();
  await again.box.waitFor((b) => (b.screen('ui') as Scene)?.version === '2.0.0', 10_000);
  const versions = again.events.filter((e): e is Extract<BoxEvent, { kind: 'scene' }> => e.kind === 'scene').map((e) => (e.scene as Scene)?.version);
  t.is(versions[0], '1.0.0', 'the cached version ran first, at once');
  t.true(again.box.history.some((h) => h.event === 'update'));
  t.is(new ModuleCache(storage).loadApp('guide')?.version, '2.0.0', 'the cache now holds the new version');
});

test('storage full: modules that do not fit are not cached, the box still boots, the next boot is cold', async (t) => {
  const app = await guideApp(keys);
  const storage = new MemoryStorage(2048); // less than the manifest, its signature and the ui module
  const first = makeBox(engine, keys.trusted, carouselFeed(app.set).tuner, undefined, { profile: profile('broadcast-only'), storage, boxId: 'box-9' });
  await first.box.start();
  await first.box.waitFor((b) => b.state === 'degraded', 10_000);
  t.true(first.events.some((e) => e.kind === 'cache-full'));
  t.true(storage.used() <= storage.capacity);
  t.like(first.box.screen('ui'), { screen: 'home' });
  t.true(first.box.report().storageFreeBytes <= 2048);
  await first.box.stop();

  const again = makeBox(engine, keys.trusted, carouselFeed(app.set).tuner, undefined, { profile: profile('broadcast-only'), storage, boxId: 'box-9' });
  t.teardown(() => again.box.stop());
  await again.box.start();
  await again.box.waitFor((b) => b.running().includes('ui'), 10_000);
  t.is(again.box.history[1]?.state, 'acquiring-boot', 'no warm hit: it waited for the carousel');
});

test('a new version evicts the old one when the device has room for only one', async (t) => {
  const v1 = await guideApp(keys, { version: '1.0.0', uiPadding: 6000 });
  const v2 = await guideApp(keys, { version: '2.0.0', uiPadding: 6000 });
  const bytes = (a: typeof v1): number => a.manifestBytes.length + a.signature.length + Object.entries(a.sources).filter(([k]) => k !== 'server').reduce((n, [, b]) => n + b.length, 0);
  const storage = new MemoryStorage(Math.round(bytes(v1) * 1.5) + 4096); // one version and its index, not two
  const first = makeBox(engine, keys.trusted, carouselFeed(v1.set).tuner, undefined, { profile: profile('broadcast-only'), storage, boxId: 'box-10' });
  await first.box.start();
  await first.box.waitFor((b) => b.state === 'degraded', 10_000);
  await first.box.stop();
  const second = makeBox(engine, keys.trusted, carouselFeed(v2.set).tuner, undefined, { profile: profile('broadcast-only'), storage, boxId: 'box-10' });
  await second.box.start();
  await second.box.waitFor((b) => b.state === 'degraded' && (b.screen('ui') as Scene)?.version === '2.0.0', 10_000);
  await second.box.stop();
  t.false(second.events.some((e) => e.kind === 'cache-full'), 'room was made by evicting v1');
  const third = makeBox(engine, keys.trusted, silentTuner, undefined, { profile: profile('broadcast-only'), storage, boxId: 'box-10' });
  t.teardown(() => third.box.stop());
  await third.box.start();
  await third.box.waitFor((b) => b.running().includes('ui'), 3000);
  t.like(third.box.screen('ui'), { version: '2.0.0' });
});

test('a torn or tampered cache is never trusted: verified again, and a cold boot when it fails', async (t) => {
  const app = await guideApp(keys);
  const dir = mkdtempSync(join(tmpdir(), 'weft-box-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const first = makeBox(engine, keys.trusted, carouselFeed(app.set).tuner, undefined, { profile: profile('broadcast-only'), storage: new FolderStorage(dir, 8 * MB), boxId: 'box-11' });
  await first.box.start();
  await first.box.waitFor((b) => b.running().includes('ui'), 10_000);
  await first.box.stop();
  // Flip the cached ui module's bytes on "flash" (same length), and leave a torn write behind.
  const uiSha = app.manifest.modules.find((m) => m.name === 'ui')?.sha256 as string;
  const forged = new TextEncoder().encode(new TextDecoder().decode(app.sources.ui).replace('home', 'hijk'));
  writeFileSync(join(dir, `m.${uiSha}`), forged);
  writeFileSync(join(dir, 'm.partial.tmp'), 'torn');
  const storage = new FolderStorage(dir, 8 * MB);
  t.false(readdirSync(dir).some((f) => f.endsWith('.tmp')), 'the torn write was cleared');
  const again = makeBox(engine, keys.trusted, carouselFeed(app.set).tuner, undefined, { profile: profile('broadcast-only'), storage, boxId: 'box-11' });
  t.teardown(() => again.box.stop());
  await again.box.start();
  await again.box.waitFor((b) => b.running().includes('ui'), 10_000);
  t.is(again.box.history[1]?.state, 'acquiring-boot', 'the tampered cache gave no warm boot');
  t.like(again.box.screen('ui'), { screen: 'home' });
});
