// The firmware's compact QuickJS FFI table (issue 19.4, D95): the class it builds makes the same
// cwrap calls, in the same order, onto the same properties as the package's own ffi.mjs, in far
// fewer bytes; a file of another shape is refused by name, never half rewritten.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import test from 'ava';
import { compactFfi } from '../../scripts/firmware-ffi.mjs';

const require = createRequire(import.meta.url);
const FFI = require.resolve('@jitl/quickjs-wasmfile-release-sync').replace(/index\.(c?js|mjs)$/, 'ffi.mjs');
const original = readFileSync(FFI, 'utf8');

type Ffi = new (module: { cwrap: (...a: unknown[]) => unknown }) => Record<string, unknown>;

async function load(source: string): Promise<Ffi> {
  // Without its source-map comment: the map is a path relative to the package, not to a data: URL.
  const text = source.replace(/\/\/# sourceMappingURL=.*$/m, '');
  const mod = (await import(`data:text/javascript;base64,${Buffer.from(text).toString('base64')}`)) as { QuickJSFFI: Ffi };
  return mod.QuickJSFFI;
}

/** What constructing the class does to a module that records its cwrap calls. */
async function effects(source: string): Promise<{ calls: unknown[][]; keys: string[]; fns: unknown[] }> {
  const calls: unknown[][] = [];
  const Klass = await load(source);
  const f = new Klass({ cwrap: (...a: unknown[]) => (calls.push(a), `fn${calls.length}`) });
  return { calls, keys: Object.keys(f), fns: Object.values(f).filter((v) => typeof v === 'string') };
}

test('the compact table makes the same cwrap calls onto the same properties', async (t) => {
  const before = await effects(original);
  const after = await effects(compactFfi(original));
  t.true(before.calls.length >= 60, `the package wraps ${before.calls.length} functions`);
  t.deepEqual(after.calls, before.calls);
  t.deepEqual(after.keys, before.keys);
  t.deepEqual(after.fns, before.fns);
  t.true(before.calls.some((c) => c[1] === null) && before.calls.some((c) => (c[2] as unknown[]).includes('string')), 'void returns and string arguments are in the table');
});

test('the compact table is at most a third of the package file', (t) => {
  const out = compactFfi(original);
  t.true(out.length * 3 <= original.length, `${out.length} of ${original.length} bytes`);
});

test('a file of another shape is refused by name', (t) => {
  const stmt = (i: number) => `this.QTS_F${i}=this.module.cwrap("QTS_F${i}","number",["number"]);`;
  const table = (n: number, from = 0) => Array.from({ length: n }, (_, i) => stmt(from + i)).join('');
  const head = 'var QuickJSFFI=class{constructor(module){this.module=module;';
  const ok = `${head}${table(16)}}};export{QuickJSFFI};`;
  t.notThrows(() => compactFfi(ok));
  t.throws(() => compactFfi(`${head}${table(3)}}};`, 'x.mjs'), { message: /x\.mjs has 3 cwrap statements, expected at least 16/ });
  t.throws(() => compactFfi(ok.replace('export', 'this.module.cwrap("QTS_B");export')), { message: /cwrap outside the table/ });
  t.throws(() => compactFfi(`${head}${table(16)}x=1;${table(1, 16)}}};`), { message: /has 2 runs of cwrap statements/ });
  t.throws(() => compactFfi(ok.replace('this.QTS_F0=', 'this.QTS_X=')), { message: /QTS_X wraps QTS_F0/ });
  t.throws(() => compactFfi(''), { message: /has 0 runs/ });
});
