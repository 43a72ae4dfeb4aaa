// The worker's side of a checkpoint [issue 13.2]: a checkpoint's snapshot (flush: false) leaves
// the fair queue as it is and says how many of the instance's envelopes still wait, so what it
// covers is exactly what was handled; a migration's snapshot (flush) runs them all first.
import test from 'ava';
import { StateCodec } from '../../runtime/app/index.ts';
import { serverApp, WorkerUnderTest } from '../security/_portion-worker.ts';

const COUNTER = `let n = 0;
  weft.on('request', () => ({ n: ++n }));
  export function snapshot() { return { n }; }
  export function restore(s) { n = s.n; }`;

test('a checkpoint snapshot covers the handled envelopes and counts the queued ones; a flushing one covers all', async (t) => {
  const w = await WorkerUnderTest.start();
  const codec = new StateCodec();
  try {
    const app = await serverApp('tally', { counter: COUNTER });
    t.like(await w.startPortion(app, 's1'), { ok: true });
    const ids = Array.from({ length: 20 }, () => w.request('tally', 's1', 'counter', {}));
    const cp = await w.snapshot('tally', 's1', false);
    t.is(typeof cp.queued, 'number', 'the checkpoint snapshot says how many wait');
    const handled = (codec.decode(cp.states?.counter as Uint8Array) as { n: number }).n;
    t.is(handled + (cp.queued as number), 20, `handled ${handled} + queued ${cp.queued}`);
    const full = await w.snapshot('tally', 's1');
    t.deepEqual(codec.decode(full.states?.counter as Uint8Array), { n: 20 }, 'a migration snapshot runs the queue first');
    t.is(full.queued, undefined);
    for (const id of ids) t.is((await w.answer(id)).kind, 'rep');
    const after = await w.snapshot('tally', 's1', false);
    t.is(after.queued, 0);
  } finally {
    await w.close();
  }
});

test('a batch of checkpoint snapshots answers each instance in order, as one snapshot each would, and names a missing one', async (t) => {
  const w = await WorkerUnderTest.start();
  const codec = new StateCodec();
  try {
    const app = await serverApp('tally', { counter: COUNTER });
    for (const s of ['s1', 's2']) t.like(await w.startPortion(app, s), { ok: true });
    for (const id of [w.request('tally', 's1', 'counter', {}), w.request('tally', 's2', 'counter', {}), w.request('tally', 's2', 'counter', {})]) t.is((await w.answer(id)).kind, 'rep');
    const batch = await w.snapshots('tally', ['s2', 'gone', 's1']);
    t.is(batch.results.length, 3);
    const [s2, gone, s1] = batch.results as [(typeof batch.results)[number], (typeof batch.results)[number], (typeof batch.results)[number]];
    t.deepEqual('states' in s2 ? codec.decode(s2.states.counter as Uint8Array) : s2, { n: 2 });
    t.deepEqual('states' in s1 ? codec.decode(s1.states.counter as Uint8Array) : s1, { n: 1 });
    t.like(s1, { queued: 0 });
    t.deepEqual(gone, { error: 'no instance tally.gone' });
    const one = await w.snapshot('tally', 's2', false);
    t.deepEqual('states' in s2 ? [...(s2.states.counter as Uint8Array)] : undefined, [...(one.states?.counter as Uint8Array)], 'the same bytes as a snapshot of its own');
  } finally {
    await w.close();
  }
});
