// The head-end's composition root: builds the concrete adapters (aedes or an external MQTT
// broker, SQLite or Redis registry, UDP, worker pool, carousel broadcaster) and wires one node.
// `weft headend up` (embedded defaults) and `weft headend node` (join a cluster) call this.

import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { ArgumentError, rejectUnknown } from '../runtime/index.ts';
import type { TrustedKeyJson } from '../runtime/app/index.ts';
import { createUdpTransport, udpSenderId, type UdpTransport } from '../transport/index.ts';
import { connectMqttTransport, type MqttTransport } from '../transport/mqtt.ts';
import type { BackoffPolicy } from '../transport/reconnect.ts';
import { Broadcaster, moduleSetFromDir, serveUdp, type UdpServer } from '../carousel/index.ts';
import { AppCatalog } from './app-catalog.ts';
import { derivedBoxSecret, headendCredentials } from './broker/broker-auth.ts';
import { startAedesBroker, type EmbeddedBroker } from './broker/broker-aedes.ts';
import { localClientFactory } from './broker/broker-local.ts';
import { HeadendNode } from './node.ts';
import type { NodeTracer } from './trace/tracer.ts';
import type { BoxQuotas } from './node/quotas.ts';
import type { PlacementPolicy } from '../policy/index.ts';
import { RedisRegistry } from './registry/registry-redis.ts';
import { RedisClusterRegistry } from './registry/registry-redis-cluster.ts';
import { SqliteRegistry } from './registry/registry-sqlite.ts';
import type { CheckpointOptions } from './portions/checkpoint-options.ts';
import type { Registry } from './registry/registry.ts';
import { epgService, guideService, vodService } from './services/index.ts';
import { RegistryAppCheckpoints } from './portions/shared-registry.ts';
import { WorkerPool } from './portions/worker-pool.ts';

export interface HeadendConfig {
  /** Node id. Default `node-1`. */
  node?: string;
  /** `embedded` (aedes in this process, the default) or the URL of a shared broker. */
  broker?: string;
  /** Port of the embedded broker. Default 0 (a free one; see `brokerUrl`). */
  brokerPort?: number;
  /** Address the embedded broker binds (`0.0.0.0` for boxes on other machines). Default 127.0.0.1. */
  brokerHost?: string;
  /** This node's broker password (shared broker). Default: derived from the node key. */
  password?: string;
  /**
   * With the embedded broker: the node publishes and subscribes by function call instead of as an
   * MQTT client over loopback TCP to its own process (most of a message's head-end CPU, issue 19).
   * Default true; false for the A/B bench (`bench -- headend --local-link 0`).
   */
  localLink?: boolean;
  /** MQTT 3.1.1 (4, default) or 5 (session expiry, shared subscriptions: give `shareGroup`). */
  mqttVersion?: 4 | 5;
  /** MQTT 5 shared-subscription group, so nodes split the boxes' ingress. */
  shareGroup?: string;
  /** `sqlite:<file>` (default `sqlite:.weft/registry.db`), `memory`, `redis://host:port`, or `redis-cluster://host:port[,host:port...]`. */
  registry?: string;
  /** UDP address of this node for other nodes. Default 127.0.0.1, a free port. */
  udpHost?: string;
  udpPort?: number;
  /**
   * Key of the MAC on every node-to-node UDP datagram (>= 16 bytes; docs/PROTOCOL.md). Required
   * with a shared broker (every node of the cluster is given the same one); embedded: random.
   */
  clusterKey?: string | Uint8Array;
  /** Built apps. Default dist/apps. */
  apps?: string;
  /** Trusted signing keys: a folder of *.pub.json. Default .weft/keys. */
  keys?: string;
  /** Box credential master key (boxes prove HMAC(master, boxId)). Default .weft/master.key, made on first use. */
  masterKey?: string;
  /** Node credential key (nodes prove HMAC(nodeKey, nodeId)), never the box master key. Default .weft/node.key, made on first use. */
  nodeKey?: string;
  /** Broadcast each app's carousel by UDP here (`host:port`, unicast loopback) or to a multicast `group:port`; `off` for none. Default off. */
  carousel?: string;
  /** Carousel bitrate, bit/s. Default 2,000,000. */
  carouselBitrate?: number;
  /** Local interface address a multicast carousel is sent on. Default: the system's choice. */
  carouselInterface?: string;
  /** Multicast TTL of the carousel (hops). Default 1: the local segment only. */
  carouselTtl?: number;
  /** Spans and trace-id log lines for sampled envelopes (headend/trace/). Default: none. */
  tracer?: NodeTracer;
  /** Statistics and heartbeat interval, ms. Default 1000. */
  intervalMs?: number;
  /** Worker threads kept ready. Default 1. */
  spareThreads?: number;
  /** Warm app sandboxes each worker thread keeps per app build, so a setup does not pay a QuickJS start (0: none). Default 2 [issue 19.3]. */
  warmSandboxes?: number;
  /** Per-box quotas (sessions, module downloads, map bounds); defaults in headend/node/quotas.ts. */
  quotas?: BoxQuotas;
  /** The placement policy (HeadendNodeOptions.policy). Default: Weft's balancer on Math.random; tests inject a seeded one. */
  policy?: PlacementPolicy;
  /** Durable portion state: checkpointMs, byte budget, size bound (docs/OPERATIONS.md section 11) [issue 13.2]. */
  checkpoints?: CheckpointOptions;
  log?: (line: string) => void;
}

