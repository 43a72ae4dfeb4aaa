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
