// The bodies of `stat` envelopes [c16, c38]: a node's resource report and a box's resource report
// [c5, c41], with their op names and checks. Data and validation only: no clock, no I/O. Bodies
// come off the wire, so parsing copies known fields and reports anything malformed as a value.

import { fail, ok, type Result, type UdpAddress } from '../../runtime/index.ts';

/** Op names of statistics traffic (the `op` of a `stat` envelope, or of a `req` for the view). */
export const STAT_OPS = {
  /** A node's report, body NodeStats, sent every report interval to the cluster. */
  node: 'stats.node',
  /** A box's resource report, body BoxStats [c5, c41]. */
  box: 'stats.box',
  /** A request for the cluster view (`req`), answered with a StatsView. */
  view: 'stats.view',
} as const;

/** One server portion on a node: its threads, queue and critical-section waits [c20-c24]. */
export interface PortionStats {
  vaddr: string;
  /** Worker threads serving it. */
  workers: number;
  /** Requests waiting for it now (queue depth). */
  queue: number;
  /** Requests completed since the portion started. */
  served: number;
  /** Critical-section wait measured from each request's start [c24], ms: EWMA and window percentiles. */
  waitEwmaMs: number;
  waitP50Ms: number;
  waitP99Ms: number;
  waitMaxMs: number;
}

/** A node's report. `at` is the node's own clock; ages are measured on the receiver's clock. */
export interface NodeStats {
  node: string;
  /** When this node process started (ms); a new value means a restart, and `seq` starts over. */
  incarnation: number;
  /** Report number within the incarnation; a lower one than already seen is late and dropped. */
  seq: number;
  at: number;
  /** The node's report interval, ms. */
  intervalMs: number;
  udp?: UdpAddress;
  /** CPU: cores, and the process's busy fraction of all of them over the last interval (0..1). */
  cpu: { cores: number; util: number };
  /** Bytes: resident set, V8 heap in use, and the limit the node must stay under. */
  memory: { rss: number; heapUsed: number; limit: number };
  /** Event-loop delay over the last interval (node:perf_hooks monitorEventLoopDelay), ms. */
  loop: { p50Ms: number; p99Ms: number; maxMs: number };
  workers: number;
  /** Work units the node can carry (workers x relative speed) and the demand on it [c30]. */
  capacity: number;
  load: number;
  /** Load per application, this and other applications [c30]. */
  apps: Record<string, number>;
  sessions: number;
  /** Requests in the node now, waiting and in service. */
  queue: number;
  /** Busy fraction of the workers over the last interval, 0..1. */
  util: number;
  /** The node's critical-section wait (the worst portion's EWMA), ms [c24]. */
  waitMs: number;
  portions: PortionStats[];
}

/** A box's resource report [c5, c41]: what a mutable module placement is decided from. */
export interface BoxStats {
  box: string;
  /** Device profile id (legacy-sd, hd-dvr, ...). */
  profile?: string;
  session?: string;
  seq: number;
  at: number;
  /** Bytes. */
  memory: { total: number; free: number };
  /** Busy fraction of the box CPU, 0..1. */
  cpuLoad: number;
  storage: { total: number; free: number };
  /** Bytes used by the app sandbox and its limit. */
  sandbox: { used: number; limit: number };
}

const ID = /^[A-Za-z0-9_.:-]{1,128}$/;

/** Reads one untrusted object; the first problem stops it with a message naming the field. */
class Reader {
  constructor(
    readonly o: Record<string, unknown>,
    readonly path: string,
  ) {}
  static of(v: unknown, path: string): Reader {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new BodyError(`${path} must be an object`);
    return new Reader(v as Record<string, unknown>, path);
  }
  num(k: string, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.o[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > max) throw new BodyError(`${this.path}.${k} must be a number in 0..${max}`);
    return v;
  }
  int(k: string): number {
    const v = this.num(k);
    if (!Number.isInteger(v)) throw new BodyError(`${this.path}.${k} must be an integer`);
    return v;
  }
  id(k: string): string {
    const v = this.o[k];
    if (typeof v !== 'string' || !ID.test(v)) throw new BodyError(`${this.path}.${k} must be an id`);
    return v;
  }
  optId(k: string): string | undefined {
    return this.o[k] === undefined ? undefined : this.id(k);
  }
  str(k: string, max = 256): string {
    const v = this.o[k];
    if (typeof v !== 'string' || v.length === 0 || v.length > max) throw new BodyError(`${this.path}.${k} must be a string`);
    return v;
  }
  sub(k: string): Reader {
    return Reader.of(this.o[k], `${this.path}.${k}`);
  }
}

