// Redis adapter of the Registry port [c32]: for head-ends on several machines. The only file
// importing ioredis. Each write is one Lua script (registry-redis-scripts.ts) that checks, writes,
// maintains the index sets and PUBLISHes the change; a second connection hears other writers.

import { Redis } from 'ioredis';
import { createHash, randomUUID } from 'node:crypto';
import { ChannelClosedError, type Clock, Codes, fail, ok, positiveInt, rejectUnknown, type Result, systemClock, VADDR_SCHEME, WeftError } from '../../runtime/index.ts';
import {
  byId,
  byVaddr,
  ChangeFeed,
  type ChangeListener,
  checkCheckpoint,
  checkEpoch,
  type CheckpointRecord,
  checkId,
  checkLocation,
  checkNewSession,
  checkSessionFilter,
  checkSessionPatch,
  type Conflict,
  type Location,
  type LocationRecord,
  type NewCheckpoint,
  type NewSession,
  parseChange,
  type ReadFaults,
  type Registry,
  type RegistryChange,
  type SessionFilter,
  type SessionPatch,
  type SessionRecord,
  storedSwitchId,
  vaddrKey,
} from './registry.ts';
import { BIND, CREATE_SESSION, DELETE_CHECKPOINT, DELETE_SESSION, MOVE, PUT_CHECKPOINT, UNBIND, UPDATE_SESSION } from './registry-redis-scripts.ts';

export interface RedisRegistryOptions {
  /** `redis://host:port[/db]`. */
  url: string;
  /** Prepended to every key and to the change channel, so several head-ends can share a Redis. Default `weft:`. */
  prefix?: string;
  clock?: Clock;
  /** How long to wait for the first connection, ms. Default 3000. */
  connectTimeoutMs?: number;
  /** Listener errors and unreadable change messages. Default: ignored. */
  onError?: (err: unknown) => void;
}

const OPTIONS = ['url', 'prefix', 'clock', 'connectTimeoutMs', 'onError'];
const PREFIX = /^[A-Za-z0-9_.:-]{0,64}$/;

interface Script {
  text: string;
  sha: string;
}

const script = (text: string): Script => ({ text, sha: createHash('sha1').update(text).digest('hex') });

type LocResult = Result<LocationRecord, Conflict<LocationRecord>>;
type SessResult = Result<SessionRecord, Conflict<SessionRecord>>;

export class RedisRegistry implements Registry {
  readonly kind = 'redis';
  readonly prefix: string;
  #redis: Redis;
  #sub: Redis;
  #clock: Clock;
  #feed: ChangeFeed;
  #onError: (err: unknown) => void;
  #origin = randomUUID();
  #closed = false;
  /** [D99] Stored values read and dropped as invalid. */
  readonly faults: ReadFaults = { switchId: 0 };
  #scripts = { bind: script(BIND), move: script(MOVE), unbind: script(UNBIND), create: script(CREATE_SESSION), update: script(UPDATE_SESSION), del: script(DELETE_SESSION), putCkpt: script(PUT_CHECKPOINT), delCkpt: script(DELETE_CHECKPOINT) };

  /** Connect both connections (commands, and the change subscription) and wait until ready. */
  static async open(options: RedisRegistryOptions): Promise<RedisRegistry> {
    rejectUnknown('RedisRegistry', options, OPTIONS);
    if (typeof options?.url !== 'string' || !/^rediss?:\/\//.test(options.url)) {
      throw new WeftError(Codes.BAD_REQUEST, 'RedisRegistry: url must be redis://host:port[/db]');
    }
    const timeout = positiveInt('RedisRegistry', 'connectTimeoutMs', options.connectTimeoutMs ?? 3000);
    const prefix = options.prefix ?? 'weft:';
    if (typeof prefix !== 'string' || !PREFIX.test(prefix)) throw new WeftError(Codes.BAD_REQUEST, `RedisRegistry: prefix must match ${PREFIX.source}`);
    // Named connections, so an operator (or a test) can tell them apart in CLIENT LIST.
    const redis = new Redis(options.url, { lazyConnect: true, connectTimeout: timeout, maxRetriesPerRequest: 3, connectionName: `weft-registry:${prefix}` });
    const sub = redis.duplicate({ connectionName: `weft-registry-sub:${prefix}` });
    redis.on('error', () => {}); // reconnects on its own; commands fail with their own errors
    sub.on('error', () => {});
    try {
      await Promise.all([redis.connect(), sub.connect()]);
    } catch (cause) {
      redis.disconnect();
      sub.disconnect();
      throw new WeftError(Codes.UNAVAILABLE, `RedisRegistry: cannot connect to ${options.url}`, { cause });
    }
    const r = new RedisRegistry(redis, sub, options);
    await r.#subscribe();
    return r;
  }

