// Warm runtimes per app build (issue 19.3): a take is a hit or a miss, the pool refills to its
// bound and no further, a runtime serves one instance only (the next one never sees its
// globals), and closing frees every handle before its context and every context before its
// runtime (the debug build aborts otherwise, and its leak check finds what is left).
import test from 'ava';
import { AppEngines, AppSandbox, loadEngine, WarmPool, WarmRuntime, type SandboxError } from '../../sandbox/index.ts';
import { one } from './_harness.ts';

const from = { queue: 'tester' };
const LEAKY = `weft.on('request', (b) => { const seen = typeof globalThis.left; globalThis.left = b; return seen; });`;

async function fill(pool: WarmPool, build: string, app: string, contexts = 1): Promise<void> {
  while (await pool.refillOne(build, app, contexts));
}

async function sandboxOn(engines: AppEngines, pool: WarmPool, build: string) {
  const warm = pool.take(build);
  const engine = warm?.engine ?? (await engines.acquire('test'));
  const s = new AppSandbox(engine, { app: 'test', side: 'headend', ...(warm === undefined ? {} : { warm }) });
  const m = s.load(await one(LEAKY, { name: 'm', kind: 'server' }));
  if (!m.ok) throw m.error;
  m.value.start();
  return { s, m: m.value, engine, warm };
}

test('a take from an empty pool is a miss; after a refill it is a hit', async (t) => {
  const engines = new AppEngines();
  const pool = new WarmPool({ engines, perBuild: 2 });
  t.is(pool.take('b1'), undefined);
  t.like(pool.stats(), { hits: 0, misses: 1, warm: 0 });
  await fill(pool, 'b1', 'test');
  const w = pool.take('b1');
  t.true(w instanceof WarmRuntime);
  t.like(pool.stats(), { hits: 1, misses: 1, warm: 1, refills: 2 });
  t.is(pool.take('other'), undefined, 'another build has nothing warm');
  w?.dispose();
  if (w !== undefined) engines.release(w.engine);
  pool.close();
});

test('refills stop at the bound per build, and the least recently used build goes past maxBuilds', async (t) => {
  const engines = new AppEngines();
  const pool = new WarmPool({ engines, perBuild: 3, maxBuilds: 2 });
  let made = 0;
  while (await pool.refillOne('b1', 'test', 2)) made++;
  t.is(made, 2, 'the third refill reports the build full');
  t.false(await pool.refillOne('b1', 'test', 2), 'a refill of a full build makes nothing');
  t.like(pool.stats(), { warm: 3, refills: 3, builds: 1 });
  await fill(pool, 'b2', 'test');
  pool.take('b1'); // b1 is now the most recently used
  await fill(pool, 'b3', 'test');
  const s = pool.stats();
  t.is(s.builds, 2);
  t.is(s.warm, 2 + 3, 'b1 (2 left) and b3 (3) are kept, b2 was freed');
  t.is(s.discarded, 3);
  t.is(pool.take('b2'), undefined);
  pool.close();
  t.is(pool.stats().warm, 0);
  t.false(await pool.refillOne('b1', 'test', 1), 'a closed pool refills nothing');
});

test('isolation: an instance in a warm runtime never shares it; the next instance does not see its globals', async (t) => {
  const engines = new AppEngines();
  const pool = new WarmPool({ engines, perBuild: 2 });
  await fill(pool, 'b', 'test');
  const first = await sandboxOn(engines, pool, 'b');
  t.is(await first.m.serve('secret', from), 'undefined');
  t.is(await first.m.serve('again', from), 'string', 'the instance keeps its own globals');
  t.is(first.warm?.state, 'adopted');
  t.throws(() => new AppSandbox(first.engine, { app: 'test', side: 'headend', warm: first.warm as WarmRuntime }), { message: /cannot be adopted/ });
  first.s.destroy();
  engines.release(first.engine);
  await pool.refillOne('b', 'test', 1);
  const second = await sandboxOn(engines, pool, 'b');
  t.not(second.warm, undefined, 'the second instance also started warm');
  t.not(second.warm, first.warm, 'from another runtime');
  t.is(await second.m.serve('mine', from), 'undefined', 'the first instance left nothing behind');
  second.s.destroy();
  engines.release(second.engine);
  t.is(first.s.liveHandles(), 0);
  t.is(second.s.liveHandles(), 0);
  pool.close();
});

