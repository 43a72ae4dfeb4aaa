// Wave 20: a stop that reaches a portion thread while that instance's start still awaits (a cold
// app: its verification and its engine load are asynchronous) was answered `stopped` at once,
// finding no instance; the start then went on and the instance ran, owned by no one: it held
// its engine lease and memory for the thread's life and still answered requests. A stop now
// waits for the start it overtook, then stops what it started.
import test from 'ava';
import { PortionManager } from '../../headend/portions/portions.ts';
import { WorkerPool } from '../../headend/portions/worker-pool.ts';
import { serverApp, WorkerUnderTest } from '../security/_portion-worker.ts';

test('a stop posted right after its start, before the start is answered, stops the instance the start makes', async (t) => {
  const w = await WorkerUnderTest.start({ warmPerBuild: 0 });
  try {
    const app = await serverApp('race', { m: `weft.on('request', () => 'alive');` });
    const from = w.seen.length;
    const started = w.startPortion(app, 's1');
    await w.stopPortion('race', 's1');
    t.like(await started, { ok: true }, 'the start was answered first');
    const order = w.seen.slice(from).filter((m) => m.t === 'started' || m.t === 'stopped').map((m) => m.t);
    t.deepEqual(order, ['started', 'stopped'], 'the stop was answered after the start it waited for');
    // Nothing of the instance is left: a second start of the same session is cold again and
    // runs, and the thread holds one instance's engine, not two.
    t.like(await w.startPortion(app, 's2'), { ok: true });
    t.is((await w.answer(w.request('race', 's2', 'm', null))).body, 'alive');
    await w.stopPortion('race', 's2');
    const load = await w.load();
    t.is(load.sandbox?.engines, 0, `every engine went with its instances: ${JSON.stringify(load.sandbox)}`);
  } finally {
    await w.close();
  }
});

test('the node: a start overtaken by a stop of its instance ends as a failure, not as a running instance', async (t) => {
  const pool = new WorkerPool({ entry: new URL('../../headend/portions/portion-worker.ts', import.meta.url), spare: 0, max: 1, data: { warmPerBuild: 0 } });
  const pm = new PortionManager({ pool, onOut: () => {}, spread: 1 });
  try {
    // A first instance of another app, so the thread exists and the next start posts at once.
    const other = await serverApp('other', { m: `weft.on('request', () => 1);` });
    t.true((await pm.start({ ...other, iid: 'other.s0', session: 's0' })).ok);
    const app = await serverApp('race2', { m: `weft.on('request', () => 'alive');` });
    const starting = pm.start({ ...app, iid: 'race2.s1', session: 's1' });
    t.true(pm.has('race2.s1'), 'the start was posted');
    await pm.stop('race2.s1');
    const r = await starting;
    t.false(r.ok, 'not reported as running');
    t.regex(r.ok ? '' : r.error.message, /race2\.s1 was stopped while it started/);
    t.false(pm.has('race2.s1'));
    t.is(pm.threadStats()[0]?.instances, 1, 'only the other app\u2019s instance');
  } finally {
    await pm.close();
    await pool.close();
  }
});
