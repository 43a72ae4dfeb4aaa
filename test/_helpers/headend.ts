// Head-end nodes for tests. testNode: the integration tier, real parts (UDP on loopback, a
// pre-warmed worker pool running the real portion worker in QuickJS). memoryNode: the
// deterministic tier (in-memory network, manual clock, seeded policy, in-thread portion host,
// injected process readings). Both: a SQLite registry (shared file or memory), the services.

import { ManualClock, type Clock } from '../../runtime/index.ts';
import { Balancer, SeededRandom, type PlacementPolicy } from '../../policy/index.ts';
import type { ProcessReadings } from '../../headend/stats/statistics-sampler.ts';
import { InThreadPool, type FakeModule } from './in-thread-pool.ts';
import type { MemoryNet } from './memory-net.ts';
import type { TrustedKeyJson } from '../../runtime/app/index.ts';
import { createUdpTransport } from '../../transport/index.ts';
import { connectMqttTransport } from '../../transport/mqtt.ts';
import type { MqttTransportOptions } from '../../transport/mqtt-options.ts';
import { AppCatalog, type PublishedApp } from '../../headend/app-catalog.ts';
import type { ElasticOptions } from '../../headend/portions/elastic.ts';
import type { ReplicaOptions } from '../../headend/portions/replicas.ts';
import type { AppWideOptions } from '../../headend/portions/shared-app.ts';
import { HeadendNode } from '../../headend/node.ts';
import type { NodeTracer } from '../../headend/trace/tracer.ts';
import { SqliteRegistry } from '../../headend/registry/registry-sqlite.ts';
import type { Registry } from '../../headend/registry/registry.ts';
import { guideService, vodService } from '../../headend/services/index.ts';
import { WorkerPool } from '../../headend/portions/worker-pool.ts';

export const WORKER_ENTRY = new URL('../../headend/portions/portion-worker.ts', import.meta.url);

export interface TestNodeOptions {
  id: string;
  registry: Registry;
  apps: PublishedApp[];
  trusted: TrustedKeyJson[];
  intervalMs?: number;
  clock?: Clock;
  /** Join an MQTT broker as a head-end identity (boxes reach the node through it). */
  /** `ingress: false`: the node publishes to boxes but hears none (MqttTransport.stopIngress). */
  mqtt?: { url: string; password: string; extra?: Partial<MqttTransportOptions>; ingress?: false };
  boxIngress?: 'shared' | 'broadcast';
  /** Worker threads kept warm and the most the node may run (defaults 1 and 8). */
  pool?: { spare?: number; max?: number };
  elastic?: ElasticOptions;
  replicas?: ReplicaOptions;
  /** Work units the node reports it can carry (HeadendNodeOptions.capacity). */
  capacity?: number;
  /** The placement policy (HeadendNodeOptions.policy); inject a seeded one for reproducible placements. */
  policy?: PlacementPolicy;
  log?: (line: string) => void;
  appWide?: AppWideOptions;
  tracer?: NodeTracer;
}

export async function testNode(o: TestNodeOptions): Promise<HeadendNode> {
  const udp = await createUdpTransport({ host: '127.0.0.1', port: 0 });
  const catalog = new AppCatalog();
  for (const a of o.apps) catalog.add(a);
  const pool = new WorkerPool({ entry: WORKER_ENTRY, spare: o.pool?.spare ?? 1, max: o.pool?.max ?? 8 });
  const boxLocations = new Map<string, string>();
  const mqtt =
    o.mqtt === undefined
      ? undefined
      : await connectMqttTransport({ role: 'headend', url: o.mqtt.url, id: o.id, password: o.mqtt.password, log: () => {}, locate: (v) => boxLocations.get(v), deadPath: { initialRttMs: 1000 }, ...o.mqtt.extra });
  if (o.mqtt?.ingress === false) await mqtt?.stopIngress();
  const node = new HeadendNode({
    id: o.id,
    udp,
    ...(mqtt === undefined ? {} : { mqtt }),
    boxLocations,
    ...(o.boxIngress === undefined ? {} : { boxIngress: o.boxIngress }),
    registry: o.registry,
    catalog,
    pool,
    trusted: o.trusted,
    services: [guideService({ from: Date.UTC(2026, 10, 26, 18), channels: 8, hours: 12 }), vodService({ now: () => Date.now() })],
    intervalMs: o.intervalMs ?? 200,
    ...(o.clock === undefined ? {} : { clock: o.clock }),
    ...(o.elastic === undefined ? {} : { elastic: o.elastic }),
    ...(o.replicas === undefined ? {} : { replicas: o.replicas }),
    ...(o.capacity === undefined ? {} : { capacity: o.capacity }),
    ...(o.policy === undefined ? {} : { policy: o.policy }),
    ...(o.log === undefined ? {} : { log: o.log }),
    ...(o.appWide === undefined ? {} : { appWide: o.appWide }),
    ...(o.tracer === undefined ? {} : { tracer: o.tracer }),
  });
  const close = node.close.bind(node);
  node.close = async () => {
    await close();
    await pool.close();
    await udp.close();
    await mqtt?.close();
  };
  await node.start();
  return node;
}

