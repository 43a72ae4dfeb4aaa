import test from 'ava';
import { Channel, SESSIONS_VADDR, SessionOps, checkOpenReply, type Envelope } from '../../runtime/index.ts';
import { MIXED_APP, signedApp } from '../_helpers/apps.ts';
import { memoryRegistry, testNode } from '../_helpers/headend.ts';
import { aedesBroker, secretOf, transport } from '../_helpers/mqtt-fixtures.ts';

test('a box reaches its server portion over MQTT through the embedded broker [c39, c41-c45]', async (t) => {
  const broker = await aedesBroker();
  const { pub, trusted } = await signedApp('mix', MIXED_APP);
  const registry = memoryRegistry();
  const node = await testNode({ id: 'node-1', registry, apps: [pub], trusted, mqtt: { url: broker.url, password: secretOf('node-1') } });
  const boxT = await transport(broker.url, 'box-a');
  const ch = new Channel({ self: { vaddr: 'weft://box/box-a/inbox' }, write: (e: Envelope) => boxT.send(e), timeoutMs: 10_000 });
  boxT.onEnvelope((e) => ch.receive(e));
  try {
    const report = { boxId: 'box-a', profile: 'modern-4k', freeMemoryBytes: 200 << 20, appMemoryBytes: 256 << 20, cpuClass: 'high' as const, cpuLoad: 0, storageFreeBytes: 100 << 20, sandboxBytes: 0, twoWayUp: true, at: Date.now() };
    const reply = checkOpenReply(await ch.request({ vaddr: SESSIONS_VADDR }, { app: 'mix', version: '1.0.0', boxId: 'box-a', report }, { op: SessionOps.open }));
    t.is(reply.modules.find((m) => m.module === 'search')?.side, 'box', 'a 4K box runs the mutable module itself');
    // The client portion's own address, as the box's loader would use for its modules.
    const ui = new Channel({ self: { vaddr: `weft://mix/${reply.session}/ui` }, write: (e: Envelope) => boxT.send(e), timeoutMs: 10_000 });
    boxT.onEnvelope((e) => (e.dst.vaddr === ui.self.vaddr ? ui.receive(e) : ch.receive(e)));
    await ui.control({ vaddr: reply.dasp }, SessionOps.clientStarted, { session: reply.session, started: true });
    t.like(await ui.request({ vaddr: reply.dasp }, { q: 1 }), { n: 1, started: 1 });
    const code = (await ch.request({ vaddr: `weft://headend/${reply.node}/modules` }, { session: reply.session, module: 'search' }, { op: SessionOps.moduleGet })) as { code: Uint8Array };
    t.is(Buffer.from(code.code).toString(), Buffer.from(pub.sources.search as Uint8Array).toString());
    t.is(node.boxOf.get(`weft://mix/${reply.session}/search`), 'box-a');
  } finally {
    await boxT.close();
    await node.close();
    await registry.close();
    await broker.close();
  }
});

test('MQTT 3.1.1 with two nodes: every node hears every box, yet each session opens once and each request is served once', async (t) => {
  // The nodes beat every 1,000 ms (the default): at the helper's 200 ms a node stalled ~0.5 s under
  // test:stress was declared dead, its session re-placed and its copy stopped as lost with a request
  // inside (2 of 24 runs beside a 2-core hog; 0 of 24 at 1,000 ms). That is cluster-false-death's
  // subject, not this test's.
  const broker = await aedesBroker();
  const { pub, trusted } = await signedApp('mix', MIXED_APP);
  const registry = memoryRegistry();
  const n1 = await testNode({ id: 'node-1', registry, apps: [pub], trusted, boxIngress: 'broadcast', mqtt: { url: broker.url, password: secretOf('node-1') }, intervalMs: 1000 });
  const n2 = await testNode({ id: 'node-2', registry, apps: [pub], trusted, boxIngress: 'broadcast', mqtt: { url: broker.url, password: secretOf('node-2') }, intervalMs: 1000 });
  await n1.refreshPeers();
  await n2.refreshPeers();
  const boxT = await transport(broker.url, 'box-b');
  const ch = new Channel({ self: { vaddr: 'weft://box/box-b/inbox' }, write: (e: Envelope) => boxT.send(e), timeoutMs: 10_000 });
  boxT.onEnvelope((e) => ch.receive(e));
  try {
    const report = { boxId: 'box-b', profile: 'legacy-sd', freeMemoryBytes: 1 << 20, appMemoryBytes: 4 << 20, cpuClass: 'low' as const, cpuLoad: 0, storageFreeBytes: 0, sandboxBytes: 0, twoWayUp: true, at: Date.now() };
    const replies = [];
    for (let i = 0; i < 6; i++) replies.push(checkOpenReply(await ch.request({ vaddr: SESSIONS_VADDR }, { app: 'mix', version: '1.0.0', boxId: 'box-b', report }, { op: SessionOps.open })));
    t.is((await registry.listSessions({ app: 'mix' })).length, 6, 'one session per open, not one per node');
    for (const r of replies) t.like(await ch.request({ vaddr: r.dasp }, 'x'), { n: 1 });
    // Served twice would have counted twice: the second request must see n = 2.
    for (const r of replies) t.like(await ch.request({ vaddr: r.dasp }, 'y'), { n: 2 });
    t.true(n1.counters.notMine + n2.counters.notMine > 0, 'each node left the other one its messages');
  } finally {
    await boxT.close();
    await n1.close();
    await n2.close();
    await registry.close();
    await broker.close();
  }
});
