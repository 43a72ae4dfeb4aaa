// Redis adapter of the release store, for head-end clusters: one Redis (`redis://`) or a Redis
// Cluster (`redis-cluster://seed,...`). One hash per release, keys hash-tagged by app (`{app}`)
// so each compare-and-set script touches one slot; every other command names one key (the app
// list, a counter). The bytes are stored as published. Counters are plain INCRs.
import { Cluster, Redis } from 'ioredis';
import { parseClusterUrl } from '../registry/registry-redis-cluster-keys.ts';
import { byAppVersion, checkCounter, checkKey, checkState, mayReplace, sameBytes, type NewRelease, type PublishOptions, type PublishOutcome, type Release, type ReleaseHead, type ReleaseState, type ReleaseStore, type StoreAnnouncement, type UpdateOutcome } from './store.ts';
import { decode, encode } from 'cbor-x';
import { announceChannel, RedisAnnouncements, type AnnouncementStats } from './release-store-redis-announce.ts';
import { Durability, type DurabilityStats } from './release-store-redis-durable.ts';

// Each write announces its app on the store's channel in the same atomic step (D103; a channel is no key).
// KEYS[1] release hash, KEYS[2] the app's version set, KEYS[3] the app's change counter;
// ARGV: version, channel, app, then field/value pairs.
const PUBLISH = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('INCR', KEYS[3])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1`;
// KEYS[1] release hash, KEYS[2] the app's change counter; ARGV: expected rev, state, plan, channel, app.
const UPDATE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 'not-found' end
if redis.call('HGET', KEYS[1], 'rev') ~= ARGV[1] then return 'stale' end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'plan', ARGV[3], 'rev', tostring(tonumber(ARGV[1]) + 1))
redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 'ok'`;

/** The keys of one release, of its app's version set and of its app's change counter: one hash
 *  tag, so one slot in a cluster (a write and its counter move in one script or transaction). */
export function releaseKeys(prefix: string, app: string, version: string): { release: string; versions: string; changes: string } {
  return { release: `${prefix}rel:{${app}}:${version}`, versions: `${prefix}rel:{${app}}:versions`, changes: `${prefix}rel:{${app}}:changes` };
}

/** How long a write on a cluster waits for its replica, ms (an operator's write: longer than a claim's 100 ms). */
const WAIT_MS = 500;
/** How long a cluster may take to answer its first slots query, ms. */
const CLUSTER_CONNECT_MS = 10_000;

/** The announcements' connection to the cluster's `attempt`-th node (in turn: a lost node is passed over). */
function clusterSubscriber(cluster: Cluster, attempt: number, prefix: string): Redis {
  const nodes = cluster.nodes('all');
  const n = nodes[attempt % Math.max(1, nodes.length)];
  if (n === undefined) throw new Error('no cluster node known');
  return new Redis({ host: n.options.host, port: n.options.port, lazyConnect: true, retryStrategy: () => null, connectTimeout: CLUSTER_CONNECT_MS, connectionName: `weft-releases-sub:${prefix}` });
}

export class RedisReleaseStore implements ReleaseStore {
  readonly kind: 'redis' | 'redis-cluster';
  #redis: Redis | Cluster;
  #prefix: string;
  /** Hears the writes of every store over the same data (D103). */
  #announcements: RedisAnnouncements;
  /** On a cluster each write waits for a replica; counters never repeat a value (wave 16). */
  #durable: Durability;

  private constructor(redis: Redis | Cluster, prefix: string, announcements: RedisAnnouncements) {
    this.#redis = redis;
    this.#prefix = prefix;
    this.#announcements = announcements;
    this.kind = redis instanceof Cluster ? 'redis-cluster' : 'redis';
    this.#durable = new Durability(redis, { replicas: this.kind === 'redis-cluster' ? 1 : 0, ms: WAIT_MS });
  }

