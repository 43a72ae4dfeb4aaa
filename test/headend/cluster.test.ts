import test from 'ava';
import { Channel, SESSIONS_VADDR, SessionOps, checkOpenReply, type Envelope, type ResourceReport } from '../../runtime/index.ts';
import { createUdpTransport } from '../../transport/index.ts';
import { MIXED_APP, signedApp } from '../_helpers/apps.ts';
import { memoryRegistry, testNode } from '../_helpers/headend.ts';
import type { HeadendNode } from '../../headend/node.ts';

const report = (boxId: string): ResourceReport => ({ boxId, profile: 'legacy-sd', freeMemoryBytes: 1 << 20, appMemoryBytes: 4 << 20, cpuClass: 'low', cpuLoad: 0, storageFreeBytes: 0, sandboxBytes: 0, twoWayUp: true, at: Date.now() });

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('three nodes: sessions spread by the balancer, portions started remotely, requests forwarded over UDP [c13, c15, c17, c41, c43]', async (t) => {
  const { pub, trusted } = await signedApp('mix', MIXED_APP);
  const registry = memoryRegistry();
  const nodes: HeadendNode[] = [];
  for (const id of ['n1', 'n2', 'n3']) nodes.push(await testNode({ id, registry, apps: [pub], trusted, intervalMs: 100 }));
  for (const n of nodes) await n.refreshPeers();
  const [n1] = nodes as [HeadendNode];
  const boxT = await createUdpTransport({ host: '127.0.0.1', port: 0 });
  const box = new Channel({ self: { vaddr: 'weft://box/b/inbox', udp: boxT.address.udp as { host: string; port: number } }, write: (e: Envelope) => boxT.send(e), timeoutMs: 15_000 });
  boxT.onEnvelope((e) => box.receive(e));
  try {
    // Every node sees the other two in its statistics before placing.
    await until(() => nodes.every((n) => n.statistics.clusterView().nodes.length === 3), 5000, 'cluster views');
    const sessions = [];
    for (let i = 0; i < 12; i++) {
      // All boxes enter through n1; the balancer places them across the cluster.
      sessions.push(checkOpenReply(await box.request({ vaddr: SESSIONS_VADDR, udp: n1.udpAddress }, { app: 'mix', version: '1.0.0', boxId: `b${i}`, report: report(`b${i}`) }, { op: SessionOps.open })));
    }
    const byNode = new Map<string, number>();
    for (const s of sessions) byNode.set(s.node, (byNode.get(s.node) ?? 0) + 1);
    t.true(byNode.size >= 2, `placed on ${[...byNode.keys()].join(', ')}`);
    // A request sent to n1 for a portion on another node is forwarded there by its virtual address.
    for (const s of sessions) {
      const r = (await box.request({ vaddr: s.dasp, udp: n1.udpAddress }, { s: s.session })) as { echo: { s: string } };
      t.is(r.echo.s, s.session);
      const rec = await registry.lookup(s.dasp);
      t.is(rec?.node, s.node);
    }
    t.true(n1.counters.forwarded > 0);
    // DASP-to-DASP [c17]: the peer module of one session calls the guide service on its own node.
    const remote = sessions.find((s) => s.node !== 'n1');
    if (remote !== undefined) {
      const hits = await box.request({ vaddr: remote.dasp.replace('/counter', '/epg'), udp: n1.udpAddress }, { q: 'news' });
      t.true(Array.isArray(hits));
    }
  } finally {
    await boxT.close();
    for (const n of nodes) await n.close();
    await registry.close();
  }
});

test('a dead node is detected within 3 heartbeat intervals and its sessions are re-placed on live nodes [c16]', async (t) => {
  const { pub, trusted } = await signedApp('mix', MIXED_APP);
  const registry = memoryRegistry();
  const interval = 150;
  const nodes: HeadendNode[] = [];
  for (const id of ['n1', 'n2', 'n3']) nodes.push(await testNode({ id, registry, apps: [pub], trusted, intervalMs: interval }));
  for (const n of nodes) await n.refreshPeers();
  const [n1, n2, n3] = nodes as [HeadendNode, HeadendNode, HeadendNode];
  const boxT = await createUdpTransport({ host: '127.0.0.1', port: 0 });
  const box = new Channel({ self: { vaddr: 'weft://box/b/inbox', udp: boxT.address.udp as { host: string; port: number } }, write: (e: Envelope) => boxT.send(e), timeoutMs: 15_000 });
  boxT.onEnvelope((e) => box.receive(e));
  try {
    await until(() => nodes.every((n) => n.statistics.clusterView().nodes.length === 3), 5000, 'cluster views');
    // Open sessions on n2 directly (its own ingress), so they live there.
    const onN2 = [];
    for (let i = 0; i < 30 && onN2.length < 2; i++) {
      const r = checkOpenReply(await box.request({ vaddr: 'weft://headend/n2/sessions', udp: n2.udpAddress }, { app: 'mix', version: '1.0.0', boxId: `d${i}`, report: report(`d${i}`) }, { op: SessionOps.open }));
      if (r.node === 'n2') onN2.push(r);
    }
    t.true(onN2.length > 0, 'some sessions landed on n2');
    // n2 dies without a word: its statistics and heartbeats stop, its socket goes.
    n2.statistics.stop();
    n2.timing.stop();
    const died = Date.now();
    await until(() => n1.timing.isAlive('n2') === false && n3.timing.isAlive('n2') === false, 10 * interval, 'death of n2');
    t.true(Date.now() - died <= 3 * interval + 100, `detected after ${Date.now() - died} ms`);
    await n2.close();
    // The survivors re-placed what ran there; the registry points the vaddrs at a live node.
    for (const s of onN2) {
      await until(() => n1.table.hosted.has(s.dasp) || n3.table.hosted.has(s.dasp), 5000, `re-placement of ${s.session}`);
      const rec = await registry.lookup(s.dasp);
      t.not(rec?.node, 'n2');
      const r = (await box.request({ vaddr: s.dasp, udp: n1.udpAddress }, { after: 'failover' })) as { echo: unknown };
      t.deepEqual(r.echo, { after: 'failover' });
    }
  } finally {
    await boxT.close();
    for (const n of [n1, n3]) await n.close();
    await registry.close();
  }
});
