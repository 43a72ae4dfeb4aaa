// Redis Cluster replicates asynchronously: a claim its master acknowledged can vanish when that
// master dies, and another node can then claim the same portion. The guarantee Weft gives
// (docs/REGISTRY.md "Redis Cluster"): after the failover settles, every portion has exactly one
// owner, the one the record names, and only that node believes it runs it (ClaimKeeper).
import test from 'ava';
import { ClaimKeeper } from '../../headend/registry/claims.ts';
import { RedisClusterRegistry } from '../../headend/registry/registry-redis-cluster.ts';
import { until } from '../_helpers/mqtt-fixtures.ts';
import { failoverCluster } from '../_helpers/redis-cluster.ts';
import { slotOf } from '../_helpers/redis-slot.ts';
import { shuffled } from '../_helpers/shuffle.ts';

const N = 240;

test('redis-cluster: a master killed during a claim storm of two nodes leaves every portion with exactly one owner that believes it', async (t) => {
  const cluster = await failoverCluster(t, 'the Redis Cluster failover test');
  if (cluster === undefined) return;
  const opened: RedisClusterRegistry[] = [];
  try {
    const nodes = ['node-a', 'node-b'] as const;
    const regs = await Promise.all(nodes.map(async () => {
      const r = await RedisClusterRegistry.open({ url: cluster.url, prefix: 'storm:' });
      opened.push(r);
      return r;
    }));
    // What each node runs: a copy starts when its claim is taken, stops when the keeper says lost.
    const running = nodes.map(() => new Set<string>());
    const keepers = regs.map((registry, i) => new ClaimKeeper({ registry, onLost: (v) => running[i]?.delete(v) }));
    const vaddrs = Array.from({ length: N }, (_, i) => `weft://guide/s${i}/main`);
    const victim = 's7'; // the master serving this session's slot dies mid-storm
    let done = 0;
    let killing: ReturnType<typeof cluster.killMasterOf> | undefined;
    const storm = async (k: number): Promise<void> => {
      const order = shuffled(vaddrs, 17 + k);
      const lanes = Array.from({ length: 8 }, async (_, lane) => {
        for (let j = lane; j < order.length; j += 8) {
          const v = order[j] as string;
          const got = await keepers[k]?.claim(v, { node: nodes[k] as string, queue: `${nodes[k] as string}.${v.split('/')[3] as string}` });
          if (got?.ok === true) running[k]?.add(v);
          if (++done === N / 2) killing = cluster.killMasterOf(slotOf(victim));
        }
      });
      await Promise.all(lanes);
    };
    await Promise.all([storm(0), storm(1)]);
    if (killing === undefined) throw new Error('the kill never started');
    const { killed, promoted } = await killing;
    t.log(`killed the master on port ${killed.port}; its replica on ${promoted.port} took over`);
    // Both registries learn of the failover (a node left the topology, or their subscriber's node
    // died) and every keeper reads its claims again.
    await until(() => regs.every((r) => r.stats.resets > 0), 30_000, 'a reset on both registries');
    for (let round = 0; round < 3; round++) await Promise.all(keepers.map((k) => k.settled()));

    let unowned = 0;
    for (const v of vaddrs) {
      const rec = await regs[0]?.lookup(v);
      const believers = nodes.filter((_, i) => running[i]?.has(v));
      if (rec === undefined) unowned++;
      t.is(believers.length, 1, `${v}: believed by ${believers.join(', ') || 'nobody'}`);
      t.is(rec?.node, believers[0], `${v}: the record names the node that runs it`);
    }
    t.is(unowned, 0);
    t.deepEqual(keepers.map((k) => k.held().length).reduce((a, b) => a + b, 0), N);
    t.log('keepers', JSON.stringify(keepers.map((k) => k.stats)), 'registries', JSON.stringify(regs.map((r) => r.stats)));
    for (const k of keepers) k.close();
  } finally {
    for (const r of opened) await r.close();
    await cluster.stop();
  }
});

test('redis-cluster: claims acknowledged only by a master that then dies vanish; each is found, and no epoch repeats', async (t) => {
  const cluster = await failoverCluster(t, 'the Redis Cluster failover test');
  if (cluster === undefined) return;
  const opened: RedisClusterRegistry[] = [];
  try {
    const a = await RedisClusterRegistry.open({ url: cluster.url, prefix: 'lost:', waitTimeoutMs: 20 });
    opened.push(a);
    const b = await RedisClusterRegistry.open({ url: cluster.url, prefix: 'lost:' });
    opened.push(b);
    const runsA = new Set<string>();
    const runsB = new Set<string>();
    const ka = new ClaimKeeper({ registry: a, onLost: (v) => runsA.delete(v) });
    const kb = new ClaimKeeper({ registry: b, onLost: (v) => runsB.delete(v) });
    // Sessions whose keys live on the victim's shard.
    const slot = slotOf('s7');
    const victim = await cluster.masterOf(slot);
    const sessions: string[] = [];
    for (let i = 0; sessions.length < 12 && i < 400; i++) if ((await cluster.masterOf(slotOf(`s${i}`))) === victim) sessions.push(`s${i}`);
    const vaddrs = sessions.map((s) => `weft://guide/${s}/main`);
    const heardByB = new Set<string>();
    b.watch((c) => void (c.kind === 'location' && heardByB.add(c.vaddr)));

    const resume = await cluster.detachReplicaOf(slot);
    for (const v of vaddrs) {
      const got = await ka.claim(v, { node: 'node-a', queue: `a.${v}` });
      t.true(got.ok && got.value.epoch === 1, v);
      runsA.add(v);
    }
    t.is(a.stats.waitShort, vaddrs.length, 'every claim was answered without a replica, and counted');
    await until(() => heardByB.size === vaddrs.length, 10_000, 'node-b hearing the claims');
    await cluster.killMasterOf(slot, resume);

    // node-b claims the same portions while node-a's keeper finds its claims gone.
    for (const v of vaddrs) if ((await kb.claim(v, { node: 'node-b', queue: `b.${v}` })).ok) runsB.add(v);
    await until(() => a.stats.resets > 0 && b.stats.resets > 0, 30_000, 'a reset on both registries');
    for (let round = 0; round < 3; round++) await Promise.all([ka.settled(), kb.settled()]);

    for (const v of vaddrs) {
      const rec = await b.lookup(v);
      const believers = [runsA.has(v) ? 'node-a' : undefined, runsB.has(v) ? 'node-b' : undefined].filter((x) => x !== undefined);
      t.deepEqual(believers, [rec?.node], `${v}: one believer, the one the record names`);
      t.true((rec?.epoch ?? 0) >= 2, `${v}: epoch ${String(rec?.epoch)} does not repeat the lost claim's epoch 1`);
    }
    t.is(ka.stats.rebound + ka.stats.lost, vaddrs.length, 'every vanished claim was found: bound again or lost to node-b');
    t.log('node-a', JSON.stringify(ka.stats), 'node-b', JSON.stringify(kb.stats));
    ka.close();
    kb.close();
  } finally {
    for (const r of opened) await r.close();
    await cluster.stop();
  }
});
