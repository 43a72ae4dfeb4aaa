// apps/poll end to end (issue 16 build 9): the built, signed app on three head-end nodes sharing a
// real mosquitto (MQTT 5 shared subscription) and a real redis-server registry, a fleet of
// emulated boxes on its carousel. Every box votes a known number of times; the node running the
// app-wide `tally` is killed midway (its checkpoints live in a store the nodes share, standing in
// for the registry's checkpoint records); a replica of `tally` is started by load through injected
// thresholds. The final tally equals the votes sent, exactly. WEFT_POLL_BOXES sets the fleet size
// (default 60 on a shared 2-core CI; 300 is the goal, run with WEFT_POLL_BOXES=300).
import { until } from '../_helpers/mqtt-fixtures.ts';
import test from 'ava';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trustedKeyFromJson, type TrustedKeyJson } from '../../runtime/app/index.ts';
import { loadEngine } from '../../sandbox/index.ts';
import { moduleSetFromDir } from '../../carousel/index.ts';
import { createUdpTransport, type UdpTransport } from '../../transport/index.ts';
import { connectMqttTransport, type MqttTransport } from '../../transport/mqtt.ts';
import { AppCatalog } from '../../headend/app-catalog.ts';
import { HeadendNode } from '../../headend/node.ts';
import { WorkerPool } from '../../headend/portions/worker-pool.ts';
import { MemoryCheckpoints } from '../../headend/portions/shared-app.ts';
import { RedisRegistry } from '../../headend/registry/registry-redis.ts';
import { startFleet, type Fleet } from '../../devices/fleet.ts';
import { needProgram } from '../_helpers/env.ts';
import { startMosquitto } from '../_helpers/mosquitto.ts';
import { startRedis } from '../_helpers/redis.ts';
import { carouselFeed } from '../_helpers/box-fixtures.ts';
import { WORKER_ENTRY } from '../_helpers/headend.ts';
// @ts-expect-error build.mjs is plain JavaScript without types
import { build } from '../../build.mjs';

const BOXES = Number(process.env.WEFT_POLL_BOXES ?? 60);
const VOTES = 4;
const NODES = ['n1', 'n2', 'n3'];
const TALLY = 'weft://poll/*/tally';

interface Running {
  id: string;
  node: HeadendNode;
  udp: UdpTransport;
  mqtt: MqttTransport;
  pool: WorkerPool;
  registry: RedisRegistry;
  dead: boolean;
}

type PollScene = { screen?: string; acked?: number; votes?: number; options?: { votes: number }[] } | undefined;

