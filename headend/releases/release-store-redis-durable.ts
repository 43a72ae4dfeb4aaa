// The Redis release store's writes on a cluster (wave 16): Redis Cluster replicates
// asynchronously, so a write its master acknowledged can vanish when that master dies before its
// replica copied it. After each write the store WAITs for one replica on the master that took it
// (the registry's rule, D35) and tells its caller when none confirmed in time; and its counters
// never hand out a number twice from one store, even when a failover took the counter back
// (the rollout directive's sequence: a box refuses a directive older than one it has seen).

import type { Cluster, Redis } from 'ioredis';
import { REDIRECT, refreshSlots } from '../registry/registry-redis-cluster-writer.ts';

/**
 * INCR, but never at or below ARGV[1] (the highest value this store returned: a counter a
 * failover took back goes on from there; the second value says so) nor below ARGV[2] (the
 * caller's floor, D113).
 */
const BUMP = `
local v = redis.call('INCR', KEYS[1])
local out = math.max(v, tonumber(ARGV[1]) + 1, tonumber(ARGV[2]))
if out ~= v then redis.call('SET', KEYS[1], string.format('%.0f', out)) end
if v <= tonumber(ARGV[1]) then return {out, 1} end
return {out, 0}`;

export interface DurabilityOptions {
  /** Replicas a write waits for: 1 on a cluster (what a failover promotes), 0 on one Redis (nothing to wait for). */
  replicas: number;
  /** How long a write waits for them, ms. */
  ms: number;
}

export interface DurabilityStats {
  /** Writes answered after WAIT saw fewer replicas than asked: a failover of their master now would undo them. */
  waitShort: number;
  /** Counter values raised past what the store held (a failover had taken the counter back). */
  bumpsRaised: number;
}

export class Durability {
  readonly #redis: Redis | Cluster;
  readonly #o: DurabilityOptions;
  readonly #highest = new Map<string, number>();
  readonly #stats: DurabilityStats = { waitShort: 0, bumpsRaised: 0 };

  constructor(redis: Redis | Cluster, o: DurabilityOptions) {
    this.#redis = redis;
    this.#o = o;
  }

  /**
   * After a write to `key` on this connection: did enough replicas confirm it (true with none
   * asked)? WAIT goes in one pipeline with a read of `key`, so it reaches the master that took
   * the write; a slot that moved meanwhile is looked up again once.
   */
  async confirmed(key: string): Promise<boolean> {
    if (this.#o.replicas === 0) return true;
    for (let attempt = 0; ; attempt++) {
      const rows = (await this.#redis.pipeline().exists(key).wait(this.#o.replicas, this.#o.ms).exec()) ?? [];
      const err = rows[0]?.[0] ?? rows[1]?.[0] ?? null;
      if (err !== null && REDIRECT.test(err.message) && attempt === 0 && 'refreshSlotsCache' in this.#redis) {
        await refreshSlots(this.#redis);
        continue;
      }
      const ok = err === null && Number(rows[1]?.[1] ?? 0) >= this.#o.replicas;
      if (!ok) this.#stats.waitShort++;
      return ok;
    }
  }

  /** Add one to the counter at `key` and return it: above every value this store returned for it before (an unconfirmed one is counted), and at least `atLeast`. */
  async bump(key: string, atLeast = 0): Promise<number> {
    const floor = this.#highest.get(key) ?? 0;
    const [value, raised] = ((await this.#redis.eval(BUMP, 1, key, String(floor), String(atLeast))) as [number, number]).map(Number) as [number, number];
    if (raised === 1) this.#stats.bumpsRaised++;
    this.#highest.set(key, value);
    await this.confirmed(key);
    return value;
  }

  stats(): DurabilityStats {
    return { ...this.#stats };
  }
}
