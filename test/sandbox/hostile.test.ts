// Hostile modules. Each case: the module is stopped with a SandboxError naming the cause, and
// the host, a sibling module in the same app runtime and a module in another app keep running.
import test, { type ExecutionContext } from 'ava';
import type { Address } from '../../runtime/index.ts';
import { type AppSandbox, type Engine, loadEngine, type ModuleSandbox, SandboxError, type SandboxFault, type SandboxLimits } from '../../sandbox/index.ts';
import { Apps, one, type Spec } from './_harness.ts';

const engine = await loadEngine();
const from = { queue: 'tester' };
const LIMITS: Partial<SandboxLimits> = { deadlineMs: 30, startDeadlineMs: 60, memoryBytes: 4 << 20 };

// The sibling answers with facts that pollution or a memory hog in its neighbour would change.
const BUDDY = `let n = 0;
  weft.on('request', () => ({ pong: ++n, polluted: ({}).polluted, parsed: JSON.parse('[1]')[0], room: new Array(20000).fill(1).length }));`;

interface Arena {
  apps: Apps;
  app: AppSandbox;
  faults: SandboxError[];
  sent: unknown[];
  load(source: string, spec?: Partial<Spec>): Promise<{ ok: true; value: ModuleSandbox } | { ok: false; error: SandboxError }>;
  /** Assert the sibling and the other app still answer, then tear down with the leak check. */
  survive(t: ExecutionContext): Promise<void>;
}

async function arena(options: { limits?: Partial<SandboxLimits>; now?: () => number; ui?: () => void; engine?: Engine } = {}): Promise<Arena> {
  const apps = new Apps(engine);
  const faults: SandboxError[] = [];
  const sent: unknown[] = [];
  const link = { send: async (_dst: Address, body?: unknown) => void sent.push(body), request: async () => 'ok' };
  const app = apps.make(
    { limits: { ...LIMITS, ...options.limits }, onFault: (e) => faults.push(e), ui: options.ui ?? (() => {}), ...(options.now ? { now: options.now } : {}) },
    options.engine,
  );
  const other = apps.make({ app: 'other', limits: LIMITS });
  const buddy = app.load(await one(BUDDY, { name: 'buddy' }));
  const stranger = other.load(await one(BUDDY, { name: 'stranger' }, 'other'));
  if (!buddy.ok || !stranger.ok) throw new Error('fixture modules did not load');
  buddy.value.start();
  stranger.value.start();
  let n = 0;
  return {
    apps,
    app,
    faults,
    sent,
    load: async (source, spec = {}) => app.load(await one(source, { name: `hostile${n++}`, ...spec }), { link }),
    survive: async (t) => {
      const expected = { polluted: undefined, parsed: 1, room: 20000 };
      t.like(await buddy.value.serve(null, from), expected, 'the sibling module in the same runtime still answers');
      t.like(await stranger.value.serve(null, from), expected, 'the module of another app still answers');
      t.is(buddy.value.state, 'started');
      apps.finish(t);
    },
  };
}

/** The module was stopped with `fault`, is destroyed, and onFault heard of it. */
function stopped(t: ExecutionContext, a: Arena, err: unknown, fault: SandboxFault, words?: RegExp): void {
  t.true(err instanceof SandboxError, `expected a SandboxError, got ${String(err)}`);
  const e = err as SandboxError;
  t.is(e.fault, fault, e.message);
  t.true(e.fatal);
  t.is(e.code, 12); // SANDBOX on the wire
  if (words) t.regex(e.message, words);
  t.true(a.faults.includes(e), 'onFault was told');
  t.is(a.app.module(e.where.split('/')[1] as string), undefined, 'the module is gone from its app');
}

async function started(t: ExecutionContext, a: Arena, source: string, spec?: Partial<Spec>): Promise<ModuleSandbox> {
  const r = await a.load(source, spec);
  if (!r.ok) throw r.error;
  t.true(r.value.start().ok);
  return r.value;
}

