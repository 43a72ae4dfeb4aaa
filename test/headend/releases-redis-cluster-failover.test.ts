// The release store on a Redis Cluster whose master dies (wave 16). Redis Cluster replicates
// asynchronously, so a write its master acknowledged can vanish in a failover. What the store
// guarantees (docs/ROLLOUT.md "Redis Cluster"): a write a replica confirmed survives its master's
// death; one no replica confirmed in time is answered as such (`unconfirmed`), so the operator
// knows to check; and a counter never hands out a value twice from one store, so the rollout
// directive's sequence does not repeat one that boxes have already seen (they refuse older ones).
import test from 'ava';
import { openReleaseStore } from '../../headend/releases/open-store.ts';
import type { RedisReleaseStore } from '../../headend/releases/release-store-redis.ts';
import { hashSlot } from '../../headend/registry/registry-redis-cluster-keys.ts';
import { Releases } from '../../headend/releases/releases.ts';
import { MemoryReleaseStore, type ReleaseState, type UpdateOutcome } from '../../headend/releases/store.ts';
import { release } from '../_contracts/release-store.ts';
import { failoverCluster } from '../_helpers/redis-cluster.ts';
import { slotOf } from '../_helpers/redis-slot.ts';

test('redis-cluster release store: a state change no replica confirmed is answered as unconfirmed; a confirmed one survives its master\'s death', async (t) => {
  const cluster = await failoverCluster(t, 'the release store failover test');
  if (cluster === undefined) return;
  const store = (await openReleaseStore(cluster.url, { prefix: 'fo:' })) as RedisReleaseStore;
  try {
    const published = await store.publish(release('guide', '1.0.0'));
    t.true(published.ok && published.unconfirmed === undefined, 'a publish its replica confirmed');
    const rolling = await store.update('guide', '1.0.0', 1, { state: 'rolling' });
    t.true(rolling.ok && rolling.unconfirmed === undefined, 'a state change its replica confirmed');

    const slot = slotOf('guide'); // the app's keys share the hash tag {guide}
    const resume = await cluster.detachReplicaOf(slot);
    const halted = await store.update('guide', '1.0.0', 2, { state: 'halted' });
    t.true(halted.ok, 'the master took it');
    t.true(halted.ok && halted.unconfirmed === true, 'and the caller is told no replica has it');
    t.is(store.durabilityStats().waitShort, 1, 'counted');

    await cluster.killMasterOf(slot, resume);
    const after = await store.get('guide', '1.0.0');
    t.is(after?.state, 'rolling', 'the confirmed change survived; the unconfirmed one went with its master, as the answer said it might');
  } finally {
    await store.close();
    await cluster.stop();
  }
});

test('redis-cluster release store: the rollout counter goes on past the values a failover took back', async (t) => {
  const cluster = await failoverCluster(t, 'the release store failover test');
  if (cluster === undefined) return;
  const store = (await openReleaseStore(cluster.url, { prefix: 'fo:' })) as RedisReleaseStore;
  try {
    const counter = 'rollout.guide';
    t.deepEqual([await store.bump(counter), await store.bump(counter)], [1, 2]);
    const slot = hashSlot(`fo:relctr:${counter}`);
    const resume = await cluster.detachReplicaOf(slot);
    const lost = [await store.bump(counter), await store.bump(counter), await store.bump(counter)];
    t.deepEqual(lost, [3, 4, 5], 'handed out by the master alone');
    t.is(store.durabilityStats().waitShort, 3);
    await cluster.killMasterOf(slot, resume);
    // The promoted replica holds 2: a plain INCR would hand out 3 again, and a box that saw
    // directive 5 would refuse directive 3 (a rollback among them).
    t.is(await store.bump(counter), 6);
    t.is(store.durabilityStats().bumpsRaised, 1);
    t.is(await store.bump(counter), 7, 'and on from there');
  } finally {
    await store.close();
    await cluster.stop();
  }
});

test('an unconfirmed write reaches the operator as a note that says what to do', async (t) => {
  // The store's outcome through the releases' operations (the admin API and the CLI print the note).
  class Unconfirmed extends MemoryReleaseStore {
    override async update(app: string, version: string, rev: number, patch: { state?: ReleaseState; plan?: string }): Promise<UpdateOutcome> {
      const u = await super.update(app, version, rev, patch);
      return u.ok ? { ...u, unconfirmed: true } : u;
    }
  }
  const store = new Unconfirmed();
  await store.publish(release('guide', '1.0.0'));
  const out = await new Releases({ store, trusted: () => [], now: () => 0 }).promote('guide', '1.0.0', { now: true });
  t.like(out, { ok: true, release: { state: 'live' } });
  t.regex(out.ok ? (out.note ?? '') : '', /no replica confirmed it in time\): a failover now would undo it; check `weft app status`/);
});
