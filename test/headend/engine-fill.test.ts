// Wave 20: a portion thread whose instances of one app fill its app engine by volume. Before, the
// instance that crossed the cap failed with a null thrown at module evaluation, later starts with
// out-of-bounds accesses and QuickJS assertion aborts, while the thread kept handing the app the
// same engine. Now the app rolls over to a fresh engine at three quarters of the cap
// (sandbox/engines.ts ROLL_AT): every start succeeds and the instances already there still answer.
import test from 'ava';
import { serverApp, WorkerUnderTest } from '../security/_portion-worker.ts';

// ~0.6 MB of QuickJS heap per instance: a 32 MiB engine holds some 50 of them.
const HOLD = `const held = new Array(20000).fill(0).map((_, i) => 'x' + i);
weft.on('request', () => held.length);`;
const STARTS = 150;

test('instances of one app that fill its engine roll over to fresh engines: every start succeeds and every instance answers', async (t) => {
  const w = await WorkerUnderTest.start({ engineMemoryBytes: 32 << 20, appMemoryBytes: 512 << 20, warmPerBuild: 0 });
  try {
    const app = await serverApp('fill', { m: HOLD });
    for (let i = 0; i < STARTS; i++) {
      const r = await w.startPortion(app, `s${i}`);
      if (!r.ok) return t.fail(`start ${i} failed: ${r.error}`);
    }
    for (const i of [0, 60, STARTS - 1]) t.is((await w.answer(w.request('fill', `s${i}`, 'm', null))).body, 20000, `s${i} answers`);
    const load = await w.load();
    t.true((load.sandbox?.rolled ?? 0) >= 2, `rolled over: ${JSON.stringify(load.sandbox)}`);
    t.is(load.sandbox?.retired, 0, 'no engine faulted');
    for (let i = 0; i < STARTS; i++) await w.stopPortion('fill', `s${i}`);
    const after = await w.load();
    t.is(after.sandbox?.engines, 0, 'every engine went with its last instance');
  } finally {
    await w.close();
  }
});

// A burst: every start of the burst acquired the app's engine before any of them had loaded a
// module (acquire resolves them all in one run of microtasks), so the fill check at acquire saw
// an empty engine 200 times: 28 started, 172 failed with QuickJS's out-of-memory. The check now
// happens again in the same synchronous stretch that makes the sandbox.
test('a burst of starts of one app, all posted at once, fills engines one after another: every start succeeds', async (t) => {
  const w = await WorkerUnderTest.start({ engineMemoryBytes: 32 << 20, appMemoryBytes: 512 << 20, warmPerBuild: 2 });
  try {
    const app = await serverApp('burst', { m: HOLD });
    const N = 200;
    const rs = await Promise.all(Array.from({ length: N }, (_, i) => w.startPortion(app, `s${i}`)));
    const failed = rs.filter((r) => !r.ok);
    if (failed.length > 0) return t.fail(`${failed.length} of ${N} failed, the first: ${failed[0]?.ok === false ? failed[0].error : ''}`);
    for (const i of [0, N / 2, N - 1]) t.is((await w.answer(w.request('burst', `s${i}`, 'm', null))).body, 20000, `s${i} answers`);
    const load = await w.load();
    t.true((load.sandbox?.rolled ?? 0) >= 2, `rolled over: ${JSON.stringify(load.sandbox)}`);
    t.is(load.sandbox?.retired, 0, 'no engine faulted');
  } finally {
    await w.close();
  }
});
