// Where the firmware's memory goes (loader/memory.ts): the smaps_rollup split into anonymous and
// file pages, V8's figures beside the QuickJS wasm memory, and the flags the firmware is started
// with are ones this Node accepts (a flag it did not know would stop every box at start).
import { execFileSync } from 'node:child_process';
import test from 'ava';
import { FIRMWARE_NODE_FLAGS, memoryBreakdown, rollupBytes } from '../../loader/memory.ts';

const ROLLUP = '55d0-7ffd ---p 00000000 00:00 0 [rollup]\nRss:               66000 kB\nPss:               30000 kB\nAnonymous:         22000 kB\nSwap:                  0 kB\n';

test('the rollup gives resident and anonymous bytes; anything else gives undefined', (t) => {
  t.deepEqual(rollupBytes(ROLLUP), { rss: 66000 * 1024, anon: 22000 * 1024 });
  t.is(rollupBytes('Rss: 12 kB\n'), undefined);
  t.is(rollupBytes('Rss: 99999999999999 kB\nAnonymous: 1 kB\n'), undefined);
});

test('the breakdown: V8 heap, outside it, wasm, anonymous and file pages, in MB', (t) => {
  const m = memoryBreakdown(16 * 1024 * 1024, () => ROLLUP);
  t.is(m.wasm, 16.8);
  t.is(m.anon, 22.5);
  t.is(m.file, 45.1);
  t.true(m.heapUsed > 0 && m.heapTotal >= m.heapUsed);
  const none = memoryBreakdown(0, () => {
    throw new Error('ENOENT');
  });
  t.is(none.anon, undefined, 'no /proc rollup: no page split, no throw');
});

test('this Node takes the firmware\'s command-line flags', (t) => {
  const out = execFileSync(process.execPath, [...FIRMWARE_NODE_FLAGS, '-e', 'process.stdout.write("ok")'], { encoding: 'utf8' });
  t.is(out, 'ok');
});

// A tiny wasm module, `f(n)` = n + (n-1) + ... + 1 in a loop: hot enough after a few calls that
// V8's dynamic tiering recompiles it with TurboFan on its platform worker. For QuickJS's wasm that
// recompilation (its interpreter loop is one huge function) held ~20 MB of compiler zones on the
// worker thread's malloc arena: the first-boot RSS spike (docs/LAB.md, "The first-boot spike").
const HOT_LOOP_WASM = (() => {
  const body = [0x01, 0x01, 0x7f, 0x02, 0x40, 0x03, 0x40, 0x20, 0x00, 0x45, 0x0d, 0x01, 0x20, 0x01, 0x20, 0x00, 0x6a, 0x21, 0x01, 0x20, 0x00, 0x41, 0x01, 0x6b, 0x21, 0x00, 0x0c, 0x00, 0x0b, 0x0b, 0x20, 0x01, 0x0b];
  const code = [0x01, body.length, ...body];
  const head = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x06, 0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x03, 0x02, 0x01, 0x00, 0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00];
  return [...head, 0x0a, code.length, ...code];
})();

test("under the firmware's flags wasm stays on Liftoff: a hot function is never recompiled with TurboFan", (t) => {
  // Each call is checked after it returns; without the flags V8 tiers `f` up within a few calls.
  const script = `const f = new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array([${HOT_LOOP_WASM.join(',')}]))).exports.f;
let calls = 0;
for (; calls < 3000 && !%IsTurboFanFunction(f); calls++) f(20000);
process.stdout.write(JSON.stringify({ calls, turbofan: %IsTurboFanFunction(f), liftoff: %IsLiftoffFunction(f), sum: f(100) }));`;
  const out = JSON.parse(execFileSync(process.execPath, [...FIRMWARE_NODE_FLAGS, '--allow-natives-syntax', '-e', script], { encoding: 'utf8' })) as { calls: number; turbofan: boolean; liftoff: boolean; sum: number };
  t.is(out.sum, 5050, 'the module computes what it should');
  t.deepEqual({ turbofan: out.turbofan, liftoff: out.liftoff }, { turbofan: false, liftoff: true }, `after ${out.calls} calls`);
});
