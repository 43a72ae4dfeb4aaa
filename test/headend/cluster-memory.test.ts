// The deterministic head-end tier [c16]: three nodes on an in-memory network, one manual clock,
// seeded balancers, an in-thread portion host. Time moves only when the test advances it, so
// detection is measured in heartbeats, not milliseconds (moved from cluster.test.ts, where it
// asserted wall-clock ms and an unseeded balancer: issue 14 finding 3).
import test from 'ava';
import { ManualClock, SessionOps, checkOpenReply, type OpenReply } from '../../runtime/index.ts';
import { MIXED_APP, signedApp } from '../_helpers/apps.ts';
import { memoryNode, memoryRegistry, type MemoryNode } from '../_helpers/headend.ts';
import { MemoryNet } from '../_helpers/memory-net.ts';
import { lowEndReport as report, here, memoryBox, clockStepper } from '../_helpers/memory-tier.ts';

const INTERVAL = 1000;

async function cluster() {
  const { pub, trusted } = await signedApp('mix', MIXED_APP);
  const clock = new ManualClock();
  const net = new MemoryNet();
  const registry = memoryRegistry(clock);
  const nodes: MemoryNode[] = [];
  for (const id of ['n1', 'n2', 'n3']) nodes.push(await memoryNode({ id, net, clock, registry, apps: [pub], trusted, intervalMs: INTERVAL, ...(id === 'n2' ? { policy: here('n2') } : {}) }));
  for (const n of nodes) await n.refreshPeers();
  const { box, transport: boxT } = memoryBox(net, clock);
  const advance = clockStepper(clock, INTERVAL);
  const close = async (): Promise<void> => {
    for (const n of nodes) await n.close();
    await boxT.close();
    await registry.close();
  };
  return { clock, net, registry, nodes: nodes as [MemoryNode, MemoryNode, MemoryNode], box, advance, close };
}

test('a dead node is declared within 3 of its peers\' heartbeats, and its sessions are re-placed on live nodes [c16]', async (t) => {
  const c = await cluster();
  const [n1, n2, n3] = c.nodes;
  try {
    await c.advance(2 * INTERVAL);
    t.true(c.nodes.every((n) => n.statistics.clusterView().nodes.length === 3), 'every node sees all three');
    const onN2: OpenReply[] = [];
    for (let i = 0; i < 3; i++) {
      onN2.push(checkOpenReply(await c.box.request({ vaddr: 'weft://headend/n2/sessions', udp: n2.udpAddress }, { app: 'mix', version: '1.0.0', boxId: `d${i}`, report: report(`d${i}`) }, { op: SessionOps.open })));
    }
    t.deepEqual(onN2.map((s) => s.node), ['n2', 'n2', 'n2']);
    t.is(n2.sessions.count, 3);
    // n2 dies without a word right after a beat: nothing in or out from now on.
    c.net.cut(n2.udpAddress);
    n2.statistics.stop();
    n2.timing.stop();
    // Each beat of n1 goes to its two peers: count beats, not milliseconds.
    const beats = (): number => c.net.sentBy(n1.udpAddress, 'timing.beat') / 2;
    const before = beats();
    let peerBeats = 0;
    while (n1.timing.isAlive('n2') !== false || n3.timing.isAlive('n2') !== false) {
      await c.advance(INTERVAL / 4);
      peerBeats = beats() - before;
      if (peerBeats > 5) break;
    }
    t.true(peerBeats >= 2 && peerBeats <= 3, `declared dead after ${peerBeats} heartbeats of n1`);
    t.is(n1.timing.isAlive('n2'), false);
    t.is(n3.timing.isAlive('n2'), false);
    // The survivors re-placed what ran there; the registry points the vaddrs at a live node.
    await c.advance(INTERVAL);
    for (const s of onN2) {
      const rec = await c.registry.lookup(s.dasp);
      t.true(rec !== undefined && rec.node !== 'n2', `${s.dasp} on ${rec?.node}`);
      const r = (await c.box.request({ vaddr: s.dasp, udp: n1.udpAddress }, { after: 'failover' })) as { echo: unknown };
      t.deepEqual(r.echo, { after: 'failover' });
    }
    t.is(n1.sessions.counters.replaced, 3, 'one survivor (the lowest id) re-placed them');
    t.is(n3.sessions.counters.replaced, 0);
    const running = [n1, n3].flatMap((n) => [...n.pool.instances.values()].filter((p) => p.session !== '*').map((p) => p.session));
    t.deepEqual(running.sort(), onN2.map((s) => s.session).sort(), 'exactly one instance per session');
  } finally {
    await c.close();
  }
});