class BodyError extends Error {}

function read<T>(fn: () => T): Result<T, string> {
  try {
    return ok(fn());
  } catch (e) {
    if (e instanceof BodyError) return fail(e.message);
    throw e;
  }
}

const MAX_PORTIONS = 10_000;
const MAX_APPS = 1000;

export function parseUdp(v: unknown, path: string): UdpAddress {
  const r = Reader.of(v, path);
  const port = r.int('port');
  if (port < 1 || port > 65535) throw new BodyError(`${path}.port must be in 1..65535`);
  return { host: r.str('host', 45), port };
}

/** Check a NodeStats body; gives a fresh object with only the known fields, or what is wrong. */
export function parseNodeStats(body: unknown): Result<NodeStats, string> {
  return read(() => {
    const r = Reader.of(body, 'node stats');
    const cpu = r.sub('cpu');
    const mem = r.sub('memory');
    const loop = r.sub('loop');
    const apps = r.sub('apps');
    const appKeys = Object.keys(apps.o);
    if (appKeys.length > MAX_APPS) throw new BodyError(`node stats.apps has more than ${MAX_APPS} entries`);
    const portions = r.o.portions;
    if (!Array.isArray(portions) || portions.length > MAX_PORTIONS) throw new BodyError(`node stats.portions must be an array of at most ${MAX_PORTIONS}`);
    const out: NodeStats = {
      node: r.id('node'),
      incarnation: r.int('incarnation'),
      seq: r.int('seq'),
      at: r.num('at'),
      intervalMs: r.num('intervalMs'),
      cpu: { cores: cpu.int('cores'), util: cpu.num('util', 1) },
      memory: { rss: mem.num('rss'), heapUsed: mem.num('heapUsed'), limit: mem.num('limit') },
      loop: { p50Ms: loop.num('p50Ms'), p99Ms: loop.num('p99Ms'), maxMs: loop.num('maxMs') },
      workers: r.int('workers'),
      capacity: r.num('capacity'),
      load: r.num('load'),
      apps: Object.fromEntries(appKeys.map((k) => [k, apps.num(k)])),
      sessions: r.int('sessions'),
      queue: r.int('queue'),
      util: r.num('util', 1),
      waitMs: r.num('waitMs'),
      portions: portions.map((p, i) => parsePortion(p, `node stats.portions[${i}]`)),
    };
    if (r.o.udp !== undefined) out.udp = parseUdp(r.o.udp, 'node stats.udp');
    return out;
  });
}

function parsePortion(v: unknown, path: string): PortionStats {
  const r = Reader.of(v, path);
  return {
    vaddr: r.str('vaddr'),
    workers: r.int('workers'),
    queue: r.int('queue'),
    served: r.int('served'),
    waitEwmaMs: r.num('waitEwmaMs'),
    waitP50Ms: r.num('waitP50Ms'),
    waitP99Ms: r.num('waitP99Ms'),
    waitMaxMs: r.num('waitMaxMs'),
  };
}

/** Check a BoxStats body; gives a fresh object with only the known fields, or what is wrong. */
export function parseBoxStats(body: unknown): Result<BoxStats, string> {
  return read(() => {
    const r = Reader.of(body, 'box stats');
    const mem = r.sub('memory');
    const sto = r.sub('storage');
    const sbx = r.sub('sandbox');
    const out: BoxStats = {
      box: r.id('box'),
      seq: r.int('seq'),
      at: r.num('at'),
      memory: { total: mem.num('total'), free: mem.num('free') },
      cpuLoad: r.num('cpuLoad', 1),
      storage: { total: sto.num('total'), free: sto.num('free') },
      sandbox: { used: sbx.num('used'), limit: sbx.num('limit') },
    };
    const profile = r.optId('profile');
    if (profile !== undefined) out.profile = profile;
    const session = r.optId('session');
    if (session !== undefined) out.session = session;
    return out;
  });
}
