// Two head-end nodes on a three-master Redis Cluster (Debian's redis-server, started here), each
// with its own connection as two processes would have, both starting the same sessions' portions
// while a master is SIGKILLed (issue 19 build 7). Afterwards every portion runs on exactly one
// node, the one its records name: a copy whose claim vanished with the master and was made again
// by the other node was stopped by its node's keeper (headend/portions/portion-claims.ts).
import test, { type ExecutionContext } from 'ava';
import { ManualClock, formatVaddr } from '../../runtime/index.ts';
import { RedisClusterRegistry } from '../../headend/registry/registry-redis-cluster.ts';
import { MIXED_APP, signedApp } from '../_helpers/apps.ts';
import { memoryNode, type MemoryNode } from '../_helpers/headend.ts';
import { lossyRegistry, type LossyRegistry } from '../_helpers/lossy-registry.ts';
import { MemoryNet } from '../_helpers/memory-net.ts';
import { until } from '../_helpers/mqtt-fixtures.ts';
import { failoverCluster, type RedisCluster } from '../_helpers/redis-cluster.ts';
import { slotOf } from '../_helpers/redis-slot.ts';
import { shuffled } from '../_helpers/shuffle.ts';

const MODULES = ['counter', 'epg'];
const N = 120;

interface Rig {
  cluster: RedisCluster;
  regs: RedisClusterRegistry[];
  nodes: [MemoryNode, MemoryNode];
  /** n1's view of its registry, whose change feed the test can hold back. */
  n1view: LossyRegistry;
  logs: string[];
  close(): Promise<void>;
}

