// Spawning on other servers [c25, c26, c30] with real nodes (worker threads, UDP, a registry): a
// shared portion whose lock is its limit saturates its node; the node starts a replica on the
// node the statistics pick and routes part of the requests there; clients keep one address.
import test from 'ava';
import { Channel, formatVaddr, type Envelope } from '../../runtime/index.ts';
import { createUdpTransport } from '../../transport/index.ts';
import type { HeadendNode } from '../../headend/node.ts';
import { signedApp, type ModuleSpec } from '../_helpers/apps.ts';
import { memoryRegistry, testNode } from '../_helpers/headend.ts';

// One holder at a time, 20 ms each: 50 requests/s per node whatever its threads.
const HOT: ModuleSpec[] = [
  { name: 'store', kind: 'server', critical: { guard: 'queue' }, source: `weft.on('request', (b) => new Promise((r) => weft.setTimeout(() => r({ ok: true }), b.hold)));` },
];

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a saturated node spawns a replica on the node the statistics pick and part of the requests are served there [c25, c26, c30]', async (t) => {
  const { pub, trusted } = await signedApp('hot', HOT);
  const registry = memoryRegistry();
  const scale = { hotHoldMs: 300, cooldownMs: 600, holdMs: 800, highUtil: 0.9, lowUtil: 0.5, waitTargetMs: 50 };
  const nodes: HeadendNode[] = [];
  // n3 can carry four times what n2 can: the statistics (capacity and load, every app's) pick it.
  const capacity: Record<string, number> = { n1: 2, n2: 1, n3: 4 };
  for (const id of ['n1', 'n2', 'n3']) nodes.push(await testNode({ id, registry, apps: [pub], trusted, intervalMs: 100, capacity: capacity[id], replicas: { scale } }));
  for (const n of nodes) await n.refreshPeers();
  const [n1] = nodes as [HeadendNode];
  const boxT = await createUdpTransport({ host: '127.0.0.1', port: 0 });
  const box = new Channel({ self: { vaddr: 'weft://box/b/inbox', udp: boxT.address.udp as { host: string; port: number } }, write: (e: Envelope) => boxT.send(e), timeoutMs: 20_000 });
  // Who answered: the reply's source carries the serving node's UDP pair.
  const servedBy = new Map<string, number>();
  let onServed: (() => void) | undefined;
  const nodeOfPort = (port: number | undefined) => nodes.find((n) => n.udpAddress.port === port)?.id ?? 'other';
  boxT.onEnvelope((e) => {
    if (e.kind === 'rep') servedBy.set(nodeOfPort(e.src.udp?.port), (servedBy.get(nodeOfPort(e.src.udp?.port)) ?? 0) + 1);
    box.receive(e);
    onServed?.();
  });
  const store = formatVaddr({ app: 'hot', session: '*', module: 'store' });
  try {
    await until(() => nodes.every((n) => n.statistics.clusterView().nodes.length === 3), 5000, 'cluster views');
    const started = await n1.startPortion('hot', '*', ['store']);
    if (!started.ok) return t.fail(started.error.message);
    // Twelve clients in a closed loop, all to the one virtual address at n1 [c26].
    let running = true;
    const clients = Array.from({ length: 12 }, async () => {
      while (running) await box.request({ vaddr: store, udp: n1.udpAddress }, { hold: 20 });
    });
    await until(() => (n1.replicas.spread(store)?.state.nodes.length ?? 1) >= 2, 15_000, 'a replica');
    const replicaNode = n1.replicas.spread(store)?.state.nodes[1] as string;
    t.is(replicaNode, 'n3');
    // The replica is in the registry at its own instance address; the portion's address still names n1.
    t.is((await registry.lookup(`${store}/2`))?.node, replicaNode);
    t.is((await registry.lookup(store))?.node, 'n1');
    const before = new Map(servedBy);
    // Until both have served ten more (counted as replies arrive), not for a fixed time.
    const since = (node: string): number => (servedBy.get(node) ?? 0) - (before.get(node) ?? 0);
    await new Promise<void>((resolve) => (onServed = () => since(replicaNode) >= 10 && since('n1') >= 10 && resolve()));
    onServed = undefined;
    running = false;
    await Promise.all(clients);
    const there = (servedBy.get(replicaNode) ?? 0) - (before.get(replicaNode) ?? 0);
    const here = (servedBy.get('n1') ?? 0) - (before.get('n1') ?? 0);
    t.log(`served after the spawn: n1 ${here}, ${replicaNode} ${there}; all: ${JSON.stringify([...servedBy])}; ${n1.replicas.spread(store)?.last}`);
    t.true(there >= 10, `${replicaNode} served ${there}`);
    t.true(here >= 10, `n1 served ${here}`);
    t.is(servedBy.get('other'), undefined);
    // Calm again: the replicas retire after the hold time and their instance addresses go.
    await until(() => n1.replicas.spread(store)?.state.nodes.length === 1, 15_000, 'replicas retired');
    await until(() => nodes.slice(1).every((n) => n.elastic.groups().length === 0), 5000, 'replica portions stopped');
    let gone = false;
    for (let i = 0; i < 100 && !gone; i++) gone = (await registry.lookup(`${store}/2`)) === undefined || (await new Promise((r) => setTimeout(r, 20, false)));
    t.true(gone, 'the instance address is unbound');
    t.like(await box.request({ vaddr: store, udp: n1.udpAddress }, { hold: 1 }), { ok: true });
  } finally {
    await boxT.close();
    for (const n of nodes) await n.close();
    await registry.close();
  }
});
