// docs/SECURITY.md row "sandbox: promise storm on the box" (issue 12 finding 8): the boot tier's
// UI module storms at top level. Before, QuickJS aborted (list_empty(&rt->gc_obj_list)), the box
// logged an error, and never dialled. Now the storm is a SandboxError fault naming the cause,
// the module is supervised until its restart budget is spent, and the box still dials, opens
// its session and reports the failed module in its stats. Waits on box events, not on time.
import test from 'ava';
import { profile } from '../../devices/profiles.ts';
import { loadEngine } from '../../sandbox/index.ts';
import { guideApp, signer } from '../_helpers/box-app.ts';
import { boxBroker, carouselFeed, makeBox } from '../_helpers/box-fixtures.ts';
import { Responder } from '../_helpers/headend-responder.ts';

const keys = await signer();

test('a promise storm in the boot module ends as a fault; the box still dials, sets up its session and reports it', async (t) => {
  const engine = await loadEngine();
  const app = await guideApp(keys, { uiSource: `const f = () => Promise.resolve().then(f); f();` });
  const broker = await boxBroker();
  const he = await Responder.start({ url: broker.url, engine: await loadEngine(), app, trusted: keys.trusted });
  const feed = carouselFeed(app.set);
  const { box, events } = makeBox(engine, keys.trusted, feed.tuner, broker.url, { profile: profile('modern-4k') });
  t.teardown(async () => {
    await box.stop();
    await he.close();
    await broker.close();
  });
  await box.start();
  await box.waitFor((b) => b.state === 'up', 20_000);
  t.is(he.opens.length, 1, 'the box dialled and opened its session');
  t.false(events.some((e) => e.kind === 'error'), `no raw error: ${JSON.stringify(events.filter((e) => e.kind === 'error'))}`);
  const faults = events.filter((e) => e.kind === 'module' && e.action === 'fault');
  t.regex(faults[0]?.kind === 'module' ? (faults[0].detail ?? '') : '', /^guide\/ui stopped: storm: .*\(a microtask storm\); the app runtime is stopped$/);
  t.notRegex(JSON.stringify(events), /Aborted|list_empty/);
  // Issue 16 finding 8: each fault printed once, under the module's own name (not also as app/module).
  for (const f of faults) t.false(f.kind === 'module' && f.module.includes('/'), JSON.stringify(f));
  // A supervised restart may fault the same way again, but one fault is never reported twice in a row.
  const pairs = events.slice(1).filter((e, i) => e.kind === 'module' && e.action === 'fault' && JSON.stringify(e) === JSON.stringify(events[i]));
  t.is(pairs.length, 0, 'no fault event repeated back to back');
  t.is(engine.broken, undefined, 'the engine survived');
  // Supervised: restarted with backoff until the budget is spent, then failed, on screen and in stats.
  await box.waitFor((b) => Object.keys((b.stats().app as { failed?: object } | undefined)?.failed ?? {}).length > 0, 20_000);
  t.regex(JSON.stringify((box.stats().app as { failed: Record<string, string> }).failed.ui), /storm/);
  t.like(box.screen('ui'), { failed: true, module: 'ui' });
  t.true(events.some((e) => e.kind === 'module' && e.module === 'ui' && e.action === 'failed'));
  t.is(box.state, 'up');
});