test('infinite loop in a handler: stopped at the deadline', async (t) => {
  const a = await arena();
  const m = await started(t, a, `weft.on('request', () => { for (;;) {} });`);
  const err = await t.throwsAsync(m.serve({}, from));
  stopped(t, a, err, 'deadline', /ran past its 30 ms deadline/);
  t.is(m.state, 'destroyed');
  t.is(m.error as Error | undefined, err);
  await a.survive(t);
});

test('infinite loop at top level, even one that catches: stopped while loading', async (t) => {
  const a = await arena();
  const r = await a.load(`for (;;) { try { for (;;) {} } catch (e) { /* the interrupt is not catchable */ } }`);
  t.false(r.ok);
  stopped(t, a, !r.ok && r.error, 'deadline', /module evaluation ran past its 60 ms deadline/);
  await a.survive(t);
});

test('infinite loop after an await, and in a detached promise job', async (t) => {
  const a = await arena();
  const m1 = await started(t, a, `weft.on('request', async () => { await null; for (;;) {} });`);
  stopped(t, a, await t.throwsAsync(m1.serve({}, from)), 'deadline');
  const m2 = await started(t, a, `weft.on('message', () => { Promise.resolve().then(() => { for (;;) {} }); });`);
  const r = m2.deliver({}, from);
  t.false(r.ok);
  stopped(t, a, !r.ok && r.error, 'deadline', /promise job ran past/);
  await a.survive(t);
});

test('memory bomb: stopped at the engine memory cap, and its memory comes back', async (t) => {
  // Its own engine: the WebAssembly memory cap is what bounds bytes (QuickJS counts allocations).
  const engine32 = await loadEngine({ maxMemoryBytes: 32 << 20 });
  const a = await arena({ engine: engine32, limits: { deadlineMs: 5000, watchdogGraceMs: 5000 } });
  const m = await started(t, a, `const hoard = []; weft.on('request', () => { for (;;) hoard.push(new Array(100000).fill(7)); });`);
  stopped(t, a, await t.throwsAsync(m.serve({}, from)), 'memory', /out of memory/);
  t.true(engine32.exhausted(), 'the instance grew to its cap (and no further: the host is safe)');
  await a.survive(t); // the sibling allocates again in the same runtime once the hoard is freed
});

test('deep recursion: stopped at the stack limit', async (t) => {
  const a = await arena();
  const m = await started(t, a, `const down = (n) => down(n + 1) + 1; weft.on('request', () => down(0));`);
  stopped(t, a, await t.throwsAsync(m.serve({}, from)), 'stack', /stack overflow/);
  await a.survive(t);
});

test('huge strings: grown in the guest, or handed to the host', async (t) => {
  const a = await arena();
  const grow = await started(t, a, `weft.on('request', () => { let s = 'x'; for (;;) s += s; });`);
  stopped(t, a, await t.throwsAsync(grow.serve({}, from)), 'too-large', /string too long/);
  const big = await started(t, a, `weft.on('request', () => 'x'.repeat(1 << 26).length);`);
  stopped(t, a, await t.throwsAsync(big.serve({}, from)), 'memory');
  const send = await started(t, a, `weft.on('request', () => { weft.send('weft://test/*/buddy', 'x'.repeat(100000)); return 'sent'; });`);
  stopped(t, a, await t.throwsAsync(send.serve({}, from)), 'too-large', /100002 characters of JSON, limit 65536/);
  const reply = await started(t, a, `weft.on('request', () => ({ blob: 'y'.repeat(70000) }));`);
  t.like(await reply.serve({}, from), { blob: 'y'.repeat(70000) }, 'a reply is bounded by the envelope codec, not the host-call limit');
  t.deepEqual(a.sent, [], 'nothing oversized reached the link');
  await a.survive(t);
});