test(`poll: ${BOXES} boxes x ${VOTES} votes over three nodes (mosquitto + redis), the tally's node killed midway, a replica by load: counted exactly`, async (t) => {
  const mosquitto = needProgram(t, 'mosquitto', 'the shared MQTT broker of a multi-node head-end');
  const redis = needProgram(t, 'redis-server', 'the shared registry of a multi-node head-end');
  if (mosquitto === undefined || redis === undefined) return;
  t.timeout(300_000);
  const dir = await mkdtemp(join(tmpdir(), 'weft-poll-'));
  await build({ out: join(dir, 'dist'), keys: join(dir, 'keys'), apps: ['poll'], quiet: true, firmware: false });
  const appDir = join(dir, 'dist', 'apps', 'poll');
  const pub = await AppCatalog.readDir(appDir);
  const trustedJson = [JSON.parse(await readFile(join(dir, 'keys', 'dev.pub.json'), 'utf8')) as TrustedKeyJson];
  const users = [...NODES.map((id) => ({ id, password: `${id}-pw`, role: 'headend' as const })), ...Array.from({ length: BOXES }, (_, i) => ({ id: `stb-${i + 1}`, password: `stb-${i + 1}-pw`, role: 'box' as const }))];
  const rs = await startRedis(redis);
  const mq = await startMosquitto(mosquitto, { users, ownPasswordFile: true });
  const checkpoints = new MemoryCheckpoints(); // the registry's checkpoint records, shared by the nodes
  const logs: string[] = [];
  const nodes: Running[] = [];
  let fleet: Fleet | undefined;
  try {
    for (const id of NODES) nodes.push(await startNode(id, mq.url, rs.url, pub, trustedJson, checkpoints, (l) => logs.push(`${id}: ${l}`)));
    for (const n of nodes) await n.node.refreshPeers();
    const feed = carouselFeed(await moduleSetFromDir(appDir));
    const engine = await loadEngine();
    const trusted = await Promise.all(trustedJson.map((k) => trustedKeyFromJson(k)));
    fleet = await startFleet({
      count: BOXES,
      mix: { 'modern-4k': 1 },
      engine,
      tuner: feed.tuner,
      trusted,
      headend: { url: mq.url, password: (id) => `${id}-pw` },
      prefix: 'stb',
      staggerMs: 5,
      box: { throttle: false, loader: { requestTimeoutMs: 5000 } },
    });
    const f = fleet;
    await until(() => f.states().up === BOXES, 120_000, 'every box up');
    const expected = [0, 0, 0];
    const press = async (round: number): Promise<void> => {
      for (const [i, b] of f.boxes.entries()) {
        const choice = (i + round) % 3;
        expected[choice] = (expected[choice] ?? 0) + 1;
        await b.box.pressKey(String(choice + 1));
      }
    };
    for (let r = 0; r < VOTES / 2; r++) await press(r);
    // The node running the app-wide tally dies without a word, with votes in flight.
    const owner = (await nodes[0]?.registry.lookup(TALLY))?.node;
    const victim = nodes.find((n) => n.id === owner) as Running;
    t.truthy(victim, `the tally runs on ${owner}`);
    await kill(victim);
    for (let r = VOTES / 2; r < VOTES; r++) await press(r);
    const acked = (): number => f.boxes.reduce((a, b) => a + ((b.box.screen('ui') as PollScene)?.acked ?? 0), 0);
    await until(() => acked() === BOXES * VOTES, 180_000, `every vote acknowledged (${BOXES * VOTES})`).catch((e: unknown) => {
      // What a failure needs to be understood: where the votes stand, what the nodes said.
      t.log(`acked ${acked()}; states ${JSON.stringify(f.states())}; first scenes ${JSON.stringify(f.boxes.slice(0, 3).map((b) => b.box.screen('ui')))}`);
      t.log(`switch ${JSON.stringify(f.boxes[0]?.box.stats().switch)}`);
      for (const n of nodes) t.log(`${n.id}${n.dead ? ' (dead)' : ''}: ${JSON.stringify(n.node.appWide.counters)} ${JSON.stringify(n.node.counters)} refused ${JSON.stringify(n.node.security.refused)}`);
      t.log(logs.slice(-30).join('\n'));
      throw e;
    });
    const survivors = nodes.filter((n) => !n.dead);
    const newOwner = (await survivors[0]?.registry.lookup(TALLY))?.node;
    t.true(newOwner !== undefined && newOwner !== victim.id, `re-placed on ${newOwner}`);
    const totals = (await f.boxes[0]?.box.ask('tally', { op: 'totals' }, 10_000)) as { totals: number[]; votes: number };
    t.log(`votes ${totals.votes} of ${BOXES * VOTES}; per option ${totals.totals.join('/')} (sent ${expected.join('/')})`);
    t.is(totals.votes, BOXES * VOTES, 'every vote counted exactly once');
    t.deepEqual(totals.totals, expected);
    const wide = survivors.map((n) => n.node.appWide.counters);
    t.true(wide.some((c) => c.restored === 1), 'the new owner restored the checkpoint');
    const duplicates = nodes.reduce((a, n) => a + n.node.appWide.counters.duplicates, 0);
    const forwarded = nodes.reduce((a, n) => a + n.node.appWide.counters.forwarded, 0);
    const replicaLines = logs.filter((l) => /weft:\/\/poll\/\*\/tally: replica \d+ on /.test(l));
    t.log(`duplicates answered ${duplicates}, forwarded by replicas ${forwarded}; ${replicaLines.join('; ')}`);
    t.true(replicaLines.length >= 1, 'a replica of tally was started by load');
  } finally {
    await fleet?.stop().catch(() => undefined);
    for (const n of nodes) await stopNode(n);
    await mq.stop();
    await rs.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

async function startNode(id: string, url: string, redisUrl: string, pub: Awaited<ReturnType<typeof AppCatalog.readDir>>, trusted: TrustedKeyJson[], checkpoints: MemoryCheckpoints, log: (l: string) => void): Promise<Running> {
  const udp = await createUdpTransport({ host: '127.0.0.1', port: 0 });
  const boxLocations = new Map<string, string>();
  const mqtt = await connectMqttTransport({ role: 'headend', url, id, password: `${id}-pw`, protocolVersion: 5, shareGroup: 'heads', locate: (v) => boxLocations.get(v), log: () => {}, deadPath: { initialRttMs: 1000 } });
  const registry = await RedisRegistry.open({ url: redisUrl });
  const catalog = new AppCatalog();
  catalog.add(pub);
  const pool = new WorkerPool({ entry: WORKER_ENTRY, spare: 1, max: 4 });
  const node = new HeadendNode({
    id,
    udp,
    mqtt,
    boxLocations,
    boxIngress: 'shared',
    registry,
    catalog,
    pool,
    trusted,
    intervalMs: 300,
    // Injected thresholds, so the spawn follows the portion's measured queue wait and not this
    // machine's speed: any wait at the tally's lock while votes flow makes its node saturated for
    // it; an idle node (no critical portion, zero wait) is not, so it can take the replica. One
    // replica (maxNodes 2), never retired during the test.
    replicas: { scale: { highUtil: 0, lowUtil: -1, waitTargetMs: 1e-6, hotHoldMs: 0, cooldownMs: 0, holdMs: 3_600_000, maxNodes: 2 }, everyMs: 300 },
    appWide: { checkpoints },
    log,
  });
  await node.start();
  return { id, node, udp, mqtt, pool, registry, dead: false };
}

// Dead without a word: no leave, no goodbye; heartbeats and traffic just stop.
async function kill(n: Running): Promise<void> {
  n.dead = true;
  n.node.statistics.stop();
  n.node.timing.stop();
  n.node.replicas.close();
  n.node.elastic.close();
  await n.udp.close();
  await n.mqtt.close();
}

async function stopNode(n: Running): Promise<void> {
  if (!n.dead) await n.node.close().catch(() => undefined);
  await n.pool.close().catch(() => undefined);
  if (!n.dead) {
    await n.udp.close().catch(() => undefined);
    await n.mqtt.close().catch(() => undefined);
  }
  await n.registry.close().catch(() => undefined);
}
