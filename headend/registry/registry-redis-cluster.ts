// Redis Cluster adapter of the Registry port [c32]: past one Redis. The only file importing
// ioredis's Cluster. Each compare-and-set is one script on one shard (hash tags:
// registry-redis-cluster-keys.ts), followed by WAIT for a replica; the indexes that span shards
// are supersets kept outside the scripts and filtered on read. docs/REGISTRY.md "Redis Cluster".

import { Cluster, Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { ChannelClosedError, type Clock, Codes, fail, ok, type Result, systemClock, VADDR_SCHEME, WeftError } from '../../runtime/index.ts';
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
  type Registry,
  type SessionFilter,
  type SessionPatch,
  type SessionRecord,
} from './registry.ts';

export type { ClusterRegistryStats, RedisClusterRegistryOptions };
import { DELETE_CHECKPOINT } from './registry-redis-scripts.ts';
import { CLUSTER_BIND, CLUSTER_CREATE_SESSION, CLUSTER_DELETE_SESSION, CLUSTER_MOVE, CLUSTER_PUT_CHECKPOINT, CLUSTER_UNBIND, CLUSTER_UPDATE_SESSION } from './registry-redis-cluster-scripts.ts';
import { checkClusterOptions, ClusterKeys, type ClusterRegistryStats, type RedisClusterRegistryOptions } from './registry-redis-cluster-keys.ts';
import { ClusterChangeFeed, EpochMemory } from './registry-redis-cluster-feed.ts';
import { pairs, toLocation, toSession } from './registry-redis.ts';
import { type Arg, ClusterWriter, MAX_REDIRECTS, REDIRECT, refreshSlots, type Script, script } from './registry-redis-cluster-writer.ts';

const ID = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

const SCRIPTS = { bind: script(CLUSTER_BIND), move: script(CLUSTER_MOVE), unbind: script(CLUSTER_UNBIND), create: script(CLUSTER_CREATE_SESSION), update: script(CLUSTER_UPDATE_SESSION), del: script(CLUSTER_DELETE_SESSION), putCkpt: script(CLUSTER_PUT_CHECKPOINT), delCkpt: script(DELETE_CHECKPOINT) };

type LocResult = Result<LocationRecord, Conflict<LocationRecord>>;
type SessResult = Result<SessionRecord, Conflict<SessionRecord>>;

export class RedisClusterRegistry implements Registry {
  readonly kind = 'redis-cluster';
  readonly prefix: string;
  readonly stats: ClusterRegistryStats = { waitShort: 0, failed: 0, resets: 0, redirected: 0 };
  readonly #cluster: Cluster;
  readonly #keys: ClusterKeys;
  readonly #clock: Clock;
  readonly #feed: ChangeFeed;
  readonly #changes: ClusterChangeFeed;
  readonly #epochs = new EpochMemory();
  readonly #origin = randomUUID();
  readonly #writer: ClusterWriter;
  #closed = false;
  /** [D99] Stored values read and dropped as invalid. */
  readonly faults = { switchId: 0 };
  readonly #callMs: number;