/**
 * [wave 14, D107] The node's own reconnect to a shared broker: at once, then the usual doubling.
 * The fleet's first-reconnect window (transport/reconnect.ts, 10 s) spreads thousands of boxes;
 * the node is one client, and every box message before it is back goes to no one.
 */
export const NODE_RECONNECT: Readonly<Partial<BackoffPolicy>> = { windowMs: 0 };

const KEYS = ['node', 'broker', 'brokerPort', 'brokerHost', 'localLink', 'password', 'mqttVersion', 'shareGroup', 'registry', 'udpHost', 'udpPort', 'clusterKey', 'apps', 'keys', 'masterKey', 'nodeKey', 'carousel', 'carouselBitrate', 'carouselInterface', 'carouselTtl', 'tracer', 'intervalMs', 'spareThreads', 'warmSandboxes', 'quotas', 'policy', 'checkpoints', 'log'];

export interface RunningHeadend {
  node: HeadendNode;
  brokerUrl: string;
  broker: EmbeddedBroker | undefined;
  masterKey: string;
  registry: Registry;
  carousels: UdpServer[];
  /** Each app's carousel broadcaster, by app id: the rollout driver updates what it carries (issue 15). */
  broadcasters: Map<string, Broadcaster>;
  /** The password a box needs on this head-end's broker. */
  boxSecret(boxId: string): string;
  close(): Promise<void>;
}

const WORKER = new URL('./portions/portion-worker.ts', import.meta.url);