test('three nodes, every session entering at n1: the seeded balancer spreads them by hosted load, portions start remotely, requests are forwarded [c13, c15, c41, c43]', async (t) => {
  const c = await cluster();
  const [n1, n2, n3] = c.nodes;
  try {
    await c.advance(2 * INTERVAL);
    const sessions: OpenReply[] = [];
    for (let i = 0; i < 24; i++) {
      sessions.push(checkOpenReply(await c.box.request({ vaddr: 'weft://headend/n1/sessions', udp: n1.udpAddress }, { app: 'mix', version: '1.0.0', boxId: `b${i}`, report: report(`b${i}`) }, { op: SessionOps.open })));
      if (i % 4 === 3) await c.advance(INTERVAL); // reports flow between bursts
    }
    const hosted = [n1, n2, n3].map((n) => n.sessions.count);
    t.is(hosted.reduce((a, b) => a + b, 0), 24, `hosted ${hosted.join('/')}`);
    // Each node hosts what it was given, and the reports say so: the ingress is not the load.
    for (const n of [n1, n2, n3]) t.is(n.sessions.count, sessions.filter((s) => s.node === n.id).length);
    t.true(Math.max(...hosted) - Math.min(...hosted) <= 4, `spread ${hosted.join('/')}`);
    for (const s of sessions) {
      const r = (await c.box.request({ vaddr: s.dasp, udp: n1.udpAddress }, { s: s.session })) as { echo: { s: string } };
      t.is(r.echo.s, s.session);
      t.is((await c.registry.lookup(s.dasp))?.node, s.node);
    }
    t.true(n1.counters.forwarded > 0);
  } finally {
    await c.close();
  }
});

test('a moved portion takes its session with it: the new host records it, the old one forgets it, one instance [c31, c32]', async (t) => {
  const c = await cluster();
  const [, n2, n3] = c.nodes;
  try {
    await c.advance(2 * INTERVAL);
    const s = checkOpenReply(await c.box.request({ vaddr: 'weft://headend/n2/sessions', udp: n2.udpAddress }, { app: 'mix', version: '1.0.0', boxId: 'm1', report: report('m1') }, { op: SessionOps.open }));
    t.is(s.node, 'n2');
    await c.box.request({ vaddr: s.dasp, udp: n2.udpAddress }, { k: 1 });
    const iid = n2.table.hosted.get(s.dasp)?.iids[0] as string;
    const moved = await n2.movePortion(iid, 'n3');
    t.deepEqual(moved, { ok: true, value: 'n3' });
    t.is((await c.registry.lookup(s.dasp))?.node, 'n3');
    t.deepEqual([n2.sessions.count, n3.sessions.count], [0, 1]);
    t.is(n3.sessions.boxOfSession('mix', s.session), 'm1');
    const r = (await c.box.request({ vaddr: s.dasp, udp: n2.udpAddress }, { k: 2 })) as { n: number };
    t.is(r.n, 2, 'the state moved with it');
    const running = c.nodes.flatMap((n) => [...n.pool.instances.values()].filter((p) => p.session === s.session).map(() => n.id));
    t.deepEqual(running, ['n3']);
  } finally {
    await c.close();
  }
});