  /** Connect to the cluster, subscribe to the change channel, and wait until both are ready. */
  static async open(options: RedisClusterRegistryOptions): Promise<RedisClusterRegistry> {
    const { seeds, timeout, prefix, replicas, waitMs, callMs } = checkClusterOptions(options);
    const cluster = new Cluster(seeds, {
      lazyConnect: true,
      enableAutoPipelining: true,
      slotsRefreshTimeout: timeout,
      redisOptions: { connectTimeout: timeout, maxRetriesPerRequest: 3, connectionName: `weft-registry:${prefix}` },
    });
    cluster.on('error', () => {}); // commands fail with their own errors; the pool reconnects
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([cluster.connect(), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`not ready in ${timeout} ms`)), timeout)))]);
    } catch (cause) {
      cluster.disconnect();
      throw new WeftError(Codes.UNAVAILABLE, `RedisClusterRegistry: cannot reach the cluster at ${options.url}`, { cause });
    } finally {
      clearTimeout(timer);
    }
    const r = new RedisClusterRegistry(cluster, prefix, options, { replicas, ms: waitMs }, callMs);
    try {
      await r.#changes.start();
    } catch (cause) {
      await r.close();
      throw new WeftError(Codes.UNAVAILABLE, `RedisClusterRegistry: cannot subscribe to ${r.#keys.channel}`, { cause });
    }
    return r;
  }

  private constructor(cluster: Cluster, prefix: string, options: RedisClusterRegistryOptions, wait: { replicas: number; ms: number }, callMs: number) {
    this.#callMs = callMs;
    this.#cluster = cluster;
    this.prefix = prefix;
    this.#keys = new ClusterKeys(prefix);
    this.#clock = options.clock ?? systemClock;
    this.#writer = new ClusterWriter(cluster, wait, () => void this.stats.waitShort++);
    const onError = options.onError ?? (() => {});
    this.#feed = new ChangeFeed(onError);
    this.#changes = new ClusterChangeFeed({
      channel: this.#keys.channel,
      origin: this.#origin,
      nodes: () => cluster.nodes('all').map((n) => ({ host: n.options.host ?? '127.0.0.1', port: n.options.port ?? 6379 })),
      connect: (host, port) => new Redis({ host, port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 1, connectionName: `weft-registry-sub:${prefix}` }),
      emit: (c) => {
        if (c.kind === 'reset') this.stats.resets++;
        else if (c.kind === 'location') this.#epochs.saw(c.vaddr, c.epoch);
        this.#feed.emit(c);
      },
      onError,
    });
    // A node leaving the topology is a failover (or a removal): writes its master acknowledged
    // may not have reached the replica now serving, so every cache starts over.
    cluster.on('-node', () => this.#changes.nodeLeft());
  }

  async bind(vaddr: string, location: Location): Promise<LocResult> {
    const { app, session } = this.#keys.tagOf(vaddr);
    const loc = checkLocation('bind', location);
    this.#open();
    const now = this.#clock.now();
    const head = this.#head({ kind: 'location', vaddr, deleted: false }, 'epoch');
    const args = [this.#keys.channel, vaddr, `${app}/${session}`, ...locArgs(loc), now, this.#epochs.get(vaddr), head];
    const out = (await this.#withIndex(this.#keys.nodeLocs(loc.node), vaddr, () => this.#write(SCRIPTS.bind, [this.#keys.loc(vaddr), this.#keys.sessionLocs(app, session)], args))) as [number, unknown];
    if (out[0] === 0) {
      const current = toLocation(pairs(out[1] as string[]));
      this.#epochs.saw(vaddr, current.epoch);
      if (current.node !== loc.node) await this.#prune(this.#keys.nodeLocs(loc.node), vaddr, async () => (await this.lookup(vaddr))?.node === loc.node);
      return fail({ reason: 'exists', current });
    }
    const epoch = Number(out[1]);
    this.#epochs.saw(vaddr, epoch);
    this.#feed.emit({ kind: 'location', vaddr, epoch, deleted: false });
    return ok({ vaddr, ...loc, epoch, updatedAt: now });
  }

  // [c31, c32] the script compares the epoch and re-points the record in one step: one mover wins.
  async move(vaddr: string, location: Location, expectedEpoch: number): Promise<LocResult> {
    const key = this.#keys.loc(vaddr);
    const loc = checkLocation('move', location);
    checkEpoch('move', 'expectedEpoch', expectedEpoch);
    this.#open();
    const now = this.#clock.now();
    const head = this.#head({ kind: 'location', vaddr, deleted: false }, 'epoch');
    const args = [this.#keys.channel, expectedEpoch, ...locArgs(loc), now, this.#epochs.get(vaddr), head];
    const out = (await this.#withIndex(this.#keys.nodeLocs(loc.node), vaddr, () => this.#write(SCRIPTS.move, [key], args))) as [number, unknown, string?];
    const stillMine = async (): Promise<boolean> => (await this.lookup(vaddr))?.node === loc.node;
    if (out[0] !== 2) {
      await this.#prune(this.#keys.nodeLocs(loc.node), vaddr, stillMine);
      if (out[0] === 0) return fail({ reason: 'missing' });
      const current = toLocation(pairs(out[1] as string[]));
      this.#epochs.saw(vaddr, current.epoch);
      return fail({ reason: 'stale', current });
    }
    const epoch = Number(out[1]);
    const old = out[2] ?? '';
    this.#epochs.saw(vaddr, epoch);
    this.#feed.emit({ kind: 'location', vaddr, epoch, deleted: false });
    if (old !== loc.node && old !== '') await this.#prune(this.#keys.nodeLocs(old), vaddr, async () => (await this.lookup(vaddr))?.node === old);
    return ok({ vaddr, ...loc, epoch, updatedAt: now });
  }

  async unbind(vaddr: string, expectedEpoch?: number): Promise<LocResult> {
    const { app, session } = this.#keys.tagOf(vaddr);
    if (expectedEpoch !== undefined) checkEpoch('unbind', 'expectedEpoch', expectedEpoch);
    this.#open();
    const head = this.#head({ kind: 'location', vaddr, deleted: true }, 'epoch');
    const out = (await this.#write(SCRIPTS.unbind, [this.#keys.loc(vaddr), this.#keys.sessionLocs(app, session)], [this.#keys.channel, vaddr, expectedEpoch ?? '', head])) as [number, string[]?];
    if (out[0] === 0) return fail({ reason: 'missing' });
    const rec = toLocation(pairs(out[1]));
    this.#epochs.saw(vaddr, rec.epoch);
    if (out[0] === 1) return fail({ reason: 'stale', current: rec });
    this.#feed.emit({ kind: 'location', vaddr, epoch: rec.epoch, deleted: true });
    await this.#prune(this.#keys.nodeLocs(rec.node), vaddr, async () => (await this.lookup(vaddr))?.node === rec.node);
    return ok(rec);
  }

  async lookup(vaddr: string): Promise<LocationRecord | undefined> {
    this.#open();
    let key: string;
    try {
      key = this.#keys.loc(vaddr);
    } catch {
      return undefined;
    }
    const h = await this.#read(() => this.#cluster.hgetall(key));
    if (h.epoch === undefined) return undefined;
    const rec = toLocation(h);
    this.#epochs.saw(vaddr, rec.epoch);
    return rec;
  }

  async listByNode(node: string): Promise<LocationRecord[]> {
    checkId('listByNode', 'node', node);
    this.#open();
    const vaddrs = await this.#read(() => this.#cluster.smembers(this.#keys.nodeLocs(node)));
    return (await this.#locations(vaddrs)).filter((r) => r.node === node);
  }

  async listBySession(app: string, session: string): Promise<LocationRecord[]> {
    this.#keys.tagOf(`${VADDR_SCHEME}${app}/${session}/x`);
    this.#open();
    return this.#locations(await this.#read(() => this.#cluster.smembers(this.#keys.sessionLocs(app, session))));
  }

  async createSession(session: NewSession): Promise<SessResult> {
    const s = checkNewSession('createSession', session);
    this.#open();
    const now = this.#clock.now();
    const sets = [this.#keys.sessions(), this.#keys.nodeSessions(s.node), this.#keys.appSessions(s.app)];
    for (const set of sets) await this.#indexAdd(set, s.id);
    const change = this.#head({ kind: 'session', id: s.id, version: 1, deleted: false });
    const out = (await this.#write(SCRIPTS.create, [this.#keys.session(s.id)], [this.#keys.channel, s.id, s.app, s.box, s.node, JSON.stringify(s.placements), now, change, s.appVersion ?? '', s.switchId ?? ''], false)) as [number, string[]?];
    if (out[0] === 0) {
      const current = toSession(pairs(out[1]), this.faults);
      if (current.node !== s.node) await this.#prune(sets[1] as string, s.id, async () => (await this.getSession(s.id))?.node === s.node);
      if (current.app !== s.app) await this.#prune(sets[2] as string, s.id, async () => (await this.getSession(s.id))?.app === s.app);
      return fail({ reason: 'exists', current });
    }
    this.#feed.emit({ kind: 'session', id: s.id, version: 1, deleted: false });
    return ok({ ...s, createdAt: now, updatedAt: now, version: 1 });
  }

  async updateSession(id: string, patch: SessionPatch, expectedVersion: number): Promise<SessResult> {
    const p = checkSessionPatch('updateSession', patch);
    checkEpoch('updateSession', 'expectedVersion', expectedVersion);
    this.#open();
    if (!ID.test(id)) return fail({ reason: 'missing' });
    if (p.node !== undefined) await this.#indexAdd(this.#keys.nodeSessions(p.node), id);
    const change = this.#head({ kind: 'session', id, version: expectedVersion + 1, deleted: false });
    const args = [this.#keys.channel, expectedVersion, p.node ?? '', p.placements === undefined ? '' : JSON.stringify(p.placements), this.#clock.now(), change, p.appVersion ?? '', p.switchId ?? ''];
    const out = (await this.#write(SCRIPTS.update, [this.#keys.session(id)], args, false)) as [number, string[]?, string?];
    const onNode = (n: string) => async (): Promise<boolean> => (await this.getSession(id))?.node === n;
    if (out[0] !== 2 && p.node !== undefined) await this.#prune(this.#keys.nodeSessions(p.node), id, onNode(p.node));
    if (out[0] === 0) return fail({ reason: 'missing' });
    const rec = toSession(pairs(out[1]), this.faults);
    if (out[0] === 1) return fail({ reason: 'stale', current: rec });
    this.#feed.emit({ kind: 'session', id, version: rec.version, deleted: false });
    const old = out[2] ?? '';
    if (old !== rec.node && old !== '') await this.#prune(this.#keys.nodeSessions(old), id, onNode(old));
    return ok(rec);
  }

  async getSession(id: string): Promise<SessionRecord | undefined> {
    this.#open();
    if (typeof id !== 'string' || !ID.test(id)) return undefined;
    const h = await this.#read(() => this.#cluster.hgetall(this.#keys.session(id)));
    return h.version === undefined ? undefined : toSession(h, this.faults);
  }

  async deleteSession(id: string): Promise<boolean> {
    this.#open();
    if (typeof id !== 'string' || !ID.test(id)) return false;
    const head = this.#head({ kind: 'session', id, deleted: true }, 'version');
    const out = (await this.#write(SCRIPTS.del, [this.#keys.session(id)], [this.#keys.channel, head], false)) as [number?, string?, string?];
    if (out[0] === undefined) return false;
    this.#feed.emit({ kind: 'session', id, version: out[0], deleted: true });
    const exists = async (): Promise<boolean> => (await this.getSession(id)) !== undefined;
    for (const set of [this.#keys.sessions(), this.#keys.nodeSessions(out[1] ?? ''), this.#keys.appSessions(out[2] ?? '')]) await this.#prune(set, id, exists);
    return true;
  }

  async listSessions(filter?: SessionFilter): Promise<SessionRecord[]> {
    const f = checkSessionFilter('listSessions', filter);
    this.#open();
    const set = f.node !== undefined ? this.#keys.nodeSessions(f.node) : f.app !== undefined ? this.#keys.appSessions(f.app) : this.#keys.sessions();
    const ids = await this.#read(() => this.#cluster.smembers(set));
    const rows = await this.#read(() => Promise.all(ids.map((id) => this.#cluster.hgetall(this.#keys.session(id)))));
    const out = rows.filter((h) => h.version !== undefined).map((h) => toSession(h, this.faults));
    return out.filter((s) => (f.node === undefined || s.node === f.node) && (f.app === undefined || s.app === f.app)).sort(byId);
  }

  // [issue 13.2] the checkpoint shares its vaddr's tag, so the fence reads the location in the script.
  async putCheckpoint(checkpoint: NewCheckpoint): Promise<Result<CheckpointRecord, Conflict<CheckpointRecord>>> {
    const c = checkCheckpoint('putCheckpoint', checkpoint);
    this.#open();
    const now = this.#clock.now();
    const state = Buffer.from(c.state.buffer, c.state.byteOffset, c.state.byteLength);
    const out = (await this.#write(SCRIPTS.putCkpt, [this.#keys.ckpt(c.vaddr), this.#keys.loc(c.vaddr)], [c.vaddr, c.node, c.epoch, c.seq, state, now], false)) as [number];
    if (out[0] === 1) {
      const current = await this.getCheckpoint(c.vaddr);
      return fail(current === undefined ? { reason: 'stale' } : { reason: 'stale', current });
    }
    return ok({ ...c, writtenAt: now });
  }

  async getCheckpoint(vaddr: string): Promise<CheckpointRecord | undefined> {
    this.#open();
    let key: string;
    try {
      key = this.#keys.ckpt(vaddr);
    } catch {
      return undefined;
    }
    const h = await this.#read(() => this.#cluster.hgetallBuffer(key));
    if (h.epoch === undefined || h.state === undefined) return undefined;
    const text = (k: string): string => h[k]?.toString('utf8') ?? '';
    return { vaddr: text('vaddr'), node: text('node'), epoch: Number(text('epoch')), seq: Number(text('seq')), state: new Uint8Array(h.state), writtenAt: Number(text('writtenAt')) };
  }

  async deleteCheckpoint(vaddr: string, upToEpoch?: number): Promise<boolean> {
    const key = this.#keys.ckpt(vaddr);
    if (upToEpoch !== undefined) checkEpoch('deleteCheckpoint', 'upToEpoch', upToEpoch);
    this.#open();
    return ((await this.#write(SCRIPTS.delCkpt, [key], [upToEpoch ?? ''], false)) as number) === 1;
  }

  watch(listener: ChangeListener): () => void {
    this.#open();
    return this.#feed.add(listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#feed.clear();
    this.#changes.stop();
    await this.#cluster.quit().catch(() => this.#cluster.disconnect());
  }

  /** The change text with the origin, and the field the script completes (`"epoch":N}`). */
  #head(change: Record<string, unknown>, last?: string): string {
    const text = JSON.stringify({ ...change, origin: this.#origin });
    return last === undefined ? text : `${text.slice(0, -1)},"${last}":`;
  }

  /** Run a script on its shard; claims, moves and unbinds then WAIT for replicas (group-committed). */
  async #write(s: Script, keys: string[], args: Arg[], wait = true): Promise<unknown> {
    return this.#read(() => this.#writer.write(s, keys, args, wait));
  }

  /** A cluster call; failures (failover in progress, no shard) become UNAVAILABLE, counted. */
  async #read<T>(fn: () => Promise<T>): Promise<T> {
    for (let redirects = 0; ; redirects++) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer in ${this.#callMs} ms`)), this.#callMs)));
      try {
        return await Promise.race([fn(), late]);
      } catch (e) {
        // A failover moved the slot: an autopipelined read gets MOVED without ioredis learning the
        // new owner, so every later read would too. Learn it and read again (a few times at most).
        if (!(e instanceof Error && REDIRECT.test(e.message)) || redirects >= MAX_REDIRECTS) throw this.#unavailable(e);
        this.stats.redirected++;
        await refreshSlots(this.#cluster);
      } finally {
        clearTimeout(timer);
      }
    }
  }

  #unavailable(e: unknown): WeftError {
    this.stats.failed++;
    return e instanceof WeftError ? e : new WeftError(Codes.UNAVAILABLE, `registry: the Redis Cluster did not answer: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }

  /** Indexes across shards are supersets: add before the record is written. */
  async #indexAdd(set: string, member: string): Promise<void> {
    await this.#read(() => this.#cluster.sadd(set, member));
  }

  /**
   * The index entry and the write leave in the same turn (the entry first), so a process that
   * dies after sending has sent both: a record is never without its entry. A failed add is made
   * again once the write is done.
   */
  async #withIndex(set: string, member: string, write: () => Promise<unknown>): Promise<unknown> {
    const [added, out] = await Promise.allSettled([this.#indexAdd(set, member), write()]);
    if (out.status === 'rejected') throw out.reason;
    if (added.status === 'rejected') await this.#indexAdd(set, member);
    return out.value;
  }

  /** Remove an index entry, then put it back if the record still belongs (a racing writer). */
  async #prune(set: string, member: string, stillBelongs: () => Promise<boolean>): Promise<void> {
    await this.#read(() => this.#cluster.srem(set, member));
    if (await stillBelongs()) await this.#indexAdd(set, member);
  }

  async #locations(vaddrs: string[]): Promise<LocationRecord[]> {
    const rows = await this.#read(() => Promise.all(vaddrs.map((v) => this.#cluster.hgetall(this.#keys.loc(v)))));
    return rows.filter((h) => h.epoch !== undefined).map(toLocation).sort(byVaddr);
  }

  #open(): void {
    if (this.#closed) throw new ChannelClosedError('registry closed');
  }
}

function locArgs(loc: Location): (string | number)[] {
  return [loc.node, loc.queue ?? '', loc.udp?.host ?? '', loc.udp?.port ?? ''];
}
