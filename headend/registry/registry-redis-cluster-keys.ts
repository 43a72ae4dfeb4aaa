// Key layout, URL and options of the Redis Cluster registry adapter: which hash tag each key
// carries (so a compare-and-set script stays on one shard), the `redis-cluster://` seed list and
// the checked options. Pure; no ioredis import.

import { ArgumentError, type Clock, positiveInt, rejectUnknown } from '../../runtime/index.ts';
import { vaddrKey } from './registry.ts';

/** The most seed nodes a URL may list. */
export const MAX_SEEDS = 32;

export interface Seed {
  host: string;
  port: number;
}

const SEED = /^(?:([A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}))|\[([0-9A-Fa-f:.]{2,45})\]):(\d{1,5})$/;
const USAGE = 'registry must be redis-cluster://host:port[,host:port...]';

/** The seed nodes of `redis-cluster://host:port,host:port`; ArgumentError (one line) otherwise. */
export function parseClusterUrl(url: unknown): Seed[] {
  if (typeof url !== 'string' || !url.startsWith('redis-cluster://')) throw new ArgumentError(`${USAGE}, got ${JSON.stringify(url)}`, 'registry');
  const list = url.slice('redis-cluster://'.length).replace(/\/$/, '');
  const parts = list.split(',');
  if (list === '' || parts.length > MAX_SEEDS) throw new ArgumentError(`${USAGE} with 1 to ${MAX_SEEDS} seed nodes, got "${url.slice(0, 200)}"`, 'registry');
  return parts.map((p) => {
    const m = SEED.exec(p);
    const port = Number(m?.[3]);
    if (m === null || port < 1 || port > 65535) throw new ArgumentError(`${USAGE}: "${p.slice(0, 80)}" is not host:port (port 1-65535)`, 'registry');
    return { host: m[1] ?? m[2] ?? '', port };
  });
}

/**
 * The keys of one prefix. A location, its session's location index and its checkpoint share the
 * tag of the session (`{s-8f2c}`), and so does that session's record; app-wide portions (`*`)
 * are tagged `{app/*}`. The cross-shard indexes are tagged by what they index.
 */
export class ClusterKeys {
  readonly prefix: string;
  readonly channel: string;

  constructor(prefix: string) {
    this.prefix = prefix;
    this.channel = `${prefix}changes`;
  }

  /** The hash tag of a vaddr (validating it). */
  tagOf(vaddr: string): { tag: string; app: string; session: string } {
    const { app, session } = vaddrKey(vaddr);
    return { tag: session === '*' ? `${app}/*` : session, app, session };
  }

  loc(vaddr: string): string {
    return `${this.prefix}{${this.tagOf(vaddr).tag}}loc:${vaddr}`;
  }

  ckpt(vaddr: string): string {
    return `${this.prefix}{${this.tagOf(vaddr).tag}}ckpt:${vaddr}`;
  }

  sessionLocs(app: string, session: string): string {
    return `${this.prefix}{${session === '*' ? `${app}/*` : session}}session-locs:${app}/${session}`;
  }

  session(id: string): string {
    return `${this.prefix}{${id}}session:${id}`;
  }

  nodeLocs(node: string): string {
    return `${this.prefix}{n:${node}}node-locs`;
  }

  nodeSessions(node: string): string {
    return `${this.prefix}{n:${node}}node-sessions`;
  }

  appSessions(app: string): string {
    return `${this.prefix}{a:${app}}app-sessions`;
  }

  sessions(): string {
    return `${this.prefix}{sessions}`;
  }
}

export interface RedisClusterRegistryOptions {
  /** `redis-cluster://host:port[,host:port...]`: seed nodes; the rest are discovered. */
  url: string;
  /** Prepended to every key and to the change channel. Default `weft:`. */
  prefix?: string;
  clock?: Clock;
  /** How long to wait for the cluster to be ready, ms. Default 5000. */
  connectTimeoutMs?: number;
  /** Replicas that must hold a claim, move or unbind before it is answered (WAIT). Default 1; 0 skips WAIT. */
  waitReplicas?: number;
  /** How long WAIT may hold a write, ms; a write it times out on is answered and counted (`stats.waitShort`). Default 100. */
  waitTimeoutMs?: number;
  /** How long one registry call may take before it fails with UNAVAILABLE (its outcome unknown), ms. Default 5000. */
  callTimeoutMs?: number;
  /** Listener errors and unreadable change messages. Default: ignored. */
  onError?: (err: unknown) => void;
}

/** What went wrong or was weakened, for statistics. */
export interface ClusterRegistryStats {
  /** Writes answered after WAIT saw fewer replicas than asked: they can vanish if their master dies now. */
  waitShort: number;
  /** Calls that failed on the cluster (a failover in progress, no shard for a slot): UNAVAILABLE. */
  failed: number;
  /** `reset` changes sent to watchers: a lost subscriber, or a node left the cluster (a failover). */
  resets: number;
  /** Reads answered MOVED/ASK/TRYAGAIN/CLUSTERDOWN (a slot moved in a failover), sent again after a slot refresh. */
  redirected: number;
}

const OPTIONS = ['url', 'prefix', 'clock', 'connectTimeoutMs', 'waitReplicas', 'waitTimeoutMs', 'callTimeoutMs', 'onError'];
const PREFIX = /^[A-Za-z0-9_.:-]{0,64}$/;

/** The options, checked by name; ArgumentError otherwise. */
export function checkClusterOptions(options: RedisClusterRegistryOptions): { seeds: Seed[]; timeout: number; prefix: string; replicas: number; waitMs: number; callMs: number } {
  rejectUnknown('RedisClusterRegistry', options, OPTIONS);
  const seeds = parseClusterUrl(options.url);
  const timeout = positiveInt('RedisClusterRegistry', 'connectTimeoutMs', options.connectTimeoutMs ?? 5000);
  const prefix = options.prefix ?? 'weft:';
  if (typeof prefix !== 'string' || !PREFIX.test(prefix)) throw new ArgumentError(`RedisClusterRegistry: prefix must match ${PREFIX.source}`, 'prefix');
  const replicas = options.waitReplicas ?? 1;
  if (!Number.isInteger(replicas) || replicas < 0 || replicas > 5) throw new ArgumentError('RedisClusterRegistry: waitReplicas must be an integer 0-5', 'waitReplicas');
  const waitMs = positiveInt('RedisClusterRegistry', 'waitTimeoutMs', options.waitTimeoutMs ?? 100);
  const callMs = positiveInt('RedisClusterRegistry', 'callTimeoutMs', options.callTimeoutMs ?? 5000);
  return { seeds, timeout, prefix, replicas, waitMs, callMs };
}

/** The cluster hash slot of a key (CRC16/XMODEM of its hash tag, or of the key, mod 16384). */
export function hashSlot(key: string): number {
  const open = key.indexOf('{');
  const close = open < 0 ? -1 : key.indexOf('}', open + 1);
  const part = close > open + 1 ? key.slice(open + 1, close) : key;
  let crc = 0;
  for (const b of Buffer.from(part, 'utf8')) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}
