// Promise storms and a failed engine (issue 12 finding 8): wherever a storm starts (top level,
// start handler, request, timer, restore), it ends as a SandboxError 'storm' fault naming the
// cause, the app runtime is freed without aborting QuickJS, and the engine stays usable. An
// engine QuickJS did abort is renewed and serves new apps.
import test from 'ava';
import { type AppSandbox, loadEngine, type ModuleSandbox, SandboxError } from '../../sandbox/index.ts';
import { Apps, one } from './_harness.ts';

const from = { queue: 'tester' };
const LIMITS = { deadlineMs: 30, startDeadlineMs: 60, maxJobs: 500 };
const STORM = `const f = () => Promise.resolve().then(f); f();`;
const BUDDY = `weft.on('request', () => 'pong');`;

async function buddyIn(app: AppSandbox): Promise<ModuleSandbox> {
  const r = app.load(await one(BUDDY, { name: 'buddy' }));
  if (!r.ok) throw r.error;
  r.value.start();
  return r.value;
}

const where: [string, string, (m: ModuleSandbox) => Promise<unknown> | unknown][] = [
  ['top level', STORM, () => undefined],
  ['start handler', `weft.on('start', () => { ${STORM} });`, () => undefined],
  ['request handler', `weft.on('request', async () => { ${STORM} return 1; });`, (m) => m.serve({}, from).catch((e: unknown) => e)],
  ['restore()', `export function restore() { ${STORM} } export function snapshot() { return 1; }`, () => undefined],
];

const mods = new Map(await Promise.all(where.map(async ([name, source]) => [name, await one(source, { name: 'storm', kind: 'mutable' })] as const)));

for (const [name, , poke] of where) {
  test(`a promise storm in the ${name} ends as a 'storm' fault and QuickJS is not aborted`, async (t) => {
    const engine = await loadEngine();
    const apps = new Apps(engine);
    const faults: SandboxError[] = [];
    const app = apps.make({ limits: LIMITS, onFault: (e) => faults.push(e) });
    const buddy = await buddyIn(app);
    let result: unknown;
    t.notThrows(() => {
      const r = app.load(mods.get(name) as never);
      result = r;
    });
    const r = result as { ok: boolean; value?: ModuleSandbox };
    if (r.ok && r.value !== undefined) {
      if (name === 'restore()') r.value.restore(new Uint8Array([0x01]));
      else r.value.start();
      await poke(r.value);
    }
    t.is(engine.broken, undefined, 'the engine survived');
    t.true(app.destroyed, 'the app runtime stopped');
    const storm = faults.find((e) => e.fault === 'storm');
    t.truthy(storm, `a storm fault was reported: ${faults.map((e) => e.message).join('; ')}`);
    t.regex(storm?.message ?? '', /stopped: storm: more than 500 promise jobs in one event \(a microtask storm\)/);
    t.is(buddy.state, 'destroyed');
    t.regex(buddy.error?.message ?? '', /stopped with the app runtime: storm caused/);
    t.is(app.liveHandles(), 0, 'the runtime was freed once the operation let go of its handles');
    t.is(engine.liveRuntimes(), 0);
    // The same engine runs the next app.
    const next = apps.make({ app: 'next', limits: LIMITS });
    const again = next.load(await one(BUDDY, { name: 'buddy' }, 'next'));
    if (!again.ok) return t.fail(again.error.message);
    again.value.start();
    t.is(await again.value.serve({}, from), 'pong');
    apps.finish(t);
    t.notThrows(() => engine.assertNoLeaks());
  });
}

test('a fault in a promise job queued by top-level code ends as a fault value, not a use-after-free thrown from load()', async (t) => {
  const engine = await loadEngine();
  const apps = new Apps(engine);
  const faults: SandboxError[] = [];
  const app = apps.make({ limits: LIMITS, onFault: (e) => faults.push(e) });
  const buddy = await buddyIn(app);
  const mod = await one(`Promise.resolve().then(() => { for (;;) {} });`, { name: 'late' });
  let r: ReturnType<AppSandbox['load']> | undefined;
  t.notThrows(() => void (r = app.load(mod)));
  t.false(r?.ok, 'the module was stopped while loading');
  t.deepEqual(faults.map((e) => e.fault), ['deadline']);
  t.is(await buddy.serve({}, from), 'pong', 'its sibling goes on');
  apps.finish(t);
});

