// The release store on every adapter: memory, SQLite (a file, reopened), Redis (a real server),
// Redis Cluster (three masters with replicas); and the store a head-end picks for its registry spec.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { MemoryReleaseStore, compareVersions } from '../../headend/releases/store.ts';
import { SqliteReleaseStore } from '../../headend/releases/release-store-sqlite.ts';
import { RedisReleaseStore, releaseKeys } from '../../headend/releases/release-store-redis.ts';
import { openReleaseStore } from '../../headend/releases/open-store.ts';
import { hashSlot } from '../../headend/registry/registry-redis-cluster-keys.ts';
import { type RedisCluster, startRedisCluster } from '../_helpers/redis-cluster.ts';
import { release, releaseStoreContract, releaseStoreDurability, releaseStoreHeads, releaseStoreMirror } from '../_contracts/release-store.ts';
import type { ReleaseStore } from '../../headend/releases/store.ts';
import { needProgram, which } from '../_helpers/env.ts';
import { type RedisServer, startRedis } from '../_helpers/redis.ts';

test('semver order: pre-releases before their release, numbers compared as numbers', (t) => {
  t.true(compareVersions('1.0.10', '1.0.9') > 0);
  t.true(compareVersions('1.0.0-rc.1', '1.0.0') < 0);
  t.is(compareVersions('2.1.0', '2.1.0'), 0);
});

const stores = new Map<string, MemoryReleaseStore>();
const memory = async (name: string): Promise<MemoryReleaseStore> => {
  const s = stores.get(name) ?? new MemoryReleaseStore();
  stores.set(name, s);
  return s;
};
releaseStoreContract('memory', memory);
releaseStoreMirror('memory', memory);
releaseStoreHeads('memory', memory);

const dir = mkdtempSync(join(tmpdir(), 'weft-releases-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));
releaseStoreContract('sqlite', async (name) => new SqliteReleaseStore(join(dir, `${name}.db`)));
releaseStoreDurability('sqlite', async (name) => new SqliteReleaseStore(join(dir, `${name}.db`)));
releaseStoreMirror('sqlite', async (name) => new SqliteReleaseStore(join(dir, `${name}.db`)));
releaseStoreHeads('sqlite', async (name) => new SqliteReleaseStore(join(dir, `${name}.db`)));

const program = which('redis-server');
if (program === undefined) {
  test('redis release store', (t) => void needProgram(t, 'redis-server', 'the Redis release store'));
} else {
  let server: RedisServer | undefined;
  test.before(async () => {
    server = await startRedis(program);
  });
  test.after.always(async () => {
    await server?.stop();
  });
  const open = async (name: string): Promise<RedisReleaseStore> => RedisReleaseStore.open(server?.url ?? 'redis://127.0.0.1:1', `t-${name}:`);
  releaseStoreContract('redis', open);
  releaseStoreDurability('redis', open);
  releaseStoreMirror('redis', open);
  releaseStoreHeads('redis', open);
}

test('the release store beside the registry: the same SQLite file, memory, and bad specs refused by name', async (t) => {
  const file = await openReleaseStore(`sqlite:${join(dir, 'spec.db')}`);
  t.is(file.kind, 'sqlite');
  await file.close();
  const mem = await openReleaseStore('memory');
  t.is(mem.kind, 'memory');
  await t.throwsAsync(openReleaseStore('postgres://x'), { message: /registry must be/ });
});

test('Redis keys of one release and its app\'s version list share one hash slot (each compare-and-set in one slot)', (t) => {
  for (const [app, version] of [['guide', '1.0.0'], ['poll', '2.3.4-rc.1'], ['a', '0.0.1']] as const) {
    const k = releaseKeys('weft:', app, version);
    t.is(hashSlot(k.release), hashSlot(k.versions), `${k.release} and ${k.versions}`);
  }
});

const cli = which('redis-cli');
if (program === undefined || cli === undefined) {
  test('redis-cluster release store', (t) => void needProgram(t, program === undefined ? 'redis-server' : 'redis-cli', 'the Redis Cluster release store'));
} else {
  let cluster: RedisCluster | undefined;
  test.before(async () => {
    cluster = await startRedisCluster(program, cli);
  });
  test.after.always(async () => {
    await cluster?.stop();
  });
  const openCluster = async (name: string): Promise<ReleaseStore> => openReleaseStore(cluster?.url ?? 'redis-cluster://127.0.0.1:1', { prefix: `t-${name}:` });
  releaseStoreContract('redis-cluster', openCluster);
  releaseStoreDurability('redis-cluster', openCluster);
  releaseStoreMirror('redis-cluster', openCluster);
  releaseStoreHeads('redis-cluster', openCluster);

  test('redis-cluster: a head-end on a redis-cluster:// registry keeps its releases in the cluster, not in memory', async (t) => {
    const a = await openCluster('spec');
    t.teardown(() => a.close());
    t.is(a.kind, 'redis-cluster');
    await a.publish(release('guide', '1.0.0'));
    const b = await openCluster('spec');
    t.teardown(() => b.close());
    t.is((await b.get('guide', '1.0.0'))?.state, 'staged', 'a second connection (another node) sees it');
  });
}
