// Module lifecycle loaded -> started -> paused -> destroyed, queued events, timers on the
// injected clock, load refusals (side, capabilities, bad module text), options validation.
// Every test ends by destroying its sandboxes and asserting no live handle is left.
import test from 'ava';
import { ArgumentError } from '../../runtime/index.ts';
import { AppSandbox, loadEngine, SandboxError } from '../../sandbox/index.ts';
import { Apps, one, verified } from './_harness.ts';

const engine = await loadEngine();
const from = { queue: 'tester' };

const COUNTER = `
  const log = [];
  weft.on('start', () => log.push('start'));
  weft.on('pause', () => log.push('pause'));
  weft.on('resume', () => log.push('resume'));
  weft.on('message', (body) => log.push('msg:' + body.n));
  weft.on('request', (body) => body.op === 'log' ? log : null);
  log.push('top-level');
`;

test('loaded -> started -> paused -> started -> destroyed, with events queued while not started', async (t) => {
  const apps = new Apps(engine);
  const app = apps.make();
  const r = app.load(await one(COUNTER));
  if (!r.ok) return t.fail(r.error.message);
  const m = r.value;
  t.is(m.state, 'loaded');
  t.true(m.deliver({ n: 1 }, from).ok); // queued: not started yet
  const early = m.serve({ op: 'log' }, from);
  t.true(m.start().ok);
  t.is(m.state, 'started');
  t.deepEqual(await early, ['top-level', 'start', 'msg:1']);
  t.true(m.pause().ok);
  t.is(m.state, 'paused');
  m.deliver({ n: 2 }, from);
  const whilePaused = m.serve({ op: 'log' }, from);
  t.is(m.stats().queued, 2);
  t.true(m.resume().ok);
  t.deepEqual(await whilePaused, ['top-level', 'start', 'msg:1', 'pause', 'resume', 'msg:2']);
  m.destroy();
  t.is(m.state, 'destroyed');
  t.is(m.error, undefined, 'destroyed on request, not by a fault');
  t.is(app.module('m'), undefined);
  apps.finish(t);
});

test('wrong transitions are refused without stopping the module', async (t) => {
  const apps = new Apps(engine);
  const app = apps.make();
  const m = app.load(await one(COUNTER));
  if (!m.ok) return t.fail();
  const refusal = (r: { ok: boolean; error?: SandboxError }, fault: SandboxError['fault']): void => {
    t.false(r.ok);
    t.is(r.error?.fault, fault);
    t.false(r.error?.fatal);
  };
  refusal(m.value.pause(), 'state');
  refusal(m.value.resume(), 'state');
  t.true(m.value.start().ok);
  refusal(m.value.start(), 'state');
  refusal(m.value.restore(new Uint8Array([0xa0])), 'state');
  t.is(m.value.state, 'started');
  m.value.destroy();
  refusal(m.value.deliver({}, from), 'state');
  await t.throwsAsync(m.value.serve({}, from), { instanceOf: SandboxError, message: /destroyed/ });
  apps.finish(t);
});

test('queued events beyond maxQueued are refused; queued requests fail when the module is destroyed', async (t) => {
  const apps = new Apps(engine);
  const app = apps.make({ limits: { maxQueued: 2 } });
  const m = app.load(await one(COUNTER));
  if (!m.ok) return t.fail();
  t.true(m.value.deliver({ n: 1 }, from).ok);
  const pending = m.value.serve({ op: 'log' }, from);
  const over = m.value.deliver({ n: 3 }, from);
  t.false(over.ok);
  t.is(!over.ok && over.error.fault, 'queue-full');
  m.value.destroy();
  await t.throwsAsync(pending, { instanceOf: SandboxError, message: /destroyed/ });
  apps.finish(t);
});

test('timers run on the injected clock and hold while paused', async (t) => {
  const apps = new Apps(engine);
  const app = apps.make();
  const m = app.load(
    await one(`
      const fired = [];
      weft.setTimeout(() => fired.push('a'), 100);
      const b = weft.setTimeout(() => fired.push('b'), 150);
      weft.setTimeout(() => fired.push('c'), 300);
      weft.clearTimeout(b);
      weft.on('request', () => fired);
    `),
  );
  if (!m.ok) return t.fail();
  apps.clock.advance(120); // before start: held
  t.true(m.value.start().ok);
  t.deepEqual(await m.value.serve(null, from), ['a']);
  m.value.pause();
  apps.clock.advance(500);
  t.is(m.value.stats().timers, 1, 'c is due but held while paused');
  m.value.resume();
  t.deepEqual(await m.value.serve(null, from), ['a', 'c']);
  t.is(m.value.stats().timers, 0);
  apps.finish(t);
});

