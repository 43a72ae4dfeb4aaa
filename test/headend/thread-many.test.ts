// Issue 19: one worker thread now hosts past the old 256 instances (thread-room.ts). Sessions of
// one app stay apart however many share the thread and its engine: each has its own runtime, so
// the 300th does not see the globals of the 1st, nor the 1st those of the 300th. Waits on the
// worker's messages, never on time.
import test from 'ava';
import { serverApp, WorkerUnderTest } from '../security/_portion-worker.ts';

const LEAKY = `weft.on('request', (b) => { const seen = typeof globalThis.left; globalThis.left = b; return seen; });`;

test('300 sessions of one app on one thread and engine: none sees another one\u2019s globals', async (t) => {
  const w = await WorkerUnderTest.start({ warmPerBuild: 0, engineMemoryBytes: 256 << 20 });
  try {
    const app = await serverApp('many', { m: LEAKY });
    for (let i = 0; i < 300; i++) t.like(await w.startPortion(app, `s${i}`), { ok: true });
    t.is((await w.answer(w.request('many', 's0', 'm', 'first'))).body, 'undefined');
    t.is((await w.answer(w.request('many', 's299', 'm', 'last'))).body, 'undefined', 'the 300th does not see the 1st');
    t.is((await w.answer(w.request('many', 's0', 'm', 'again'))).body, 'string', 'the 1st keeps its own');
    t.is((await w.answer(w.request('many', 's150', 'm', 'mid'))).body, 'undefined');
    const l = await w.load();
    t.like(l.sandbox, { engines: 1 }, 'one engine for the app on this thread');
  } finally {
    await w.close();
  }
});

// [issue 19.6] The thread's load report walks its instances a batch per turn (load-sweep.ts): with
// thousands of instances the one-piece pass every 500 ms held the thread, and a request behind it.
test('300 instances on one thread: the load report visits at most a batch of them per turn', async (t) => {
  const w = await WorkerUnderTest.start({ warmPerBuild: 0, engineMemoryBytes: 256 << 20, sweepBatch: 64 });
  try {
    const app = await serverApp('many', { m: LEAKY });
    for (let i = 0; i < 300; i++) t.like(await w.startPortion(app, `s${i}`), { ok: true });
    await w.load(); // a pass that may have begun before the last start
    const l = await w.load();
    const sweep = l.sandbox?.sweep;
    t.truthy(sweep, 'the report says how its pass went');
    t.true((sweep?.maxPerTurn ?? Infinity) <= 64, `one turn visited ${sweep?.maxPerTurn} instances`);
    t.true((sweep?.turns ?? 0) >= 5, 'a pass over 300 took five turns or more');
    t.is(sweep?.errors, 0);
  } finally {
    await w.close();
  }
});