test('an owner that destroys the app from onFault during the storm does not abort QuickJS', async (t) => {
  const engine = await loadEngine();
  const apps = new Apps(engine);
  const app: AppSandbox = apps.make({ limits: LIMITS, onFault: () => app.destroy() });
  await buddyIn(app);
  const r = app.load(await one(`weft.on('start', () => { ${STORM} });`, { name: 'storm' }));
  t.true(r.ok);
  if (r.ok) t.notThrows(() => r.value.start());
  t.is(engine.broken, undefined);
  apps.finish(t);
});

test('a broken engine refuses new runtimes with a typed error until renewed; renewal gives a fresh 16 MiB instance', async (t) => {
  const engine = await loadEngine({ maxMemoryBytes: 32 << 20 });
  const apps = new Apps(engine);
  const hog = apps.make({ limits: { deadlineMs: 5000, watchdogGraceMs: 5000 } });
  const m = hog.load(await one(`const h = []; weft.on('request', () => { for (;;) h.push(new Array(100000).fill(7)); });`, { name: 'hog' }));
  if (!m.ok) return t.fail();
  m.value.start();
  const err = await t.throwsAsync(m.value.serve({}, from));
  t.is((err as SandboxError).fault, 'memory');
  hog.destroy();
  t.true(engine.memoryBytes() > 28 << 20, `the instance kept its grown memory: ${engine.memoryBytes()}`);
  await engine.renew();
  t.is(engine.memoryBytes(), 16 << 20, 'a fresh instance: the grown memory is no longer held');
  t.is(engine.renewals, 1);
  engine.fail('Aborted(Assertion failed: test)');
  const e = t.throws(() => apps.make({ app: 'after' }));
  t.true(e instanceof SandboxError);
  t.is((e as SandboxError).fault, 'engine');
  await engine.renew();
  const ok = apps.make({ app: 'after' });
  const b = ok.load(await one(BUDDY, { name: 'buddy' }, 'after'));
  if (!b.ok) return t.fail();
  b.value.start();
  t.is(await b.value.serve({}, from), 'pong');
  apps.finish(t);
});

test('renew() refuses while a runtime is alive on a healthy engine', async (t) => {
  const engine = await loadEngine();
  const apps = new Apps(engine);
  apps.make();
  const e = await t.throwsAsync(engine.renew());
  t.regex(e?.message ?? '', /1 runtime\(s\) still alive/);
  apps.finish(t);
});

test('if QuickJS does abort while freeing a runtime, the engine is marked broken and a typed engine fault reported', async (t) => {
  const engine = await loadEngine();
  const faults: SandboxError[] = [];
  const apps = new Apps(engine);
  const app = apps.make({ limits: LIMITS, onFault: (e) => faults.push(e) });
  const buddy = await buddyIn(app);
  const leaked = buddy.ctx.newObject(); // a handle nobody owns: JS_FreeRuntime asserts on it
  t.notThrows(() => app.destroy());
  t.regex(engine.broken ?? '', /Assertion failed|Aborted/);
  t.is(faults.at(-1)?.fault, 'engine');
  t.is(faults.at(-1)?.message, 'test stopped: engine: the QuickJS instance failed; it is rebuilt and the app restarts');
  t.like(app.stats(), { engineFailures: 1 });
  t.is(leaked.alive, true);
  await engine.renew();
  const again = apps.make({ app: 'again', limits: LIMITS });
  const r = again.load(await one(BUDDY, { name: 'buddy' }, 'again'));
  if (!r.ok) return t.fail();
  r.value.start();
  t.is(await r.value.serve({}, from), 'pong');
  again.destroy();
  t.is(again.liveHandles(), 0);
});