async function rig(t: ExecutionContext, prefix: string, waitTimeoutMs?: number): Promise<Rig | undefined> {
  const cluster = await failoverCluster(t, 'the Redis Cluster head-end failover test');
  if (cluster === undefined) return undefined;
  const regs: RedisClusterRegistry[] = [];
  const nodes: MemoryNode[] = [];
  const logs: string[] = [];
  let n1view: LossyRegistry | undefined;
  const close = async (): Promise<void> => {
    for (const n of nodes) await n.close().catch(() => undefined);
    for (const r of regs) await r.close().catch(() => undefined);
    await cluster.stop();
  };
  try {
    const { pub, trusted } = await signedApp('mix', MIXED_APP);
    const clock = new ManualClock();
    const net = new MemoryNet();
    for (const id of ['n1', 'n2']) {
      // n1 may be told not to wait long for its replica (so a claim can be acknowledged by the master alone).
      const registry = await RedisClusterRegistry.open({ url: cluster.url, prefix, ...(id === 'n1' && waitTimeoutMs !== undefined ? { waitTimeoutMs } : {}) });
      regs.push(registry);
      const view = id === 'n1' ? (n1view = lossyRegistry(registry)) : registry;
      nodes.push(await memoryNode({ id, net, clock, registry: view, apps: [pub], trusted, log: (l) => logs.push(`${id} ${l}`) }));
    }
    return { cluster, regs, nodes: nodes as [MemoryNode, MemoryNode], n1view: n1view as LossyRegistry, logs, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** Wait until both registries heard of the failover and every keeper read again and stopped what it lost. */
async function settleAfterFailover(r: Rig): Promise<void> {
  await until(() => r.regs.every((x) => x.stats.resets > 0), 30_000, 'a reset on both registries');
  for (let round = 0; round < 3; round++) await Promise.all(r.nodes.map((n) => n.claims.settled()));
}

/** Per session: the nodes running a copy, and the node each module's record names. */
async function owners(r: Rig, sessions: string[]): Promise<{ session: string; copies: string[]; records: (string | undefined)[] }[]> {
  const out = [];
  for (const session of sessions) {
    const copies = r.nodes.filter((n) => [...n.pool.instances.values()].some((p) => p.session === session)).map((n) => n.id);
    const records = await Promise.all(MODULES.map(async (module) => (await r.regs[1]?.lookup(formatVaddr({ app: 'mix', session, module })))?.node));
    out.push({ session, copies, records });
  }
  return out;
}

test('redis-cluster, two head-end nodes: a master killed during a portion claim storm leaves every portion running on exactly one node, the one its records name', async (t) => {
  const r = await rig(t, 'nodes:');
  if (r === undefined) return;
  try {
    const sessions = Array.from({ length: N }, (_, i) => `s${i}`);
    const victim = 's7'; // the master serving this session's slot dies mid-storm
    let done = 0;
    let failed = 0;
    let killing: ReturnType<RedisCluster['killMasterOf']> | undefined;
    // Both nodes start every session's portion (a retried portion.start, a survivor re-placing):
    // the claims decide, 8 starts in flight on each node.
    const storm = async (k: number): Promise<void> => {
      const node = r.nodes[k] as MemoryNode;
      const order = shuffled(sessions, 29 + k);
      await Promise.all(Array.from({ length: 8 }, async (_, lane) => {
        for (let j = lane; j < order.length; j += 8) {
          await node.startPortion('mix', order[j] as string, MODULES).catch(() => void failed++);
          if (++done === N) killing = r.cluster.killMasterOf(slotOf(victim));
        }
      }));
    };
    await Promise.all([storm(0), storm(1)]);
    if (killing === undefined) throw new Error('the kill never started');
    const { killed, promoted } = await killing;
    t.log(`killed the master on port ${killed.port}; its replica on ${promoted.port} took over; ${failed} starts failed`);
    await settleAfterFailover(r);
    const all = await owners(r, sessions);
    for (const o of all) {
      t.is(o.copies.length, 1, `${o.session}: copies on ${o.copies.join(', ') || 'no node'}`);
      t.deepEqual(o.records, MODULES.map(() => o.copies[0]), `${o.session}: its records name the node that runs it`);
    }
    t.log('claims', JSON.stringify(r.nodes.map((n) => n.claims.stats)), 'registries', JSON.stringify(r.regs.map((x) => x.stats)));
  } finally {
    await r.close();
  }
});

test('redis-cluster, two head-end nodes: portions whose claims only a dying master had are started by the other node; the first node stops its copies', async (t) => {
  const r = await rig(t, 'lostnodes:', 20);
  if (r === undefined) return;
  const [n1, n2] = r.nodes;
  try {
    // Sessions whose keys live on the victim's shard.
    const slot = slotOf('s7');
    const victim = await r.cluster.masterOf(slot);
    const sessions: string[] = [];
    for (let i = 0; sessions.length < 8 && i < 400; i++) if ((await r.cluster.masterOf(slotOf(`s${i}`))) === victim) sessions.push(`s${i}`);
    const resume = await r.cluster.detachReplicaOf(slot);
    for (const s of sessions) t.true((await n1.startPortion('mix', s, MODULES)).ok, s);
    t.true((r.regs[0]?.stats.waitShort ?? 0) >= sessions.length, 'n1\'s claims were answered by the master alone, and counted');
    // n1's subscriber is away through the failover (its node may be the one that dies), so n2
    // claims first; then n1 hears the reset its registry sends.
    r.n1view.feedDown();
    await r.cluster.killMasterOf(slot, resume);
    // The claims vanished with the master: n2 starts the same portions and nothing refuses it.
    for (const s of sessions) t.true((await n2.startPortion('mix', s, MODULES)).ok, `n2 ${s}`);
    r.n1view.failover();
    await settleAfterFailover(r);
    for (const o of await owners(r, sessions)) {
      t.deepEqual(o.copies, ['n2'], `${o.session}: one copy, n2's`);
      t.deepEqual(o.records, MODULES.map(() => 'n2'), o.session);
    }
    t.is(n1.claims.stats.copiesStopped, sessions.length, 'n1 stopped each copy it had lost');
    // Each because it read n2's record (its client followed the slot to the promoted replica), not
    // because it could not read at all.
    const stops = r.logs.filter((l) => l.startsWith('n1 ') && l.includes('the copy here is stopped'));
    t.is(stops.length, sessions.length);
    t.true(stops.every((l) => l.includes('names n2')), stops.join('\n'));
    t.is(n1.claims.stats.stopErrors, 0);
    t.is(n1.sessions.count, 0);
    t.log('n1', JSON.stringify(n1.claims.stats), 'n2', JSON.stringify(n2.claims.stats));
  } finally {
    await r.close();
  }
});