export interface MemoryNodeOptions {
  id: string;
  net: MemoryNet;
  clock: ManualClock;
  registry: Registry;
  apps: PublishedApp[];
  trusted: TrustedKeyJson[];
  /** Seed of the node's balancer. Default: a hash of the id. */
  seed?: number;
  /** Or the policy itself. */
  policy?: PlacementPolicy;
  intervalMs?: number;
  capacity?: number;
  /** Handlers of the in-thread portion host, by module (default: echo). */
  modules?: Record<string, FakeModule>;
  /** CPU and loop-delay readings. Default: an idle process. */
  readings?: () => ProcessReadings;
  log?: (line: string) => void;
  /** App-wide modules: checkpoint store, duplicate window. */
  appWide?: AppWideOptions;
  replicas?: ReplicaOptions;
  /** The thread controller loop (its controller injected: a decision, not a measured wait). */
  elastic?: ElasticOptions;
}

export interface MemoryNode extends HeadendNode {
  readonly pool: InThreadPool;
}

const IDLE_READINGS = (): ProcessReadings => ({ util: 0, loop: { p50Ms: 0, p99Ms: 0, maxMs: 0 }, rss: 0, heapUsed: 0 });

/** A node of the deterministic tier: nothing here reads the wall clock, Math.random or a socket. */
export async function memoryNode(o: MemoryNodeOptions): Promise<MemoryNode> {
  const udp = o.net.open();
  const catalog = new AppCatalog();
  for (const a of o.apps) catalog.add(a);
  const pool = new InThreadPool(o.modules === undefined ? {} : { modules: o.modules });
  const seed = o.seed ?? [...o.id].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0, 0x811c9dc5);
  const node = new HeadendNode({
    id: o.id,
    udp,
    registry: o.registry,
    catalog,
    pool,
    trusted: o.trusted,
    clock: o.clock,
    policy: o.policy ?? new Balancer({ random: new SeededRandom(seed).uniform() }),
    readings: o.readings ?? IDLE_READINGS,
    intervalMs: o.intervalMs ?? 1000,
    capacity: o.capacity ?? 4,
    services: [guideService({ from: Date.UTC(2026, 10, 26, 18), channels: 8, hours: 12 })],
    ...(o.log === undefined ? {} : { log: o.log }),
    ...(o.appWide === undefined ? {} : { appWide: o.appWide }),
    ...(o.replicas === undefined ? {} : { replicas: o.replicas }),
    ...(o.elastic === undefined ? {} : { elastic: o.elastic }),
  });
  const close = node.close.bind(node);
  node.close = async () => {
    await close();
    await udp.close();
  };
  await node.start();
  return Object.assign(node, { pool });
}

/** The deterministic tier's registry: one transaction per write, so a write settles within
 *  microtasks as the ManualClock tests step (the live node batches a turn's writes). */
export function memoryRegistry(clock?: Clock): SqliteRegistry {
  return new SqliteRegistry({ path: ':memory:', batchWrites: false, ...(clock === undefined ? {} : { clock }) });
}

export { ManualClock };