test('an engine set aside after a memory fault: its warm runtimes are freed, not handed out', async (t) => {
  const engines = new AppEngines();
  const pool = new WarmPool({ engines, perBuild: 2 });
  await fill(pool, 'b', 'test');
  const w = pool.take('b') as WarmRuntime;
  engines.retire(w.engine);
  t.is(pool.take('b'), undefined, 'the other warm runtime was in the retired engine');
  t.like(pool.stats(), { hits: 1, misses: 1, discarded: 1, warm: 0 });
  await fill(pool, 'b', 'test');
  const fresh = pool.take('b') as WarmRuntime;
  t.not(fresh.engine, w.engine, 'refills use the fresh engine');
  t.is(pool.stats().warm, 1);
  pool.discardEngine(w.engine);
  t.is(pool.stats().warm, 1, 'discardEngine frees only that engine\u2019s runtimes');
  pool.discardEngine(fresh.engine);
  t.is(pool.stats().warm, 0);
  for (const x of [w, fresh]) {
    x.dispose();
    engines.release(x.engine);
  }
  pool.close();
});

test('debug build: closing the pool frees every handle, context and runtime, in that order', async (t) => {
  const engines = new AppEngines({ variant: 'debug' });
  const pool = new WarmPool({ engines, perBuild: 2 });
  await fill(pool, 'b', 'test', 3);
  const taken = pool.take('b') as WarmRuntime;
  const dbg = taken.engine;
  t.is(dbg.liveRuntimes(), 2);
  // An adopted runtime whose prepared contexts were never used is freed with its sandbox.
  const s = new AppSandbox(dbg, { app: 'test', side: 'headend', warm: taken });
  const m = s.load(await one(LEAKY, { name: 'm', kind: 'server' }));
  if (!m.ok) throw m.error;
  t.true(s.liveHandles() > 0);
  s.destroy();
  t.is(s.liveHandles(), 0, 'the two unused prepared contexts went with the sandbox');
  engines.release(dbg);
  pool.close();
  t.is(dbg.broken, undefined, 'QuickJS did not abort (a handle outliving its context would)');
  t.notThrows(() => dbg.assertNoLeaks());
  t.is(pool.stats().warm, 0);
});

test('a warm runtime from another engine is refused by name', async (t) => {
  const engines = new AppEngines();
  const pool = new WarmPool({ engines });
  await pool.refillOne('b', 'test', 0);
  const w = pool.take('b') as WarmRuntime;
  const other = await loadEngine();
  const err = t.throws(() => new AppSandbox(other, { app: 'test', side: 'headend', warm: w })) as Error;
  t.regex(err.message, /warm must be a WarmRuntime of the same engine/);
  t.is(w.state, 'warm', 'not adopted when refused');
  w.dispose();
  engines.release(w.engine);
  t.throws(() => new WarmPool({ engines, perBuild: -1 }), { message: /perBuild/ });
  t.throws(() => new WarmPool({ engines, colour: 'red' } as never), { message: /colour/ });
  pool.close();
});

test('a module that faults in a warm runtime stops only its own instance', async (t) => {
  const engines = new AppEngines();
  const pool = new WarmPool({ engines, perBuild: 1 });
  await fill(pool, 'b', 'test');
  const warm = pool.take('b') as WarmRuntime;
  const s2 = new AppSandbox(warm.engine, { app: 'test', side: 'headend', warm, limits: { deadlineMs: 50, watchdogGraceMs: 5000 } });
  const m = s2.load(await one(`weft.on('request', () => { for (;;) {} });`, { name: 'spin', kind: 'server' }));
  if (!m.ok) throw m.error;
  m.value.start();
  const err = (await t.throwsAsync(m.value.serve({}, from))) as SandboxError;
  t.is(err.fault, 'deadline');
  s2.destroy();
  t.is(s2.liveHandles(), 0);
  engines.release(warm.engine);
  pool.close();
});

