// A module's context carries the typed-array intrinsics (ArrayBuffer, DataView, the typed arrays,
// with WeakRef and FinalizationRegistry, which come with them) only when its text names one of
// them: the rest of the language is the same in both (issue 19.2, D63 lean contexts).
import test, { type ExecutionContext } from 'ava';
import { loadEngine, WarmRuntime } from '../../sandbox/index.ts';
import { Apps, one } from './_harness.ts';

const engine = await loadEngine();
const from = { queue: 'tester' };

const PROBE = `
  const kinds = (names) => names.map((n) => typeof globalThis[n]).join(',');
  weft.on('request', () => ({
    lean: kinds(['Ar' + 'rayBuffer', 'Uint8' + 'Array', 'Data' + 'View', 'Weak' + 'Ref', 'Final' + 'izationRegistry']),
    rest: kinds(['Object', 'Array', 'JSON', 'Promise', 'Map', 'Set', 'WeakMap', 'Date', 'RegExp', 'Proxy', 'Reflect', 'Symbol', 'BigInt']),
    normalize: typeof ''.normalize,
  }));
`;
const REST = 'function,function,object,function,function,function,function,function,function,function,object,function,function';

async function probe(t: ExecutionContext, source: string, warm?: WarmRuntime): Promise<{ lean: string; rest: string; normalize: string }> {
  const apps = new Apps(engine);
  const app = apps.make(warm === undefined ? {} : { warm });
  const r = app.load(await one(source));
  if (!r.ok) throw r.error;
  r.value.start();
  const out = (await r.value.serve({}, from)) as { lean: string; rest: string; normalize: string };
  app.destroy();
  apps.finish(t);
  return out;
}

test('a module that names no typed array gets a context without them, the rest of the language intact', async (t) => {
  const got = await probe(t, PROBE);
  t.is(got.lean, 'undefined,undefined,undefined,undefined,undefined');
  t.is(got.rest, REST);
  t.is(got.normalize, 'function');
});

for (const name of ['Uint8Array', 'ArrayBuffer', 'DataView', 'Float64Array', 'BigInt64Array', 'WeakRef', 'FinalizationRegistry', 'Atomics']) {
  test(`a module that names ${name} gets every intrinsic`, async (t) => {
    const got = await probe(t, `${PROBE}\n// uses ${name}`);
    t.is(got.lean, 'function,function,function,function,function');
    t.is(got.rest, REST);
  });
}

test('a warm context (made before the module was known) keeps every intrinsic', async (t) => {
  const got = await probe(t, PROBE, new WarmRuntime(engine, 1));
  t.is(got.lean, 'function,function,function,function,function');
});

test('a lean warm context (made for a build that names no typed array) serves such a module lean', async (t) => {
  const got = await probe(t, PROBE, new WarmRuntime(engine, 1, true));
  t.is(got.lean, 'undefined,undefined,undefined,undefined,undefined');
  t.is(got.rest, REST);
});

test('a lean warm context is not given to a module that names a typed array: it gets a full one', async (t) => {
  const got = await probe(t, `${PROBE}\n// Uint8Array`, new WarmRuntime(engine, 1, true));
  t.is(got.lean, 'function,function,function,function,function');
});
