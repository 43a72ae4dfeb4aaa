// A checkpoint round's snapshots go to each portion thread as one message per batch, not one per
// instance [wave 17]: in the 18,000-box reconnect storm every confirm marks its session, and one
// round trip per instance was half the node's postMessage time. Deterministic tier: one node, the
// in-thread portion host (it counts the messages it is sent), a manual clock.
import test from 'ava';
import { SNAPSHOT_BATCH } from '../../headend/portions/snapshot-batch.ts';
import { oneNodeSessions } from '../_helpers/one-node.ts';

test('a round checkpoints 100 changed sessions with one snapshot message per thread per batch, and writes each one state', async (t) => {
  const N = 100;
  const h = await oneNodeSessions(N);
  const { node } = h;
  try {
    // Every session's first request lands before any round: all N are marked at once, as in a storm.
    t.true((await h.incAll()).every((n) => n === 1), 'each session answered its own first request');
    const before = { one: node.pool.sent('snapshot'), many: node.pool.sent('snapshots') };
    await h.advance(2 * h.INTERVAL);
    const one = node.pool.sent('snapshot') - before.one;
    const many = node.pool.sent('snapshots') - before.many;
    t.is(one, 0, 'no snapshot went alone');
    // A round takes the changed instances SNAPSHOT_BATCH at a time; each batch is one message per thread it spans.
    const threads = node.portions.threads;
    t.true(threads >= 1);
    t.true(many >= 1 && many <= threads * Math.ceil(N / SNAPSHOT_BATCH), `${many} messages for ${N} instances on ${threads} threads, batches of ${SNAPSHOT_BATCH}`);
    for (const s of h.sessions) t.deepEqual((await h.registry.getCheckpoint(s.dasp))?.state, Uint8Array.of(1), `${s.dasp} checkpointed`);
    t.like(node.checkpoints.stats(), { written: N, failed: 0 });
  } finally {
    await h.close();
  }
});