export async function startHeadend(config: HeadendConfig = {}): Promise<RunningHeadend> {
  rejectUnknown('startHeadend', config, KEYS);
  const log = config.log ?? ((l: string) => console.error(l));
  const id = config.node ?? 'node-1';
  const udpKey = clusterKey(config);
  const masterKey = config.masterKey ?? (await devSecret('.weft/master.key'));
  const nodeKey = config.password === undefined ? (config.nodeKey ?? (await devSecret('.weft/node.key'))) : undefined;
  const { store, nodePassword } = headendCredentials({ boxKey: masterKey, node: id, ...(nodeKey === undefined ? {} : { nodeKey }), ...(config.password === undefined ? {} : { password: config.password }) });
  const closers: (() => Promise<unknown>)[] = [];
  const close = async (): Promise<void> => {
    for (const c of closers.reverse()) await c().catch((e: unknown) => log(`close: ${(e as Error).message}`));
  };
  try {
    let broker: EmbeddedBroker | undefined;
    let brokerUrl = config.broker ?? 'embedded';
    if (brokerUrl === 'embedded') {
      broker = await startAedesBroker({ credentials: store, port: config.brokerPort ?? 0, ...(config.brokerHost === undefined ? {} : { host: config.brokerHost }), log: () => {} });
      closers.push(() => (broker as EmbeddedBroker).close());
      brokerUrl = broker.url;
    }
    const registry = await openRegistry(config.registry ?? 'sqlite:.weft/registry.db');
    closers.push(() => registry.close());
    const catalog = await AppCatalog.fromRoot(resolve(config.apps ?? 'dist/apps'));
    if (catalog.names().length === 0) throw new ArgumentError(`no built apps in ${config.apps ?? 'dist/apps'}: run npm run build`, 'apps');
    const trusted = await readTrusted(resolve(config.keys ?? '.weft/keys'));
    const udp: UdpTransport = await createUdpTransport({ host: config.udpHost ?? '127.0.0.1', port: config.udpPort ?? 0, auth: { key: udpKey, sender: udpSenderId(id) } });
    closers.push(() => udp.close());
    const boxLocations = new Map<string, string>();
    if (config.localLink !== undefined && typeof config.localLink !== 'boolean') throw new ArgumentError('startHeadend: localLink must be a boolean', 'localLink');
    const local = broker !== undefined && config.localLink !== false ? localClientFactory(broker.local) : undefined;
    const mqtt: MqttTransport = await connectMqttTransport({
      ...(local === undefined ? {} : { client: local }),
      role: 'headend', backoff: NODE_RECONNECT, // D107: not the fleet's window
      url: brokerUrl,
      id,
      password: nodePassword,
      protocolVersion: config.mqttVersion ?? 4,
      ...(config.shareGroup === undefined ? {} : { shareGroup: config.shareGroup }),
      locate: (v) => boxLocations.get(v),
      log: (e) => (e.event === 'reject' ? undefined : log(`mqtt ${e.event}: ${e.reason}${e.detail === undefined ? '' : ` (${e.detail})`}`)),
    });
    closers.push(() => mqtt.close());
    const warm = config.warmSandboxes;
    if (warm !== undefined && (!Number.isInteger(warm) || warm < 0 || warm > 64)) throw new ArgumentError('startHeadend: warmSandboxes must be an integer in 0..64', 'warmSandboxes');
    const pool = new WorkerPool({ entry: WORKER, spare: config.spareThreads ?? 1, max: 16, ...(warm === undefined ? {} : { data: { warmPerBuild: warm } }) });
    closers.push(() => pool.close());
    const from = Date.now();
    const node = new HeadendNode({
      id,
      udp,
      mqtt,
      registry,
      catalog,
      pool,
      trusted,
      boxLocations,
      // Without shared subscriptions every node on a shared broker hears every box.
      boxIngress: config.broker === undefined || config.broker === 'embedded' || config.shareGroup !== undefined ? 'shared' : 'broadcast',
      services: [epgService({ from, channels: 24 }), guideService({ from, channels: 24 }), vodService({ now: () => Date.now() })],
      intervalMs: config.intervalMs ?? 1000,
      ...(config.quotas === undefined ? {} : { quotas: config.quotas }),
      ...(config.policy === undefined ? {} : { policy: config.policy }),
      ...(config.checkpoints === undefined ? {} : { checkpoints: config.checkpoints }),
      // App-wide instances keep their state, storage and duplicate window in the registry too.
      appWide: { checkpoints: new RegistryAppCheckpoints(registry, id) },
      ...(config.tracer === undefined ? {} : { tracer: config.tracer }),
      log,
    });
    await pool.warm();
    await node.start();
    closers.push(() => node.close());
    const broadcasters = new Map<string, Broadcaster>();
    const carousels = await broadcast(config, catalog, broadcasters);
    for (const c of carousels) closers.push(() => c.close());
    return { node, brokerUrl, broker, masterKey, registry, carousels, broadcasters, boxSecret: (boxId) => derivedBoxSecret(masterKey, boxId), close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** One node alone (embedded broker) speaks UDP only to itself: a random key. A cluster shares one. */
function clusterKey(config: HeadendConfig): string | Uint8Array {
  const k = config.clusterKey;
  if (k !== undefined) {
    if ((typeof k === 'string' ? Buffer.byteLength(k) : k instanceof Uint8Array ? k.length : 0) < 16) throw new ArgumentError('the cluster key must be at least 16 bytes', 'clusterKey');
    return k;
  }
  if (config.broker === undefined || config.broker === 'embedded') return randomBytes(32);
  throw new ArgumentError('a node on a shared broker needs the cluster key: --cluster-key-file <path> or WEFT_CLUSTER_KEY', 'clusterKey');
}

async function openRegistry(spec: string): Promise<Registry> {
  if (spec === 'memory') return new SqliteRegistry({ path: ':memory:' });
  if (spec.startsWith('sqlite:')) {
    const path = resolve(spec.slice('sqlite:'.length));
    await mkdir(dirname(path), { recursive: true });
    return new SqliteRegistry({ path });
  }
  if (spec.startsWith('redis://')) return RedisRegistry.open({ url: spec });
  if (spec.startsWith('redis-cluster://')) return RedisClusterRegistry.open({ url: spec });
  throw new ArgumentError(`registry must be sqlite:<file>, memory, redis://host:port or redis-cluster://host:port[,host:port...], got "${spec}"`, 'registry');
}

async function readTrusted(dir: string): Promise<TrustedKeyJson[]> {
  const files = existsSync(dir) ? (await readdir(dir)).filter((f) => f.endsWith('.pub.json')) : [];
  if (files.length === 0) throw new ArgumentError(`no trusted keys (*.pub.json) in ${dir}: run npm run build`, 'keys');
  return Promise.all(files.map(async (f) => JSON.parse(await readFile(join(dir, f), 'utf8')) as TrustedKeyJson));
}

/** A development secret kept in a gitignored file, made on first use. */
export async function devSecret(file: string): Promise<string> {
  const path = resolve(file);
  if (existsSync(path)) return (await readFile(path, 'utf8')).trim();
  await mkdir(dirname(path), { recursive: true });
  const s = randomBytes(24).toString('base64url');
  await writeFile(path, `${s}\n`, { mode: 0o600 });
  return s;
}

async function broadcast(config: HeadendConfig, catalog: AppCatalog, broadcasters: Map<string, Broadcaster>): Promise<UdpServer[]> {
  const spec = config.carousel ?? 'off';
  if (spec === 'off') return [];
  const m = /^(.+):(\d+)$/.exec(spec);
  if (m === null) throw new ArgumentError(`carousel must be host:port, group:port or off, got "${spec}"`, 'carousel');
  const host = m[1] as string;
  const port = Number(m[2]);
  const servers: UdpServer[] = [];
  let i = 0;
  for (const app of catalog.names()) {
    const set = await moduleSetFromDir(resolve(config.apps ?? 'dist/apps', app));
    const b = new Broadcaster(set, { bitrate: config.carouselBitrate ?? 2_000_000 });
    broadcasters.set(app, b);
    const multicast = /^2(2[4-9]|3\d)\./.test(host);
    const mc = { ...(config.carouselInterface === undefined ? {} : { interface: config.carouselInterface }), ...(config.carouselTtl === undefined ? {} : { ttl: config.carouselTtl }) };
    servers.push(await serveUdp(b, multicast ? { group: host, port: port + i, ...mc } : { unicast: { host, port: port + i } }));
    i++;
  }
  return servers;
}
