// A release change made through one node reaches every node's catalog at once (issue 15 leftover,
// D103): the release store announces each state change it writes and every node syncs that app
// when it hears it, not at its next timer sync. No test here runs a sync timer: a node learns only
// from the announcement, so each waits on its catalog's onLiveChange (the test's timeout is the
// only bound). Two nodes share one store: in memory (one process), one SQLite file (two
// connections), and on a real redis-server.
import test from 'ava';
import { Redis } from 'ioredis';
import { AppCatalog } from '../../headend/app-catalog.ts';
import { MemoryReleaseStore, Releases } from '../../headend/releases/index.ts';
import { RedisReleaseStore } from '../../headend/releases/release-store-redis.ts';
import { startRollout, type RolloutLoop } from '../../headend/releases/rollout-start.ts';
import type { ReleaseStore } from '../../headend/releases/store.ts';
import type { ResourceReport } from '../../runtime/index.ts';
import { guideApp, signer } from '../_helpers/box-app.ts';
import { needProgram, which } from '../_helpers/env.ts';
import { startRedis } from '../_helpers/redis.ts';
import { startRedisCluster } from '../_helpers/redis-cluster.ts';
import { openReleaseStore } from '../../headend/releases/open-store.ts';
import { SqliteReleaseStore } from '../../headend/releases/release-store-sqlite.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const keys = await signer();
const v1 = await guideApp(keys, { version: '1.0.0' });
const v2 = await guideApp(keys, { version: '1.0.1' });

interface Node {
  releases: Releases;
  catalog: AppCatalog;
  loop: RolloutLoop;
}

/** One node over `store`: its own Releases, catalog and rollout loop; no timer calls its sync. */
async function node(store: ReleaseStore): Promise<Node> {
  const releases = new Releases({ store, trusted: () => keys.trusted, now: () => 1 });
  const catalog = new AppCatalog();
  const reports = { onReport: (_r: ResourceReport): void => {} };
  const loop = await startRollout({ releases, store, carousels: new Map(), reports, now: () => 1, catalog });
  return { releases, catalog, loop };
}

const publish = (n: Node, b: typeof v1) => n.releases.publish({ manifestBytes: b.manifestBytes, signature: b.signature, sources: b.sources }, 'operator');

/** The next time `catalog` replaces guide's current version. */
const nextLive = (catalog: AppCatalog): Promise<string | undefined> =>
  new Promise((resolve) => {
    const off = catalog.onLiveChange((app) => {
      off();
      resolve(catalog.get(app)?.manifest.version);
    });
  });

/** Node A commits 1.0.1 (1.0.0 live on both); node B's catalog must follow with no sync of its own asked for. */
async function commitReachesOtherNode(t: import('ava').ExecutionContext, a: Node, b: Node): Promise<void> {
  await publish(a, v1);
  await a.releases.promote('guide', '1.0.0', { now: true });
  await b.loop.sync?.sync(); // both start with 1.0.0 live (B by its own sync, as at start)
  t.is(b.catalog.get('guide')?.manifest.version, '1.0.0');
  const before = b.loop.sync?.stats();
  const changed = nextLive(b.catalog);
  await publish(a, v2);
  await a.releases.promote('guide', '1.0.1', { now: true });
  t.is(await changed, '1.0.1', "B's catalog serves the new live version");
  const after = b.loop.sync?.stats();
  t.true((after?.announcements ?? 0) > (before?.announcements ?? 0), 'B heard announcements');
  t.true((after?.announcedSyncs ?? 0) > (before?.announcedSyncs ?? 0), 'and they made its syncs');
  t.is(after?.badAnnouncements, 0);
}

test('memory store: a commit through node A reaches node B\'s catalog without B\'s timer', async (t) => {
  const store = new MemoryReleaseStore();
  await commitReachesOtherNode(t, await node(store), await node(store));
});

test('sqlite store: a commit through node A reaches node B\'s catalog without B\'s timer (two connections to one file, as two processes)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-push-'));
  const stores = [0, 1].map(() => new SqliteReleaseStore(join(dir, 'registry.db'), { pollMs: 5 }));
  t.teardown(async () => {
    for (const s of stores) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await commitReachesOtherNode(t, await node(stores[0]!), await node(stores[1]!));
});