test('allocation in a tight loop of host calls: stopped by the per-event host-call budget', async (t) => {
  const a = await arena({ limits: { deadlineMs: 5000, watchdogGraceMs: 5000 } });
  const bytes = await started(t, a, `weft.on('request', () => { for (;;) { try { weft.send('weft://test/*/buddy', { pad: 'x'.repeat(1000) }); } catch (e) {} } });`);
  stopped(t, a, await t.throwsAsync(bytes.serve({}, from)), 'host-call-budget', /characters handed to the host in one event/);
  t.true(a.sent.length > 500 && a.sent.length < 1100, `${a.sent.length} messages got out before the budget stopped it`);
  const calls = await started(t, a, `weft.on('request', () => { for (;;) weft.address('buddy'); });`);
  stopped(t, a, await t.throwsAsync(calls.serve({}, from)), 'host-call-budget', /more than 10000 host calls in one event/);
  await a.survive(t);
});

test('reaching for host objects finds nothing; touching them stops the module', async (t) => {
  const a = await arena();
  const probe = await started(
    t,
    a,
    `const tries = {
      process: typeof process, require: typeof require, module: typeof module, globalProcess: typeof globalThis.process,
      fnThis: typeof Function('return this')().process, indirectEval: typeof (0, eval)('this').process,
      viaWeftCtor: weft.send.constructor('return typeof process + typeof require')(),
      viaProto: Object.getPrototypeOf(weft.on).constructor('return typeof globalThis.Buffer')(),
      topThis: typeof this, hostRaw: Object.getOwnPropertyNames(globalThis).filter((k) => /^(__|process|require|Buffer|host)/.test(k)).join(','),
    };
    let dynamicImport = 'pending';
    import('fs').then(() => { dynamicImport = 'loaded'; }, () => { dynamicImport = 'refused'; });
    weft.on('request', (b) => b.exit ? process.exit(1) : { ...tries, dynamicImport });`,
  );
  t.deepEqual(await probe.serve({}, from), {
    process: 'undefined',
    require: 'undefined',
    module: 'undefined',
    globalProcess: 'undefined',
    fnThis: 'undefined',
    indirectEval: 'undefined',
    viaWeftCtor: 'undefinedundefined',
    viaProto: 'undefined',
    topThis: 'undefined',
    hostRaw: '',
    dynamicImport: 'refused',
  });
  stopped(t, a, await t.throwsAsync(probe.serve({ exit: true }, from)), 'exception', /ReferenceError: '?process'? is not defined/);
  await a.survive(t);
});

test('throwing non-errors: every kind of thrown value is named, none reaches the host as a crash', async (t) => {
  const a = await arena();
  const cases: [string, SandboxFault, RegExp][] = [
    ['throw 42', 'exception', /non-Error value thrown \(number\): 42/],
    ['throw null', 'exception', /non-Error value thrown \(null\): null/],
    ['throw undefined', 'exception', /non-Error value thrown \(undefined\)/],
    ['throw "just a string"', 'exception', /non-Error value thrown \(string\): "just a string"/],
    ['throw { code: 7 }', 'exception', /non-Error value thrown \(object\): \{"code":7\}/],
    ['throw Symbol("s")', 'exception', /non-Error value thrown \(symbol\)/],
    ['throw { get message() { throw new Error("trap"); } }', 'exception', /non-Error value thrown \(object\)/],
    ['throw Object.create(null)', 'exception', /non-Error value thrown \(object\)/],
    ['throw new Proxy({}, { get() { throw 1; }, ownKeys() { throw 2; } })', 'exception', /non-Error value thrown \(object\)/],
    ['throw { toJSON() { for (;;) {} } }', 'deadline', /deadline/],
  ];
  for (const [body, fault, words] of cases) {
    const m = await started(t, a, `weft.on('request', () => { ${body}; });`);
    stopped(t, a, await t.throwsAsync(m.serve({}, from)), fault, words);
  }
  const rejecting = await started(t, a, `weft.on('request', async () => { throw 9; });`);
  stopped(t, a, await t.throwsAsync(rejecting.serve({}, from)), 'exception', /rejected: non-Error value thrown \(number\): 9/);
  await a.survive(t);
});