  private constructor(redis: Redis, sub: Redis, options: RedisRegistryOptions) {
    this.#redis = redis;
    this.#sub = sub;
    this.prefix = options.prefix ?? 'weft:';
    this.#clock = options.clock ?? systemClock;
    this.#onError = options.onError ?? (() => {});
    this.#feed = new ChangeFeed(this.#onError);
  }

  async bind(vaddr: string, location: Location): Promise<LocResult> {
    const key = vaddrKey(vaddr);
    const loc = checkLocation('bind', location);
    this.#open();
    const now = this.#clock.now();
    const change: RegistryChange = { kind: 'location', vaddr, epoch: 1, deleted: false };
    const out = (await this.#eval(this.#scripts.bind, [vaddr, `${key.app}/${key.session}`, ...locArgs(loc), now, this.#wire(change)])) as [number, string[]?];
    if (out[0] === 0) return fail({ reason: 'exists', current: toLocation(pairs(out[1])) });
    this.#feed.emit(change);
    return ok({ vaddr, ...loc, epoch: 1, updatedAt: now });
  }

  // [c31, c32] the script compares the epoch and re-points the record in one step: one mover wins.
  async move(vaddr: string, location: Location, expectedEpoch: number): Promise<LocResult> {
    vaddrKey(vaddr);
    const loc = checkLocation('move', location);
    checkEpoch('move', 'expectedEpoch', expectedEpoch);
    this.#open();
    const now = this.#clock.now();
    const change: RegistryChange = { kind: 'location', vaddr, epoch: expectedEpoch + 1, deleted: false };
    const out = (await this.#eval(this.#scripts.move, [vaddr, expectedEpoch, ...locArgs(loc), now, this.#wire(change)])) as [number, string[]?];
    if (out[0] === 0) return fail({ reason: 'missing' });
    if (out[0] === 1) return fail({ reason: 'stale', current: toLocation(pairs(out[1])) });
    this.#feed.emit(change);
    return ok({ vaddr, ...loc, epoch: expectedEpoch + 1, updatedAt: now });
  }

  async unbind(vaddr: string, expectedEpoch?: number): Promise<LocResult> {
    vaddrKey(vaddr);
    if (expectedEpoch !== undefined) checkEpoch('unbind', 'expectedEpoch', expectedEpoch);
    this.#open();
    const head = this.#wire({ kind: 'location', vaddr, deleted: true } as unknown as RegistryChange).slice(0, -1) + ',"epoch":';
    const out = (await this.#eval(this.#scripts.unbind, [vaddr, expectedEpoch ?? '', head])) as [number, string[]?];
    if (out[0] === 0) return fail({ reason: 'missing' });
    const rec = toLocation(pairs(out[1]));
    if (out[0] === 1) return fail({ reason: 'stale', current: rec });
    this.#feed.emit({ kind: 'location', vaddr, epoch: rec.epoch, deleted: true });
    return ok(rec);
  }

  async lookup(vaddr: string): Promise<LocationRecord | undefined> {
    this.#open();
    if (typeof vaddr !== 'string') return undefined;
    const h = await this.#redis.hgetall(`${this.prefix}loc:${vaddr}`);
    return h.epoch === undefined ? undefined : toLocation(h);
  }

  async listByNode(node: string): Promise<LocationRecord[]> {
    checkId('listByNode', 'node', node);
    this.#open();
    const recs = await this.#locations(await this.#redis.smembers(`${this.prefix}node-locs:${node}`));
    return recs.filter((r) => r.node === node);
  }

  async listBySession(app: string, session: string): Promise<LocationRecord[]> {
    const key = vaddrKey(`${VADDR_SCHEME}${app}/${session}/x`);
    this.#open();
    return this.#locations(await this.#redis.smembers(`${this.prefix}session-locs:${key.app}/${key.session}`));
  }

  async createSession(session: NewSession): Promise<SessResult> {
    const s = checkNewSession('createSession', session);
    this.#open();
    const now = this.#clock.now();
    const change: RegistryChange = { kind: 'session', id: s.id, version: 1, deleted: false };
    const out = (await this.#eval(this.#scripts.create, [s.id, s.app, s.box, s.node, JSON.stringify(s.placements), now, this.#wire(change), s.appVersion ?? '', s.switchId ?? ''])) as [number, string[]?];
    if (out[0] === 0) return fail({ reason: 'exists', current: toSession(pairs(out[1]), this.faults) });
    this.#feed.emit(change);
    return ok({ ...s, createdAt: now, updatedAt: now, version: 1 });
  }

  async updateSession(id: string, patch: SessionPatch, expectedVersion: number): Promise<SessResult> {
    const p = checkSessionPatch('updateSession', patch);
    checkEpoch('updateSession', 'expectedVersion', expectedVersion);
    this.#open();
    const change: RegistryChange = { kind: 'session', id, version: expectedVersion + 1, deleted: false };
    const args = [id, expectedVersion, p.node ?? '', p.placements === undefined ? '' : JSON.stringify(p.placements), this.#clock.now(), this.#wire(change), p.appVersion ?? '', p.switchId ?? ''];
    const out = (await this.#eval(this.#scripts.update, args)) as [number, string[]?];
    if (out[0] === 0) return fail({ reason: 'missing' });
    const rec = toSession(pairs(out[1]), this.faults);
    if (out[0] === 1) return fail({ reason: 'stale', current: rec });
    this.#feed.emit(change);
    return ok(rec);
  }

  async getSession(id: string): Promise<SessionRecord | undefined> {
    this.#open();
    const h = await this.#redis.hgetall(`${this.prefix}session:${id}`);
    return h.version === undefined ? undefined : toSession(h, this.faults);
  }

  async deleteSession(id: string): Promise<boolean> {
    this.#open();
    const head = this.#wire({ kind: 'session', id, deleted: true } as unknown as RegistryChange).slice(0, -1) + ',"version":';
    const version = (await this.#eval(this.#scripts.del, [id, head])) as number;
    if (version === 0) return false;
    this.#feed.emit({ kind: 'session', id, version, deleted: true });
    return true;
  }

  async listSessions(filter?: SessionFilter): Promise<SessionRecord[]> {
    const f = checkSessionFilter('listSessions', filter);
    this.#open();
    const set = f.node !== undefined ? `node-sessions:${f.node}` : f.app !== undefined ? `app-sessions:${f.app}` : 'sessions';
    const ids = await this.#redis.smembers(this.prefix + set);
    if (ids.length === 0) return [];
    const pipe = this.#redis.pipeline();
    for (const id of ids) pipe.hgetall(`${this.prefix}session:${id}`);
    const rows = (await pipe.exec()) ?? [];
    const out: SessionRecord[] = [];
    for (const [err, h] of rows) {
      if (err !== null || (h as Record<string, string>).version === undefined) continue;
      const s = toSession(h as Record<string, string>, this.faults);
      if ((f.node === undefined || s.node === f.node) && (f.app === undefined || s.app === f.app)) out.push(s);
    }
    return out.sort(byId);
  }

  // [issue 13.2] one key per module checkpoint; the script fences older owners and writes.
  async putCheckpoint(checkpoint: NewCheckpoint): Promise<Result<CheckpointRecord, Conflict<CheckpointRecord>>> {
    const c = checkCheckpoint('putCheckpoint', checkpoint);
    this.#open();
    const now = this.#clock.now();
    const state = Buffer.from(c.state.buffer, c.state.byteOffset, c.state.byteLength);
    const out = (await this.#evalKeys(this.#scripts.putCkpt, [this.#ckptKey(c.vaddr), `${this.prefix}loc:${c.vaddr}`], [c.vaddr, c.node, c.epoch, c.seq, state, now])) as [number];
    if (out[0] === 1) {
      const current = await this.getCheckpoint(c.vaddr);
      return fail(current === undefined ? { reason: 'stale' } : { reason: 'stale', current });
    }
    return ok({ ...c, writtenAt: now });
  }

  async getCheckpoint(vaddr: string): Promise<CheckpointRecord | undefined> {
    this.#open();
    if (typeof vaddr !== 'string') return undefined;
    const h = await this.#redis.hgetallBuffer(this.#ckptKey(vaddr));
    if (h.epoch === undefined || h.state === undefined) return undefined;
    const text = (k: string): string => h[k]?.toString('utf8') ?? '';
    return { vaddr: text('vaddr'), node: text('node'), epoch: Number(text('epoch')), seq: Number(text('seq')), state: new Uint8Array(h.state), writtenAt: Number(text('writtenAt')) };
  }

  async deleteCheckpoint(vaddr: string, upToEpoch?: number): Promise<boolean> {
    vaddrKey(vaddr);
    if (upToEpoch !== undefined) checkEpoch('deleteCheckpoint', 'upToEpoch', upToEpoch);
    this.#open();
    return ((await this.#evalKeys(this.#scripts.delCkpt, [this.#ckptKey(vaddr)], [upToEpoch ?? ''])) as number) === 1;
  }

  watch(listener: ChangeListener): () => void {
    this.#open();
    return this.#feed.add(listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#feed.clear();
    await Promise.allSettled([this.#redis.quit(), this.#sub.quit()]);
  }

  async #subscribe(): Promise<void> {
    const channel = `${this.prefix}changes`;
    this.#sub.on('message', (ch: string, text: string) => {
      if (ch !== channel || this.#closed) return;
      let raw: unknown;
      try {
        raw = JSON.parse(text);
      } catch (e) {
        this.#onError(e);
        return;
      }
      if ((raw as { origin?: unknown }).origin === this.#origin) return; // heard already, synchronously
      const change = parseChange(raw);
      if (change === undefined) this.#onError(new Error(`unreadable registry change: ${text.slice(0, 80)}`));
      else this.#feed.emit(change);
    });
    // Pub/sub is fire-and-forget: whatever was published while the subscription was down is lost,
    // so after a reconnect every cache must start over.
    let first = true;
    this.#sub.on('ready', () => {
      if (!first && !this.#closed) this.#feed.emit({ kind: 'reset' });
      first = false;
    });
    await this.#sub.subscribe(channel);
    if (this.#sub.status === 'ready') first = false;
  }

  async #locations(vaddrs: string[]): Promise<LocationRecord[]> {
    if (vaddrs.length === 0) return [];
    const pipe = this.#redis.pipeline();
    for (const v of vaddrs) pipe.hgetall(`${this.prefix}loc:${v}`);
    const rows = (await pipe.exec()) ?? [];
    const out: LocationRecord[] = [];
    for (const [err, h] of rows) if (err === null && (h as Record<string, string>).epoch !== undefined) out.push(toLocation(h as Record<string, string>));
    return out.sort(byVaddr);
  }

  #wire(change: RegistryChange): string {
    return JSON.stringify({ ...change, origin: this.#origin });
  }

  async #eval(s: Script, args: (string | number)[]): Promise<unknown> {
    try {
      return await this.#redis.evalsha(s.sha, 0, this.prefix, ...args);
    } catch (e) {
      if (!(e instanceof Error) || !e.message.startsWith('NOSCRIPT')) throw e;
      return this.#redis.eval(s.text, 0, this.prefix, ...args);
    }
  }

  #ckptKey(vaddr: string): string {
    return `${this.prefix}ckpt:${vaddr}`;
  }

  async #evalKeys(s: Script, keys: string[], args: (string | number | Buffer)[]): Promise<unknown> {
    try {
      return await this.#redis.evalsha(s.sha, keys.length, ...keys, ...args);
    } catch (e) {
      if (!(e instanceof Error) || !e.message.startsWith('NOSCRIPT')) throw e;
      return this.#redis.eval(s.text, keys.length, ...keys, ...args);
    }
  }

  #open(): void {
    if (this.#closed) throw new ChannelClosedError('registry closed');
  }
}

function locArgs(loc: Location): (string | number)[] {
  return [loc.node, loc.queue ?? '', loc.udp?.host ?? '', loc.udp?.port ?? ''];
}

export function pairs(flat: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (flat === undefined) return out;
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i] as string] = flat[i + 1] as string;
  return out;
}

export function toLocation(h: Record<string, string>): LocationRecord {
  const r: LocationRecord = { vaddr: h.vaddr ?? '', node: h.node ?? '', epoch: Number(h.epoch), updatedAt: Number(h.updatedAt) };
  if (h.queue !== undefined) r.queue = h.queue;
  if (h.host !== undefined && h.port !== undefined) r.udp = { host: h.host, port: Number(h.port) };
  return r;
}

export function toSession(h: Record<string, string>, faults: ReadFaults): SessionRecord {
  const switchId = storedSwitchId(h.switchId, faults);
  return {
    id: h.id ?? '',
    app: h.app ?? '',
    box: h.box ?? '',
    node: h.node ?? '',
    placements: JSON.parse(h.placements ?? '{}') as SessionRecord['placements'],
    ...(h.appVersion === undefined ? {} : { appVersion: h.appVersion }),
    ...(switchId === undefined ? {} : { switchId }),
    createdAt: Number(h.createdAt),
    updatedAt: Number(h.updatedAt),
    version: Number(h.version),
  };
}
