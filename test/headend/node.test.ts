import test from 'ava';
import { Channel, SESSIONS_VADDR, SessionOps, checkOpenReply, type Envelope, type ResourceReport } from '../../runtime/index.ts';
import { createUdpTransport } from '../../transport/index.ts';
import { MIXED_APP, signedApp } from '../_helpers/apps.ts';
import { memoryRegistry, testNode } from '../_helpers/headend.ts';

function report(boxId: string, freeMemoryBytes: number): ResourceReport {
  return { boxId, profile: 'hd-dvr', freeMemoryBytes, appMemoryBytes: 32 << 20, cpuClass: 'mid', cpuLoad: 0.1, storageFreeBytes: 1 << 20, sandboxBytes: 0, twoWayUp: true, at: Date.now() };
}

// A box stand-in speaking UDP to the node (boxes use MQTT; the node routes both the same way).
async function boxClient(nodeUdp: { host: string; port: number }) {
  const t = await createUdpTransport({ host: '127.0.0.1', port: 0 });
  const ch = new Channel({ self: { vaddr: 'weft://box/b1/inbox', udp: t.address.udp as { host: string; port: number } }, write: (e: Envelope) => t.send(e), timeoutMs: 10_000 });
  t.onEnvelope((e) => ch.receive(e));
  const at = (vaddr: string) => ({ vaddr, udp: nodeUdp });
  return { t, ch, at };
}

test('session setup end to end on one node: portion in a worker thread, peer service call, shared session id [c26, c41-c45]', async (t) => {
  const { pub, trusted } = await signedApp('mix', MIXED_APP);
  const registry = memoryRegistry();
  const node = await testNode({ id: 'n1', registry, apps: [pub], trusted });
  const box = await boxClient(node.udpAddress);
  try {
    // A box with little memory: the mutable search stays on the head-end [c5].
    const reply = checkOpenReply(await box.ch.request(box.at(SESSIONS_VADDR), { app: 'mix', version: '1.0.0', boxId: 'b1', report: report('b1', 1 << 20) }, { op: SessionOps.open }));
    t.is(reply.node, 'n1');
    t.is(reply.dasp, `weft://mix/${reply.session}/counter`);
    const side = Object.fromEntries(reply.modules.map((m) => [m.module, m.side]));
    t.deepEqual(side, { ui: 'box', counter: 'headend', epg: 'headend', search: 'headend' });
    t.deepEqual(reply.download, []);
    // The registry knows where each head-end module lives [c31, c32].
    const rec = await registry.lookup(`weft://mix/${reply.session}/counter`);
    t.is(rec?.node, 'n1');
    t.truthy(rec?.queue);
    // client-started [c42] is acknowledged end to end by the server portion's channel.
    await box.ch.control(box.at(reply.dasp), SessionOps.clientStarted, { session: reply.session, started: true });
    t.like(await box.ch.request(box.at(reply.dasp), { hello: 1 }), { n: 1, echo: { hello: 1 }, started: 1 });
    t.like(await box.ch.request(box.at(reply.dasp), null), { n: 2 });
    // The peer module reaches the head-end guide service through weft.services [c34-c36].
    const hits = (await box.ch.request(box.at(`weft://mix/${reply.session}/epg`), { q: 'news' })) as unknown[];
    t.true(Array.isArray(hits) && hits.length <= 2);
    // The mutable module answers from the head-end while the box lacks memory.
    t.like(await box.ch.request(box.at(`weft://mix/${reply.session}/search`), { q: 'film' }), { count: 1 });
    t.is(node.counters.clientStarted, 1);
    // The box closes the session: its portion stops, its addresses and record go.
    t.deepEqual(await box.ch.request(box.at(SESSIONS_VADDR), { session: reply.session }, { op: SessionOps.close }), { closed: true });
    t.false(node.table.hosted.has(reply.dasp));
    t.is(await registry.lookup(reply.dasp), undefined);
    t.is(await registry.getSession(reply.session), undefined);
    await t.throwsAsync(box.ch.request(box.at(reply.dasp), null, { timeoutMs: 3000 }));
  } finally {
    await box.t.close();
    await node.close();
    await registry.close();
  }
});

test('a box with room gets the mutable module placed on it and downloads it from the chosen node [c5, c18, c37, c41]', async (t) => {
  const { pub, trusted } = await signedApp('mix', MIXED_APP);
  const registry = memoryRegistry();
  const node = await testNode({ id: 'n1', registry, apps: [pub], trusted });
  const box = await boxClient(node.udpAddress);
  try {
    const reply = checkOpenReply(await box.ch.request(box.at(SESSIONS_VADDR), { app: 'mix', version: '1.0.0', boxId: 'b1', report: report('b1', 64 << 20) }, { op: SessionOps.open }));
    t.is(reply.modules.find((m) => m.module === 'search')?.side, 'box');
    t.deepEqual(reply.download, ['search'], 'not in the boot tier, so fetched from the node');
    const got = (await box.ch.request(box.at(node.vaddr('modules')), { session: reply.session, module: 'search' }, { op: SessionOps.moduleGet })) as { code: Uint8Array; sha256: string };
    t.deepEqual(Buffer.from(got.code), Buffer.from(pub.sources.search as Uint8Array));
    t.is(got.sha256, pub.manifest.modules.find((m) => m.name === 'search')?.sha256 ?? 'missing');
    // Server and peer modules never leave the head-end [c6].
    await t.throwsAsync(box.ch.request(box.at(node.vaddr('modules')), { session: reply.session, module: 'epg' }, { op: SessionOps.moduleGet }), { message: /head-end only/ });
    // The session record says where every module runs; a module on the box is found through it.
    const rec = await registry.getSession(reply.session);
    t.is(rec?.box, 'b1');
    t.is(rec?.placements.search, 'box');
    t.is(await registry.lookup(`weft://mix/${reply.session}/search`), undefined, 'no location record for a box module');
  } finally {
    await box.t.close();
    await node.close();
    await registry.close();
  }
});
