// A loop pass's envelopes for one portion thread go as one message [wave 17]: the node gathers what
// it delivers to a thread in one pass of its event loop (thread-post.ts); any other message sends them
// first, so the worker sees the node's order. And the real worker runs an `envs` message's
// envelopes as if each had come alone.
import test from 'ava';
import { StateCodec } from '../../runtime/app/index.ts';
import type { Envelope } from '../../runtime/index.ts';
import type { EnvDelivery, ToWorker } from '../../headend/portions/portion-protocol.ts';
import { ENV_BATCH, ThreadPost } from '../../headend/portions/thread-post.ts';
import { serverApp, WorkerUnderTest } from '../security/_portion-worker.ts';
import { oneNodeSessions } from '../_helpers/one-node.ts';

/** The check phase of this loop pass, where the gathered envelopes go. */
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

function recorder() {
  const sent: ToWorker[] = [];
  const out = new ThreadPost({ post: (m) => void sent.push(m as ToWorker) });
  let n = 0;
  const env = (iid = 'tally.s1'): EnvDelivery => {
    const e: Envelope = { v: 1, kind: 'req', id: ++n, src: { queue: 'q' }, dst: { vaddr: 'weft://tally/s1/counter' }, body: {} };
    return { iid, module: 'counter', env: e, at: n };
  };
  const ids = (m: ToWorker | undefined): number[] => (m?.t === 'envs' ? m.list.map((d) => d.env.id) : m?.t === 'env' ? [m.env.id] : []);
  return { sent, out, env, ids };
}

test('the envelopes of one loop pass go as one message at its check phase; one alone goes as before', async (t) => {
  const r = recorder();
  for (let i = 0; i < 5; i++) r.out.env(r.env());
  t.is(r.sent.length, 0, 'nothing posted before the check phase');
  await tick();
  t.is(r.sent.length, 1);
  t.is(r.sent[0]?.t, 'envs');
  t.deepEqual(r.ids(r.sent[0]), [1, 2, 3, 4, 5]);
  r.out.env(r.env());
  await tick();
  t.is(r.sent[1]?.t, 'env', 'a lone envelope is an env message');
  t.deepEqual(r.ids(r.sent[1]), [6]);
});

test('another message to the thread sends the gathered envelopes first, so a stop or a snapshot comes after them', async (t) => {
  const r = recorder();
  r.out.env(r.env());
  r.out.env(r.env());
  r.out.post({ t: 'stop', rid: 9, iid: 'tally.s1' });
  r.out.env(r.env());
  t.deepEqual(r.sent.map((m) => m.t), ['envs', 'stop']);
  t.deepEqual(r.ids(r.sent[0]), [1, 2]);
  await tick();
  t.deepEqual(r.sent.map((m) => m.t), ['envs', 'stop', 'env']);
  t.deepEqual(r.ids(r.sent[2]), [3]);
});

test(`a message holds at most ${ENV_BATCH} envelopes: the rest of the pass starts the next one`, async (t) => {
  const r = recorder();
  for (let i = 0; i < ENV_BATCH + 3; i++) r.out.env(r.env());
  t.is(r.sent.length, 1, 'a full batch goes at once');
  t.is(r.ids(r.sent[0]).length, ENV_BATCH);
  await tick();
  t.deepEqual(r.ids(r.sent[1]), [ENV_BATCH + 1, ENV_BATCH + 2, ENV_BATCH + 3]);
  await tick();
  t.is(r.sent.length, 2, 'no empty message after');
});

test('the worker runs an envs message as the envelopes one by one: each answered, in order per instance', async (t) => {
  const w = await WorkerUnderTest.start();
  const codec = new StateCodec();
  try {
    const app = await serverApp('tally', { counter: `let n = 0; weft.on('request', () => ({ n: ++n })); export function snapshot() { return { n }; } export function restore(s) { n = s.n; }` });
    for (const s of ['s1', 's2']) t.like(await w.startPortion(app, s), { ok: true });
    const list = ['s1', 's2', 's1', 's1', 's2'].map((session) => ({ session, module: 'counter', body: {} }));
    const ids = w.requests('tally', list);
    const answers = await Promise.all(ids.map((id) => w.answer(id)));
    t.deepEqual(answers.map((a) => (a.body as { n: number }).n), [1, 1, 2, 3, 2]);
    const snap = await w.snapshot('tally', 's1');
    t.deepEqual(codec.decode(snap.states?.counter as Uint8Array), { n: 3 });
  } finally {
    await w.close();
  }
});

test('a node delivers 100 requests that reach it in one pass to their threads in a message per thread, and answers each', async (t) => {
  const N = 100;
  const h = await oneNodeSessions(N);
  try {
    const before = h.node.pool.sent('env') + h.node.pool.sent('envs');
    t.true((await h.incAll()).every((n) => n === 1));
    const messages = h.node.pool.sent('env') + h.node.pool.sent('envs') - before;
    t.true(messages >= 1 && messages <= h.node.portions.threads, `${messages} messages for ${N} envelopes on ${h.node.portions.threads} threads`);
  } finally {
    await h.close();
  }
});