test('at rate: a build taken 40 times a second is kept with more than perBuild warm (up to maxPerBuild), and falls back when idle', async (t) => {
  const engines = new AppEngines();
  let now = 0;
  const pool = new WarmPool({ engines, perBuild: 2, maxPerBuild: 6, horizonMs: 100, now: () => now });
  const taken: WarmRuntime[] = [];
  const takeOne = (): void => {
    const w = pool.take('b1');
    if (w !== undefined) taken.push(w);
  };
  let made = 0;
  while (await pool.refillOne('b1', 'test', 1)) made++;
  t.is(pool.stats().warm, 2, 'idle: the floor, perBuild');
  // 40 takes in the first second (4 per 100 ms): the target becomes 40/s x 100 ms = 4.
  for (let i = 0; i < 40; i++) {
    now = i * 25;
    takeOne();
    if (i % 4 === 0) await pool.refillOne('b1', 'test', 1);
  }
  now = 1000;
  await fill(pool, 'b1', 'test');
  t.is(pool.stats().warm, 4, 'kept for 100 ms of takes at the observed rate');
  t.is(pool.stats().wanted, 4);
  // 200/s would want 20: capped at maxPerBuild.
  for (let i = 0; i < 200; i++) {
    now = 1000 + i * 5;
    takeOne();
  }
  now = 2000;
  await fill(pool, 'b1', 'test');
  t.is(pool.stats().warm, 6, 'never past maxPerBuild');
  // Idle seconds halve the rate: back to the floor, and refills stop there (the extra ones stay until taken).
  now = 10_000;
  t.is(pool.stats().wanted, 2);
  t.false(await pool.refillOne('b1', 'test', 1));
  t.true(made >= 1);
  for (const w of taken) {
    w.dispose();
    engines.release(w.engine);
  }
  pool.close();
});

test('warm pool options: maxPerBuild below perBuild, a bad horizon or clock are refused by name', (t) => {
  const engines = new AppEngines();
  t.throws(() => new WarmPool({ engines, perBuild: 4, maxPerBuild: 2 }), { message: /maxPerBuild/ });
  t.throws(() => new WarmPool({ engines, horizonMs: -1 }), { message: /horizonMs/ });
  t.throws(() => new WarmPool({ engines, now: 5 as unknown as () => number }), { message: /now/ });
  t.throws(() => new WarmPool({ engines, perBuld: 2 } as never), { message: /perBuld/ });
});

// Wave 20: warm runtimes made in an engine that then rolled over (sandbox/engines.ts ROLL_AT) stayed
// in the pool, counted as ready: an idle build was not refilled in its fresh engine, and kept the
// full engine (up to its whole cap) alive after its last instance, until a take found them.
test('warm runtimes of an engine that rolled over are freed when it rolls, and the next refill makes new ones in the fresh engine', async (t) => {
  const engines = new AppEngines({ maxMemoryBytes: 32 * 1024 * 1024 });
  const pool = new WarmPool({ engines, perBuild: 2 });
  await fill(pool, 'b1', 'test');
  const HOLD = `const held = new Array(60000).fill(0).map((_, i) => 'x' + i); weft.on('request', () => held.length);`;
  const mod = await one(HOLD, { name: 'm', kind: 'server' });
  const made: { s: AppSandbox; engine: Awaited<ReturnType<AppEngines['acquire']>> }[] = [];
  let first: Awaited<ReturnType<AppEngines['acquire']>> | undefined;
  for (;;) {
    const engine = await engines.acquire('test');
    first ??= engine;
    if (engine !== first) {
      engines.release(engine);
      break;
    }
    const s = new AppSandbox(engine, { app: 'test', side: 'headend' });
    if (!s.load(mod).ok) return t.fail('a filler ran out of memory');
    made.push({ s, engine });
  }
  t.is(engines.stats().rolled, 1, 'the engine the warm runtimes live in rolled over');
  t.like(pool.stats(), { warm: 0, discarded: 2 }, 'freed when it rolled, not held until a take');
  await fill(pool, 'b1', 'test');
  t.like(pool.stats(), { warm: 2, discarded: 2, refills: 4 });
  const w = pool.take('b1');
  t.not(w?.engine, first, 'what is handed out now lives in the fresh engine');
  w?.dispose();
  if (w !== undefined) engines.release(w.engine);
  for (const m of made) {
    m.s.destroy();
    engines.release(m.engine);
  }
  t.is(engines.memoryOf('test'), engines.stats().engines * 16 * 1024 * 1024, 'the full engine is gone: only fresh ones are held');
  pool.close();
});