test('prototype pollution of the weft object: refused, and confined to the polluter', async (t) => {
  const a = await arena();
  for (const [attack, words] of [
    ['weft.send = () => "mine"', /read-only|not writable/],
    ['Object.defineProperty(weft, "request", { value: 1 })', /not configurable|not extensible|read-only/],
    ['Object.setPrototypeOf(weft, { evil: true })', /not extensible|TypeError/],
    ['weft.storage = {}', /not extensible|read-only/],
    ['delete weft.on', /not configurable|could not delete/],
  ] as const) {
    const m = await started(t, a, `weft.on('request', () => { ${attack}; return 'done'; });`);
    stopped(t, a, await t.throwsAsync(m.serve({}, from)), 'exception', words);
  }
  // Pollution the module can do (its own intrinsics) changes nothing for the host or others.
  const p = await started(
    t,
    a,
    `Object.prototype.polluted = 'yes';
     weft.__proto__.send = () => 'hijacked';
     JSON.parse = () => 'pwned';
     Promise.prototype.then = function () { for (;;) {} };
     Function.prototype.call = () => 'pwned';
     weft.on('request', (b) => b.async ? Promise.resolve(b.x * 2) : [b.x, typeof b, ({}).polluted, Object.isFrozen(weft)]);`,
  );
  t.deepEqual(await p.serve({ x: 21 }, from), [21, 'object', 'yes', true], 'the host parsed the body with the intrinsic JSON.parse');
  t.is(await p.serve({ x: 21, async: true }, from), 42, 'the host read the promise state without calling then');
  t.is(p.state, 'started');
  await a.survive(t);
});

test('watchdog: a host call that blocks past the deadline stops the module after it returns', async (t) => {
  let clock = 0;
  const a = await arena({ now: () => clock, ui: () => void (clock += 5000), limits: { deadlineMs: 30 } });
  const m = await started(t, a, `weft.on('request', () => { weft.ui.show({ slow: true }); return 'finished'; });`, { uses: ['ui'] });
  stopped(t, a, await t.throwsAsync(m.serve({}, from)), 'watchdog', /held the host for 5000 ms \(deadline 30 ms \+ 250 ms grace\)/);
  await a.survive(t);
});

test('a microtask storm stops its app runtime; the host and other apps keep running', async (t) => {
  const apps = new Apps(engine);
  const faults: SandboxError[] = [];
  const app = apps.make({ limits: { ...LIMITS, maxJobs: 2000 }, onFault: (e) => faults.push(e) });
  const other = apps.make({ app: 'other', limits: LIMITS });
  const sibling = app.load(await one(BUDDY, { name: 'buddy' }));
  const storm = app.load(await one(`weft.on('message', () => { const f = () => Promise.resolve().then(f); f(); });`, { name: 'storm' }));
  const stranger = other.load(await one(BUDDY, { name: 'stranger' }, 'other'));
  if (!sibling.ok || !storm.ok || !stranger.ok) return t.fail();
  sibling.value.start();
  storm.value.start();
  stranger.value.start();
  const r = storm.value.deliver({}, from);
  t.false(r.ok);
  t.is(!r.ok && r.error.fault, 'storm');
  t.regex(!r.ok ? r.error.message : '', /microtask storm/);
  t.true(app.destroyed);
  t.is(sibling.value.state, 'destroyed');
  t.regex(sibling.value.error?.message ?? '', /stopped with the app runtime: storm caused/);
  t.is(faults.length, 2);
  t.like(await stranger.value.serve(null, from), { pong: 1, room: 20000 });
  apps.finish(t);
});
