// An engine per app (issue 12 finding 8, build item 6): a memory bomb grows only its own app's
// WebAssembly instance, and that memory is given back once the app's sandboxes are gone. Checked
// through the engines' own accounting (WebAssembly memory byte length), not process RSS.
import test from 'ava';
import { AppEngines, AppSandbox, isEngineTrap, SandboxError } from '../../sandbox/index.ts';
import { one } from './_harness.ts';

const from = { queue: 'tester' };
const MiB = 1 << 20;
const BOMB = `const hoard = []; weft.on('request', () => { for (;;) hoard.push(new Array(100000).fill(7)); });`;
const BUDDY = `weft.on('request', () => new Array(20000).fill(1).length);`;
// ~0.6 MB of QuickJS heap per sandbox: a 32 MiB engine passes three quarters of its cap after some 15.
const HOLD = `const held = new Array(60000).fill(0).map((_, i) => 'x' + i); weft.on('request', () => held.length);`;

/** `n` leases of app `a` taken in one burst (they all resolve to one engine), and HOLD to fill it. */
async function burst(engines: AppEngines, n: number) {
  const mod = await one(HOLD, { name: 'm', kind: 'server' }, 'a');
  const leases = await Promise.all(Array.from({ length: n }, () => engines.acquire('a')));
  return { mod, leases, first: leases[0] as (typeof leases)[number] };
}

async function sandbox(engines: AppEngines, app: string, source: string, onFault?: (e: SandboxError, s: AppSandbox) => void) {
  const engine = await engines.acquire(app);
  const s: AppSandbox = new AppSandbox(engine, { app, side: 'headend', limits: { deadlineMs: 5000, watchdogGraceMs: 5000, memoryBytes: 256 * MiB }, onFault: (e) => onFault?.(e, s) });
  const m = s.load(await one(source, { name: 'm', kind: 'server' }, app));
  if (!m.ok) throw m.error;
  m.value.start();
  return { s, m: m.value, engine };
}

test('a memory bomb grows only its app engine, and the memory is given back when its sandbox goes', async (t) => {
  const engines = new AppEngines({ maxMemoryBytes: 64 * MiB });
  const bomb = await sandbox(engines, 'bomb', BOMB, (e, s) => {
    if (e.fault === 'memory') engines.retire(s.engine);
  });
  const buddy = await sandbox(engines, 'buddy', BUDDY);
  t.not(bomb.engine, buddy.engine, 'each app has its own engine');
  const err = (await t.throwsAsync(bomb.m.serve({}, from))) as SandboxError;
  t.is(err.fault, 'memory');
  t.true(engines.memoryOf('bomb') > 56 * MiB, `the bomb's instance grew to its cap: ${engines.memoryOf('bomb')}`);
  t.is(engines.memoryOf('buddy'), 16 * MiB, 'the neighbour did not grow');
  t.is(await buddy.m.serve({}, from), 20000, 'the neighbour allocates as before');
  // The faulting app's next sandbox already gets a fresh instance.
  const again = await sandbox(engines, 'bomb', BUDDY);
  t.not(again.engine, bomb.engine);
  t.is(await again.m.serve({}, from), 20000);
  bomb.s.destroy();
  engines.release(bomb.engine);
  t.is(engines.memoryOf('bomb'), 16 * MiB, 'the grown instance is no longer held: only the fresh one');
  t.is(engines.memoryBytes(), 32 * MiB);
  for (const x of [again, buddy]) {
    x.s.destroy();
    engines.release(x.engine);
  }
  t.is(engines.memoryBytes(), 0, 'nothing held once the apps are gone');
  t.like(engines.stats(), { engines: 0, loaded: 3, discarded: 3, retired: 1, refused: 0 });
});

test('sandboxes of one app share its engine until the last is released; the engine cap refuses by name', async (t) => {
  const engines = new AppEngines({ maxEngines: 2 });
  const a1 = await engines.acquire('a');
  const a2 = await engines.acquire('a');
  t.is(a1, a2);
  await engines.acquire('b');
  const e = (await t.throwsAsync(engines.acquire('c'))) as SandboxError;
  t.is(e.fault, 'memory');
  t.regex(e.message, /already holds 2 app engines/);
  engines.release(a1);
  t.is(engines.stats().engines, 2, 'still leased once');
  engines.release(a2);
  t.is(engines.stats().engines, 1);
  t.not(await engines.acquire('a'), a1, 'a fresh instance once the app came back');
  t.is(engines.stats().refused, 1);
  t.throws(() => new AppEngines({ maxEngine: 3 } as never), { message: /maxEngine/ });
});

test('a broken engine is dropped at once; the app gets a fresh one', async (t) => {
  const engines = new AppEngines();
  const e1 = await engines.acquire('a');
  e1.fail('Aborted(test)');
  engines.retire(e1);
  t.is(engines.stats().engines, 0);
  const e2 = await engines.acquire('a');
  t.not(e2, e1);
  t.is(e2.broken, undefined);
});