const program = which('redis-server');
test('redis store: a commit through node A reaches node B\'s catalog without B\'s timer', async (t) => {
  if (program === undefined) return void needProgram(t, 'redis-server', 'the Redis release store');
  const server = await startRedis(program);
  const stores: ReleaseStore[] = [];
  t.teardown(async () => {
    for (const s of stores) await s.close();
    await server.stop();
  });
  for (let i = 0; i < 2; i++) stores.push(await RedisReleaseStore.open(server.url, 't-push:'));
  await commitReachesOtherNode(t, await node(stores[0]!), await node(stores[1]!));
});

test('redis store: a dropped subscription is made again and a full sync follows; a commit after it still arrives', async (t) => {
  if (program === undefined) return void needProgram(t, 'redis-server', 'the Redis release store');
  const server = await startRedis(program);
  const admin = new Redis(server.url);
  const stores: ReleaseStore[] = [];
  t.teardown(async () => {
    admin.disconnect();
    for (const s of stores) await s.close();
    await server.stop();
  });
  for (let i = 0; i < 2; i++) stores.push(await RedisReleaseStore.open(server.url, 't-drop:'));
  const a = await node(stores[0]!);
  const b = await node(stores[1]!);
  await publish(a, v1);
  await a.releases.promote('guide', '1.0.0', { now: true });
  const resynced = new Promise<void>((resolve) => {
    stores[1]!.watch?.((ev) => {
      if (ev.kind === 'resync') resolve();
    });
  });
  const syncsBefore = b.loop.sync?.stats().announcedSyncs ?? 0;
  // Every pub/sub connection of the server: both nodes' subscribers drop and reconnect.
  await admin.client('KILL', 'TYPE', 'pubsub');
  await resynced;
  const changed = nextLive(b.catalog);
  await publish(a, v2);
  await a.releases.promote('guide', '1.0.1', { now: true });
  t.is(await changed, '1.0.1');
  t.true((b.loop.sync?.stats().announcedSyncs ?? 0) >= syncsBefore + 2, 'the resync and the commit each made a sync');
  t.like((stores[1] as RedisReleaseStore).announceStats(), { dropped: 1, resubscribed: 1 });
});

test('redis store: what anyone publishes on the channel is not trusted beyond an app name: counted and dropped', async (t) => {
  if (program === undefined) return void needProgram(t, 'redis-server', 'the Redis release store');
  const server = await startRedis(program);
  const admin = new Redis(server.url);
  const store = await RedisReleaseStore.open(server.url, 't-bad:');
  t.teardown(async () => {
    admin.disconnect();
    await store.close();
    await server.stop();
  });
  const b = await node(store);
  const bodies = ['x'.repeat(100_000), '{"app":"guide"}', 'Guide', ''];
  const heard = new Promise<void>((resolve) => {
    let n = 0;
    store.watch((ev) => {
      if (ev.kind === 'changed' && ++n === bodies.length) resolve();
    });
  });
  for (const body of bodies) await admin.publish('t-bad:rel:announce', body);
  await heard; // heard by the node's sync first (it watched first)
  t.like(b.loop.sync?.stats(), { announcements: bodies.length, badAnnouncements: bodies.length, announcedSyncs: 0 });
});

test('redis cluster store: a commit through node A reaches node B; a subscription whose node drops moves on and resyncs', async (t) => {
  const cli = which('redis-cli');
  if (program === undefined || cli === undefined) return void needProgram(t, program === undefined ? 'redis-server' : 'redis-cli', 'the Redis Cluster release store');
  const cluster = await startRedisCluster(program, cli);
  const stores: ReleaseStore[] = [];
  const admins: Redis[] = [];
  t.teardown(async () => {
    for (const a of admins) a.disconnect();
    for (const s of stores) await s.close();
    await cluster.stop();
  });
  for (let i = 0; i < 2; i++) stores.push(await openReleaseStore(cluster.url, { prefix: 't-cl:' }));
  const a = await node(stores[0]!);
  const b = await node(stores[1]!);
  await commitReachesOtherNode(t, a, b);
  const resynced = new Promise<void>((resolve) => {
    stores[1]!.watch?.((ev) => {
      if (ev.kind === 'resync') resolve();
    });
  });
  // Every pub/sub connection of every node drops: B's subscriber subscribes again and B resyncs.
  for (const n of cluster.nodes) admins.push(new Redis({ host: '127.0.0.1', port: n.port }));
  await Promise.all(admins.map((r) => r.client('KILL', 'TYPE', 'pubsub')));
  await resynced;
  const changed = nextLive(b.catalog);
  await a.releases.rollback('guide', '1.0.0'); // back to the retired 1.0.0
  t.is(await changed, '1.0.0', 'the rollback through A reaches B too');
});
