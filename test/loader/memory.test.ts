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