// Wave 20: a worker thread holding ~680 instances of one app filled its 64 MiB engine by volume;
// QuickJS then failed inside its own allocator paths (null thrown, out-of-bounds accesses,
// assertion aborts) in instances that had done nothing wrong. New sandboxes now go to a fresh
// engine once the current one passes three quarters of its cap, before any allocation fails.
test('an engine past three quarters of its cap takes no new sandbox: the app rolls over to a fresh engine before memory runs out', async (t) => {
  const engines = new AppEngines({ maxMemoryBytes: 32 * MiB });
  const live: Awaited<ReturnType<typeof sandbox>>[] = [];
  let faults = 0;
  while (live.length < 40) {
    const s = await sandbox(engines, 'a', HOLD, () => void faults++);
    live.push(s);
    if (s.engine !== live[0]?.engine) break;
  }
  const last = live[live.length - 1] as (typeof live)[number];
  t.not(last.engine, live[0]?.engine, 'a new sandbox went to a fresh engine');
  t.is(faults, 0, 'no instance ran out of memory');
  const before = live.slice(0, -1);
  t.true(before.every((s) => s.engine === live[0]?.engine));
  t.true(live[0]!.engine.memoryBytes() >= 24 * MiB, `the first engine had passed 3/4 of its cap: ${live[0]!.engine.memoryBytes()}`);
  t.false(live[0]!.engine.exhausted(), 'and was not yet exhausted');
  for (const s of before) t.is(await s.m.serve({}, from), 60000, 'the instances already there go on');
  t.like(engines.stats(), { engines: 2, rolled: 1, retired: 0 });
  for (const s of live) {
    s.s.destroy();
    engines.release(s.engine);
  }
  t.is(engines.memoryBytes(), 0, 'the rolled-over engine went with its last sandbox');
});

test('isEngineTrap: a WebAssembly trap or an emscripten abort is the engine failing; a guest fault or a plain error is not', (t) => {
  // The smallest module whose one function traps (`unreachable`).
  const bytes = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 7, 5, 1, 1, 102, 0, 0, 10, 5, 1, 3, 0, 0, 11]);
  const W = (globalThis as unknown as { WebAssembly: { Module: new (b: Uint8Array) => object; Instance: new (m: object) => { exports: { f: () => void } } } }).WebAssembly;
  const f = new W.Instance(new W.Module(bytes)).exports.f;
  t.true(isEngineTrap(t.throws(f)));
  const abort = new Error('Aborted(Assertion failed: ctx->header.ref_count == 0)');
  t.true(isEngineTrap(abort));
  t.false(isEngineTrap(new SandboxError('memory', 'a/m', 'out of memory')));
  t.false(isEngineTrap(new TypeError('x is not a function')));
  t.false(isEngineTrap('Aborted(a string)'));
});

test('hasRoom judges an engine when the sandbox is made: leases taken in one burst all resolve to the same engine, and the ones past the mark are turned back', async (t) => {
  const engines = new AppEngines({ maxMemoryBytes: 32 * MiB });
  const { mod, leases, first } = await burst(engines, 30);
  t.true(leases.every((e) => e === first), 'a burst resolves to one engine: acquire cannot see what is not made yet');
  const made: AppSandbox[] = [];
  let turnedBack = 0;
  for (const engine of leases) {
    if (!engines.hasRoom(engine)) {
      engines.release(engine);
      turnedBack++;
      continue;
    }
    const s = new AppSandbox(engine, { app: 'a', side: 'headend', limits: { memoryBytes: 256 * MiB } });
    const m = s.load(mod);
    if (!m.ok) return t.fail(`sandbox ${made.length} failed: ${m.error.message}`);
    made.push(s);
  }
  t.true(turnedBack > 0 && made.length > 0, `made ${made.length}, turned back ${turnedBack}`);
  t.true(first.memoryBytes() >= 24 * MiB && !first.exhausted());
  t.is(engines.stats().rolled, 1);
  t.not(await engines.acquire('a'), first, 'the next acquire gets a fresh engine');
  for (const s of made) {
    s.destroy();
    engines.release(first);
  }
});

test('rolling over is bounded per app: past maxAppBytes of engines the next sandbox is refused by name, not run out of memory', async (t) => {
  const engines = new AppEngines({ maxMemoryBytes: 32 * MiB, maxAppBytes: 64 * MiB });
  const live: Awaited<ReturnType<typeof sandbox>>[] = [];
  let refusal: SandboxError | undefined;
  let faults = 0;
  while (live.length < 60) {
    try {
      live.push(await sandbox(engines, 'a', HOLD, () => void faults++));
    } catch (e) {
      refusal = e as SandboxError;
      break;
    }
  }
  t.is(faults, 0, 'no instance ran out of memory');
  t.is(refusal?.fault, 'memory');
  t.regex(refusal?.message ?? '', /engines of app a on this thread hold \d+ MiB \(maxAppBytes 64 MiB\)/);
  t.true(engines.memoryOf('a') <= 64 * MiB, `held ${engines.memoryOf('a')}`);
  t.true(engines.stats().rolled >= 1 && engines.stats().refused === 1);
  t.is(await live[0]!.m.serve({}, from), 60000, 'the instances already there go on');
  t.throws(() => new AppEngines({ maxMemoryBytes: 32 * MiB, maxAppBytes: 16 * MiB }), { message: /maxAppBytes must be at least maxMemoryBytes/ });
  for (const s of live) {
    s.s.destroy();
    engines.release(s.engine);
  }
});

test('an engine whose last sandboxes go while it rolls over (a warm pool freeing them) is discarded once', async (t) => {
  const engines = new AppEngines({ maxMemoryBytes: 32 * MiB });
  const { mod, leases, first } = await burst(engines, 12);
  const made: AppSandbox[] = [];
  for (const engine of leases) {
    if (first.memoryBytes() >= 24 * MiB) {
      engines.release(engine);
      continue;
    }
    const s = new AppSandbox(engine, { app: 'a', side: 'headend', limits: { memoryBytes: 256 * MiB } });
    if (!s.load(mod).ok) return t.fail('a filler ran out of memory');
    made.push(s);
  }
  t.true(first.memoryBytes() >= 24 * MiB, 'filled past the mark');
  const stop = engines.onRolled((e) => {
    for (const s of made) {
      s.destroy();
      engines.release(e);
    }
  });
  const fresh = await engines.acquire('a');
  stop();
  t.not(fresh, first);
  t.like(engines.stats(), { rolled: 1, discarded: 1, engines: 1 });
});