  /** `redis://host:port[/db]` or `redis-cluster://host:port[,host:port...]` (seed nodes). */
  static async open(url: string, prefix = 'weft:'): Promise<RedisReleaseStore> {
    if (url.startsWith('redis-cluster://')) return RedisReleaseStore.#openCluster(url, prefix);
    if (!/^rediss?:\/\//.test(url)) throw new RangeError('RedisReleaseStore: url must be redis://host:port[/db] or redis-cluster://host:port[,host:port...]');
    const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 3, connectionName: `weft-releases:${prefix}` });
    redis.on('error', () => {}); // reconnects on its own; commands fail with their own errors
    await redis.connect();
    let announcements: RedisAnnouncements;
    try {
      announcements = await RedisAnnouncements.open(() => redis.duplicate({ connectionName: `weft-releases-sub:${prefix}`, lazyConnect: true, retryStrategy: () => null }), prefix);
    } catch (e) {
      redis.disconnect();
      throw e;
    }
    return new RedisReleaseStore(redis, prefix, announcements);
  }

  static async #openCluster(url: string, prefix: string): Promise<RedisReleaseStore> {
    const cluster = new Cluster(parseClusterUrl(url), {
      lazyConnect: true,
      slotsRefreshTimeout: CLUSTER_CONNECT_MS,
      redisOptions: { connectTimeout: CLUSTER_CONNECT_MS, maxRetriesPerRequest: 3, connectionName: `weft-releases:${prefix}` },
    });
    cluster.on('error', () => {}); // the pool reconnects; commands fail with their own errors
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([cluster.connect(), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`cluster not ready in ${CLUSTER_CONNECT_MS} ms`)), CLUSTER_CONNECT_MS)))]);
    } catch (e) {
      cluster.disconnect();
      throw new Error(`RedisReleaseStore: cannot reach the cluster at ${url}: ${(e as Error).message}`, { cause: e });
    } finally {
      clearTimeout(timer);
    }
    let announcements: RedisAnnouncements;
    try {
      announcements = await RedisAnnouncements.open((i) => clusterSubscriber(cluster, i, prefix), prefix);
    } catch (e) {
      cluster.disconnect();
      throw e;
    }
    return new RedisReleaseStore(cluster, prefix, announcements);
  }

  #key(app: string, version: string): string {
    return releaseKeys(this.#prefix, app, version).release;
  }

  #versions(app: string): string {
    return releaseKeys(this.#prefix, app, '0.0.0').versions;
  }

  async publish(r: NewRelease, o: PublishOptions = {}): Promise<PublishOutcome> {
    checkKey(r.app, r.version);
    const sources = encode(Object.fromEntries(Object.entries(r.sources).map(([k, v]) => [k, Buffer.from(v)])));
    const fields = ['manifest', Buffer.from(r.manifestBytes), 'signature', Buffer.from(r.signature), 'sources', sources, 'state', 'staged', 'publishedBy', r.publishedBy, 'publishedAt', String(r.publishedAt), 'plan', '', 'rev', '1'];
    const keys = releaseKeys(this.#prefix, r.app, r.version);
    // The app list first (a superset: an app listed with no version is harmless, a version whose app is not listed is lost to list()).
    const listed = (await this.#redis.sadd(`${this.#prefix}rel:apps`, r.app)) === 0 || (await this.#durable.confirmed(`${this.#prefix}rel:apps`));
    const created = (await this.#redis.eval(PUBLISH, 3, keys.release, keys.versions, keys.changes, r.version, announceChannel(this.#prefix), r.app, ...fields)) === 1;
    const unconfirmed = created && !((await this.#durable.confirmed(keys.release)) && listed) ? { unconfirmed: true as const } : {};
    const release = (await this.get(r.app, r.version)) as Release;
    if (created) return { ok: true, release, created: true, ...unconfirmed };
    if (sameBytes(release, r)) return { ok: true, release, created: false };
    if (!mayReplace(release, o)) return { ok: false, reason: 'different-bytes', existing: release };
    const replaced = await this.#redis
      .multi()
      .hset(keys.release, 'manifest', Buffer.from(r.manifestBytes), 'signature', Buffer.from(r.signature), 'sources', sources, 'publishedAt', String(r.publishedAt), 'rev', String(release.rev + 1))
      .incr(keys.changes)
      .publish(announceChannel(this.#prefix), r.app)
      .exec();
    const failed = replaced?.find(([e]) => e !== null);
    if (replaced === null || failed !== undefined) throw new Error(`release store: replacing ${r.app} ${r.version} failed: ${(failed?.[0] as Error | undefined)?.message ?? 'transaction aborted'}`);
    const confirmed = await this.#durable.confirmed(keys.release);
    return { ok: true, release: (await this.get(r.app, r.version)) as Release, created: false, replaced: true, ...(confirmed ? {} : { unconfirmed: true as const }) };
  }

  async get(app: string, version: string): Promise<Release | undefined> {
    checkKey(app, version);
    const h = await this.#redis.hgetallBuffer(this.#key(app, version));
    if (h.rev === undefined) return undefined;
    const text = (k: string): string => (h[k] ?? Buffer.alloc(0)).toString('utf8');
    const sources = decode(h.sources as Buffer) as Record<string, Uint8Array>;
    return {
      app,
      version,
      manifestBytes: new Uint8Array(h.manifest as Buffer),
      signature: new Uint8Array(h.signature as Buffer),
      sources: Object.fromEntries(Object.entries(sources).map(([k, v]) => [k, new Uint8Array(v)])),
      state: checkState(text('state')),
      publishedBy: text('publishedBy'),
      publishedAt: Number(text('publishedAt')),
      plan: text('plan'),
      rev: Number(text('rev')),
    };
  }

  async list(app?: string): Promise<Release[]> {
    if (app !== undefined) checkKey(app);
    const apps = app === undefined ? await this.#redis.smembers(`${this.#prefix}rel:apps`) : [app];
    const out: Release[] = [];
    for (const a of apps) {
      for (const v of await this.#redis.smembers(this.#versions(a))) {
        const r = await this.get(a, v);
        if (r !== undefined) out.push(r);
      }
    }
    return out.sort(byAppVersion);
  }

  async heads(app?: string): Promise<ReleaseHead[]> {
    if (app !== undefined) checkKey(app);
    const apps = app === undefined ? await this.#redis.smembers(`${this.#prefix}rel:apps`) : [app];
    const out: ReleaseHead[] = [];
    for (const a of apps) {
      // One round trip per app: its keys share a hash tag, so one slot (one node of a cluster).
      const versions = await this.#redis.smembers(this.#versions(a));
      const p = this.#redis.pipeline();
      for (const v of versions) p.hmget(this.#key(a, v), 'state', 'publishedAt', 'rev');
      const rows = (await p.exec()) ?? [];
      versions.forEach((version, i) => {
        const [err, f] = rows[i] ?? [];
        const [state, at, rev] = (f ?? []) as (string | null)[];
        if (err !== null && err !== undefined) throw err;
        if (rev !== null && rev !== undefined) out.push({ app: a, version, state: checkState(state), publishedAt: Number(at), rev: Number(rev) });
      });
    }
    return out.sort(byAppVersion);
  }

  async update(app: string, version: string, rev: number, patch: { state?: ReleaseState; plan?: string }): Promise<UpdateOutcome> {
    checkKey(app, version);
    const r = await this.get(app, version);
    if (r === undefined) return { ok: false, reason: 'not-found' };
    const state = patch.state === undefined ? r.state : checkState(patch.state);
    const keys = releaseKeys(this.#prefix, app, version);
    const res = await this.#redis.eval(UPDATE, 2, keys.release, keys.changes, String(rev), state, patch.plan ?? r.plan, announceChannel(this.#prefix), app);
    if (res === 'not-found') return { ok: false, reason: 'not-found' };
    const confirmed = res !== 'ok' || (await this.#durable.confirmed(keys.release));
    const now = (await this.get(app, version)) as Release;
    return res === 'ok' ? { ok: true, release: now, ...(confirmed ? {} : { unconfirmed: true as const }) } : { ok: false, reason: 'stale', current: now };
  }

  async bump(counter: string, atLeast?: number): Promise<number> {
    const least = checkCounter(counter, atLeast);
    return this.#durable.bump(`${this.#prefix}relctr:${counter}`, least);
  }

  /** Writes no replica confirmed in time, and counters raised past a value a failover took back (wave 16). */
  durabilityStats(): DurabilityStats {
    return this.#durable.stats();
  }

  /** Every app's change counter, by app name: the app list and one pipelined GET (a slot each). */
  async changes(): Promise<string> {
    const apps = (await this.#redis.smembers(`${this.#prefix}rel:apps`)).sort();
    if (apps.length === 0) return '';
    const p = this.#redis.pipeline();
    for (const a of apps) p.get(releaseKeys(this.#prefix, a, '0.0.0').changes);
    const rows = (await p.exec()) ?? [];
    return apps
      .map((a, i) => {
        const [err, n] = rows[i] ?? [];
        if (err !== null && err !== undefined) throw err;
        return `${a}:${(n as string | null) ?? 0}`;
      })
      .join(',');
  }

  watch(listener: (a: StoreAnnouncement) => void): () => void {
    return this.#announcements.watch(listener);
  }

  /** The subscription's drops, resubscriptions and failed attempts (D103). */
  announceStats(): AnnouncementStats {
    return this.#announcements.stats();
  }

  async close(): Promise<void> {
    this.#announcements.close();
    this.#redis.disconnect();
  }
}
