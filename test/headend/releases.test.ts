// The release store on every adapter: memory, SQLite (a file, reopened), Redis (a real server).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { MemoryReleaseStore, compareVersions } from '../../headend/releases/store.ts';
import { SqliteReleaseStore } from '../../headend/releases/release-store-sqlite.ts';
import { RedisReleaseStore } from '../../headend/releases/release-store-redis.ts';
import { releaseStoreContract, releaseStoreDurability, releaseStoreMirror } from '../_contracts/release-store.ts';
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

const dir = mkdtempSync(join(tmpdir(), 'weft-releases-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));
releaseStoreContract('sqlite', async (name) => new SqliteReleaseStore(join(dir, `${name}.db`)));
releaseStoreDurability('sqlite', async (name) => new SqliteReleaseStore(join(dir, `${name}.db`)));
releaseStoreMirror('sqlite', async (name) => new SqliteReleaseStore(join(dir, `${name}.db`)));

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
}
