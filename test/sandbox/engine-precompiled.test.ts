// [issue 18.6] loadEngine({ wasmModule }): QuickJS's wasm compiled by the caller, begun before it
// knows the memory cap (the firmware starts the compile before it reads its arguments). The
// engine waits for that compile, instantiates that module (again on renew()); a compile that
// failed leaves the engine to compile its own, and nothing ends unhandled.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import test from 'ava';
import { loadEngine } from '../../sandbox/index.ts';

const require = createRequire(import.meta.url);
const WASM = join(dirname(require.resolve('@jitl/quickjs-wasmfile-release-sync/package.json')), 'dist', 'emscripten-module.wasm');
const Wasm = (globalThis as unknown as { WebAssembly: { compile(b: Uint8Array): Promise<unknown> } }).WebAssembly;

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve: (v: T) => void = () => {};
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

const run = (e: Awaited<ReturnType<typeof loadEngine>>, code: string): unknown => {
  const rt = e.newRuntime();
  const ctx = rt.newContext();
  try {
    return ctx.dump(ctx.unwrapResult(ctx.evalCode(code)));
  } finally {
    ctx.dispose();
    rt.dispose();
  }
};

test('the engine waits for the given compile, then runs on that module, and renews on it', async (t) => {
  const compiled = deferred<unknown>();
  let done = false;
  const loading = loadEngine({ maxMemoryBytes: 32 * 1024 * 1024, wasmModule: compiled.promise }).then((e) => {
    done = true;
    return e;
  });
  // The compile is not there yet: the engine cannot be either (it does not read the file itself).
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  t.false(done);
  compiled.resolve(await Wasm.compile(readFileSync(WASM)));
  const engine = await loading;
  t.is(run(engine, '6 * 7'), 42);
  t.is(engine.maxMemoryBytes, 32 * 1024 * 1024, 'the cap is the caller\'s, the module shared');
  await engine.renew();
  t.is(engine.renewals, 1);
  t.is(run(engine, '[1, 2, 3].length'), 3);
  engine.assertNoLeaks();
});

test('a compile that failed (the firmware passes undefined for it): the engine reads and compiles its own, as before', async (t) => {
  const engine = await loadEngine({ wasmModule: Promise.resolve(undefined) });
  t.is(run(engine, '2 + 2'), 4);
});

test('a compile that rejects rejects the load with its reason (and nothing is left unhandled)', async (t) => {
  await t.throwsAsync(loadEngine({ wasmModule: Promise.reject(new Error('not a wasm module')) }), { message: 'not a wasm module' });
});

test('unknown options are still refused by name', async (t) => {
  await t.throwsAsync(loadEngine({ wasmModul: Promise.resolve(undefined) } as never), { message: /wasmModul/ });
});
