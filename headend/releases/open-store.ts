// The release store beside a head-end's registry (issue 15.1): the same SQLite file, the same
// Redis or Redis Cluster, or memory. The one place a registry spec picks the release adapter.
import { ArgumentError } from '../../runtime/index.ts';
import { SqliteReleaseStore } from './release-store-sqlite.ts';
import { RedisReleaseStore } from './release-store-redis.ts';
import { MemoryReleaseStore, type ReleaseStore } from './store.ts';

export interface OpenReleaseStoreOptions {
  /** Key prefix in Redis (tests keep stores apart with it). Default `weft:`. */
  prefix?: string;
}

export async function openReleaseStore(registry: string, o: OpenReleaseStoreOptions = {}): Promise<ReleaseStore> {
  for (const k of Object.keys(o)) if (k !== 'prefix') throw new ArgumentError(`openReleaseStore: unknown option "${k}"`, k);
  if (registry.startsWith('sqlite:')) return new SqliteReleaseStore(registry.slice('sqlite:'.length));
  if (/^(rediss?|redis-cluster):\/\//.test(registry)) return RedisReleaseStore.open(registry, o.prefix);
  if (registry === 'memory') return new MemoryReleaseStore();
  throw new ArgumentError(`registry must be sqlite:<file>, memory, redis://host:port or redis-cluster://host:port[,host:port...], got ${JSON.stringify(registry.slice(0, 200))}`, 'registry');
}
