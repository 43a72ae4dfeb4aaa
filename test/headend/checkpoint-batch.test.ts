// A checkpoint round's snapshots go to each portion thread as one message per batch, not one per
// instance [wave 17]: in the 18,000-box reconnect storm every confirm marks its session, and one
// round trip per instance was half the node's postMessage time. Deterministic tier: one node, the
// in-thread portion host (it counts the messages it is sent), a manual clock.
import test from 'ava';
import { ManualClock, SessionOps, checkOpenReply, type OpenReply } from '../../runtime/index.ts';
import { signedApp } from '../_helpers/apps.ts';
import { memoryNode, memoryRegistry } from '../_helpers/headend.ts';
import { MemoryNet } from '../_helpers/memory-net.ts';
import { clockStepper, here, lowEndReport as report, memoryBox } from '../_helpers/memory-tier.ts';
import { SNAPSHOT_BATCH } from '../../headend/portions/snapshot-batch.ts';

const INTERVAL = 1000;

test('a round checkpoints 100 changed sessions with one snapshot message per thread per batch, and writes each one state', async (t) => {
  const { pub, trusted } = await signedApp('tally', [
    { name: 'ui', kind: 'client', source: `weft.on('message', () => {});` },
    { name: 'counter', kind: 'server', source: `weft.on('request', () => ({}));` },
  ]);
  const clock = new ManualClock();
  const net = new MemoryNet();
  const registry = memoryRegistry(clock);
  const node = await memoryNode({ id: 'n1', net, clock, registry, apps: [pub], trusted, intervalMs: INTERVAL, policy: here('n1') });
  const { box, transport } = memoryBox(net, clock);
  const advance = clockStepper(clock, INTERVAL);
  try {
    await advance(2 * INTERVAL);
    const N = 100;
    const sessions: OpenReply[] = [];
    for (let i = 0; i < N; i++) {
      const body = { app: 'tally', version: '1.0.0', boxId: `b${i}`, report: report(`b${i}`) };
      sessions.push(checkOpenReply(await box.request({ vaddr: 'weft://headend/n1/sessions', udp: node.udpAddress }, body, { op: SessionOps.open })));
    }
    // Every session's first request lands before any round: all N are marked at once, as in a storm.
    const replies = await Promise.all(sessions.map((s) => box.request({ vaddr: s.dasp, udp: node.udpAddress }, { inc: 1 })));
    t.true(replies.every((r) => (r as { n: number }).n === 1), 'each session answered its own first request');
    const before = { one: node.pool.sent('snapshot'), many: node.pool.sent('snapshots') };
    await advance(2 * INTERVAL);
    const one = node.pool.sent('snapshot') - before.one;
    const many = node.pool.sent('snapshots') - before.many;
    t.is(one, 0, 'no snapshot went alone');
    // A round takes the changed instances SNAPSHOT_BATCH at a time; each batch is one message per thread it spans.
    const threads = node.portions.threads;
    t.true(threads >= 1);
    t.true(many >= 1 && many <= threads * Math.ceil(N / SNAPSHOT_BATCH), `${many} messages for ${N} instances on ${threads} threads, batches of ${SNAPSHOT_BATCH}`);
    for (const s of sessions) t.deepEqual((await registry.getCheckpoint(s.dasp))?.state, Uint8Array.of(1), `${s.dasp} checkpointed`);
    t.like(node.checkpoints.stats(), { written: N, failed: 0 });
  } finally {
    await node.close();
    await transport.close();
    await registry.close();
  }
});
