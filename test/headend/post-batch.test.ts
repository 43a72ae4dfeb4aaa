// [wave 15] Envelopes for a portion thread go as one postMessage per turn, and a thread sees in
// order what was posted to it (headend/portions/post-batch.ts). A fake worker records the posts.
import test from 'ava';
import { postInOrder, type BatchedThread } from '../../headend/portions/post-batch.ts';
import type { EnvToWorker, ToWorker } from '../../headend/portions/portion-protocol.ts';
import type { PooledWorker } from '../../headend/portions/worker-pool.ts';

function thread(): { t: BatchedThread; posts: ToWorker[] } {
  const posts: ToWorker[] = [];
  const w = { id: 1, post: (m: unknown) => void posts.push(m as ToWorker), onMessage: () => {}, onExit: () => {} } as unknown as PooledWorker;
  return { t: { w, batch: [] }, posts };
}

const env = (id: number): EnvToWorker => ({ t: 'env', iid: 'p1.n1', module: 'epg', at: id, env: { v: 1, kind: 'req', id, src: { vaddr: 'weft://box/b1/loader' }, dst: { vaddr: 'weft://guide/s1/epg' }, body: id } });
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

test('the envelopes of one turn go as one message, in order, when the turn ends', async (t) => {
  const { t: th, posts } = thread();
  for (let i = 1; i <= 3; i++) postInOrder(th, env(i));
  t.is(posts.length, 0, 'nothing yet');
  await turn();
  t.deepEqual(posts, [{ t: 'envs', list: [env(1), env(2), env(3)] }]);
  postInOrder(th, env(4));
  await turn();
  t.deepEqual(posts.at(-1), env(4), 'one alone goes as itself');
  t.is(posts.length, 2);
});

test('any other message goes after the envelopes posted before it, at once', async (t) => {
  const { t: th, posts } = thread();
  postInOrder(th, env(1));
  postInOrder(th, env(2));
  postInOrder(th, { t: 'snapshot', rid: 7, iid: 'p1.n1' });
  t.deepEqual(posts, [{ t: 'envs', list: [env(1), env(2)] }, { t: 'snapshot', rid: 7, iid: 'p1.n1' }]);
  postInOrder(th, env(3));
  postInOrder(th, { t: 'stop', rid: 8, iid: 'p1.n1' });
  await turn();
  t.deepEqual(posts.slice(2), [env(3), { t: 'stop', rid: 8, iid: 'p1.n1' }], 'the end of the turn finds nothing left to post');
});
