import test from 'ava';
import { Channel, formatVaddr, type Envelope } from '../../runtime/index.ts';
import { createUdpTransport } from '../../transport/index.ts';
import { MIXED_APP, signedApp } from '../_helpers/apps.ts';
import { memoryRegistry, testNode } from '../_helpers/headend.ts';

test('live migration under load: state moves, the registry follows, no request lost or served twice [c31-c33]', async (t) => {
  const { pub, trusted } = await signedApp('mix', MIXED_APP);
  const registry = memoryRegistry();
  const n1 = await testNode({ id: 'n1', registry, apps: [pub], trusted });
  const n2 = await testNode({ id: 'n2', registry, apps: [pub], trusted });
  await n1.refreshPeers();
  await n2.refreshPeers();
  const boxT = await createUdpTransport({ host: '127.0.0.1', port: 0 });
  const box = new Channel({ self: { vaddr: 'weft://box/b/inbox', udp: boxT.address.udp as { host: string; port: number } }, write: (e: Envelope) => boxT.send(e), timeoutMs: 20_000 });
  boxT.onEnvelope((e) => box.receive(e));
  try {
    const started = await n1.startPortion('mix', 's1', ['counter']);
    if (!started.ok) return t.fail(started.error.message);
    const counter = formatVaddr({ app: 'mix', session: 's1', module: 'counter' });
    // Warm state before the move: 50 requests.
    for (let i = 0; i < 50; i++) await box.request({ vaddr: counter, udp: n1.udpAddress }, i);
    // 400 requests in flight around the move, all sent to the old node (as a stale cache would).
    const TOTAL = 400;
    const replies: Promise<unknown>[] = [];
    let moved: Promise<unknown> | undefined;
    for (let i = 0; i < TOTAL; i++) {
      replies.push(box.request({ vaddr: counter, udp: n1.udpAddress }, { i }));
      if (i === 150) moved = n1.movePortion(started.value, 'n2');
      if (i % 25 === 0) await new Promise((r) => setImmediate(r));
    }
    const res = (await moved) as { ok: boolean };
    t.true(res.ok);
    const got = (await Promise.all(replies)) as { n: number; echo: { i: number } }[];
    // Every request answered exactly once, in one sequence that continues the pre-move state.
    const ns = got.map((r) => r.n).sort((a, b) => a - b);
    t.deepEqual(ns, Array.from({ length: TOTAL }, (_, k) => 51 + k), 'counter continued from the snapshot, no gaps, no repeats');
    t.deepEqual(got.map((r) => r.echo.i), Array.from({ length: TOTAL }, (_, k) => k));
    const rec = await registry.lookup(counter);
    t.is(rec?.node, 'n2');
    t.true(n2.table.hosted.has(counter));
    t.false(n1.table.hosted.has(counter));
    t.is(n1.counters.moved, 1);
    // After the move, the old node still forwards what reaches it; the new one serves directly.
    t.like(await box.request({ vaddr: counter, udp: n1.udpAddress }, 'late'), { n: 51 + TOTAL });
    t.like(await box.request({ vaddr: counter, udp: n2.udpAddress }, 'direct'), { n: 52 + TOTAL });
  } finally {
    await boxT.close();
    await n1.close();
    await n2.close();
    await registry.close();
  }
});