test('module text that does not evaluate is refused as invalid-module', async (t) => {
  const apps = new Apps(engine);
  const app = apps.make();
  for (const [src, words] of [
    ['export const = 1', /SyntaxError/],
    ['import fs from "fs"; fs.readFileSync("/etc/passwd")', /could not load module/],
    ['await new Promise(() => {})', /top-level await/],
  ] as const) {
    const r = app.load(await one(src));
    t.false(r.ok);
    if (r.ok) continue;
    t.is(r.error.fault, 'invalid-module', r.error.message);
    t.true(r.error.fatal);
    t.regex(r.error.message, words);
  }
  t.is(app.modules().length, 0);
  apps.finish(t);
});

test('[c6, c7] a box refuses peer, server and service-bound modules; a head-end refuses client modules', async (t) => {
  const apps = new Apps(engine);
  const mods = await verified('test', [
    { name: 'ui', source: '', kind: 'client' },
    { name: 'core', source: '', kind: 'server' },
    { name: 'epg', source: '', kind: 'peer', uses: ['services.epg'] },
    { name: 'search', source: '', kind: 'mutable', uses: ['services.epg'] },
    { name: 'free', source: '', kind: 'mutable' },
  ]);
  const box = apps.make({ side: 'box' });
  const headend = apps.make({ side: 'headend', services: { epg: () => [] } });
  const bare = apps.make({ side: 'headend' });
  const fault = (r: { ok: boolean; error?: SandboxError }): string | undefined => (r.ok ? undefined : r.error?.fault);
  t.is(fault(box.load(mods.get('core')!)), 'capability');
  t.is(fault(box.load(mods.get('epg')!)), 'capability');
  t.is(fault(box.load(mods.get('search')!)), 'capability');
  t.true(box.load(mods.get('ui')!).ok);
  t.true(box.load(mods.get('free')!).ok);
  t.is(fault(headend.load(mods.get('ui')!)), 'capability');
  t.true(headend.load(mods.get('epg')!).ok);
  t.true(headend.load(mods.get('search')!).ok);
  t.true(headend.load(mods.get('free')!).ok);
  t.regex((bare.load(mods.get('epg')!) as { error: SandboxError }).error.message, /no service "epg"/);
  const other = (await verified('other', [{ name: 'x', source: '' }])).get('x')!;
  t.is(fault(box.load(other)), 'capability');
  t.is(fault(box.load(mods.get('ui')!)), 'state', 'the same name twice');
  apps.finish(t);
});

test('options and limits are validated and unknown ones refused by name', (t) => {
  t.is(t.throws(() => new AppSandbox(engine, { app: 'a', side: 'box', colour: 1 } as never), { instanceOf: ArgumentError })?.option, 'colour');
  t.is(t.throws(() => new AppSandbox(engine, { app: 'a', side: 'box', limits: { heap: 1 } as never }), { instanceOf: ArgumentError })?.option, 'heap');
  t.is(t.throws(() => new AppSandbox(engine, { app: 'a', side: 'box', limits: { deadlineMs: 0 } }), { instanceOf: ArgumentError })?.option, 'deadlineMs');
  t.is(t.throws(() => new AppSandbox(engine, { app: 'a', side: 'box', services: {} }), { instanceOf: ArgumentError })?.option, 'services');
  t.is(t.throws(() => new AppSandbox(engine, { app: 'a', side: 'moon' as never }), { instanceOf: ArgumentError })?.option, 'side');
});

test('a destroyed app sandbox refuses loads and releases its runtime', async (t) => {
  const apps = new Apps(engine);
  const app = apps.make();
  t.is(app.memoryUsed(), undefined);
  const m = app.load(await one(COUNTER));
  t.true(m.ok);
  t.true((app.memoryUsed() ?? 0) > 10_000, 'a context costs some heap');
  app.destroy();
  t.true(app.destroyed);
  t.is(m.ok && m.value.state, 'destroyed');
  const again = app.load(await one(COUNTER, { name: 'n' }));
  t.is(!again.ok && again.error.fault, 'state');
  apps.finish(t);
});
