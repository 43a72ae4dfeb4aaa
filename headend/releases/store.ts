// The release store port (issue 15): every published version of every app (the signed manifest
// and module bytes, exactly as published), its state and its rollout plan, plus durable
// counters so carousel versions and transaction ids continue across restarts, never from 0.
// Adapters: release-store-sqlite.ts (embedded), release-store-redis.ts (clusters), memory below.

export const RELEASE_STATES = ['staged', 'rolling', 'live', 'halted', 'rolled-back', 'retired'] as const;
export type ReleaseState = (typeof RELEASE_STATES)[number];

export interface Release {
  app: string;
  version: string;
  manifestBytes: Uint8Array;
  signature: Uint8Array;
  /** Module bytes by module name. */
  sources: Record<string, Uint8Array>;
  state: ReleaseState;
  /** Who published it (the operator login), and when (ms). */
  publishedBy: string;
  publishedAt: number;
  /** The rollout plan as JSON text, or '' before one is set. */
  plan: string;
  /** Bumped on every state or plan change: compare-and-set token. */
  rev: number;
}

export type NewRelease = Omit<Release, 'state' | 'plan' | 'rev'>;

/** A release without its bytes or plan: what a node's catalog sync compares every second. */
export type ReleaseHead = Pick<Release, 'app' | 'version' | 'state' | 'publishedAt' | 'rev'>;

/** `unconfirmed`: stored on a Redis Cluster master that no replica confirmed in time: a failover of it now would undo the write. */
export type PublishOutcome = { ok: true; release: Release; created: boolean; replaced?: boolean; unconfirmed?: true } | { ok: false; reason: 'different-bytes'; existing: Release };

/** `replaceIfPublishedBy`: other bytes under a published version replace it only when that
 *  version was published by this publisher (the head-end's mirror of its apps folder, `startup`). */
export interface PublishOptions {
  replaceIfPublishedBy?: string;
}
export type UpdateOutcome = { ok: true; release: Release; unconfirmed?: true } | { ok: false; reason: 'not-found' } | { ok: false; reason: 'stale'; current: Release };

/** What a store's watcher hears. `changed`: a write changed an app's heads (through this store or
 *  any other over the same data); its body is whatever the store carried, untrusted (anyone who
 *  can write to a shared Redis can publish): check it names an app before use. `resync`:
 *  announcements may have been lost (a subscription made again after its connection dropped). */
export type StoreAnnouncement = { kind: 'changed'; body: unknown } | { kind: 'resync' };

export interface ReleaseStore {
  /** `memory`, `sqlite`, `redis` or `redis-cluster`, for logs and the node's state. */
  readonly kind: string;
  /** Store a version; publishing the same bytes again is a no-op, other bytes under a published version are refused. */
  publish(r: NewRelease, o?: PublishOptions): Promise<PublishOutcome>;
  get(app: string, version: string): Promise<Release | undefined>;
  /** Every version of one app (or of all apps), oldest first; bytes included. */
  list(app?: string): Promise<Release[]>;
  /** The same versions without bytes or plan, oldest first (catalog-sync.ts reads these every second). */
  heads(app?: string): Promise<ReleaseHead[]>;
  /** Change state and/or plan if `rev` is still the record's revision. */
  update(app: string, version: string, rev: number, patch: { state?: ReleaseState; plan?: string }): Promise<UpdateOutcome>;
  /**
   * Add one to a named durable counter and return the new value (first call: 1). With `atLeast`,
   * the value is never below it and the counter goes on from there: the rollout directive's seq
   * passes the clock's ms, so a leader that takes over after a failover took back the counter's
   * last values still hands out numbers above them (D113).
   */
  bump(counter: string, atLeast?: number): Promise<number>;
  /** A token that differs after any change heads() would show (a publish that stores bytes, an
   *  update), moved in the same write as the change: an unchanged token means unchanged heads, so
   *  a catalog sync of an unchanged store is this one read (catalog-sync.ts). Opaque: compare only. */
  changes(): Promise<string>;
  /** Hear every write's announcement (D103); gives the unsubscribe. Absent: the store announces
   *  nothing and its readers learn by their timer only. A listener must not throw. */
  watch?(listener: (a: StoreAnnouncement) => void): () => void;
  close(): Promise<void>;
}

const APP = /^[a-z0-9][a-z0-9-]{0,62}$/;
const VERSION = /^\d{1,9}\.\d{1,9}\.\d{1,9}(?:[-+][0-9A-Za-z.-]{1,64})?$/;
const COUNTER = /^[a-z0-9][a-z0-9.:-]{0,127}$/;

export function checkKey(app: string, version?: string): void {
  if (typeof app !== 'string' || !APP.test(app)) throw new RangeError(`release store: bad app name ${JSON.stringify(app)}`);
  if (version !== undefined && (typeof version !== 'string' || !VERSION.test(version))) throw new RangeError(`release store: bad version ${JSON.stringify(version)}`);
}

/** A body that names an app (a string of at most 63 characters a store would accept as one). */
export function isAppName(body: unknown): body is string {
  return typeof body === 'string' && body.length <= 63 && APP.test(body);
}

export function checkCounter(name: string, atLeast?: number): number {
  if (typeof name !== 'string' || !COUNTER.test(name)) throw new RangeError(`release store: bad counter name ${JSON.stringify(name)}`);
  if (atLeast !== undefined && !(Number.isSafeInteger(atLeast) && atLeast >= 0)) throw new RangeError(`release store: a counter's floor must be a safe integer >= 0, got ${atLeast}`);
  return atLeast ?? 0;
}

export function checkState(s: unknown): ReleaseState {
  if (typeof s !== 'string' || !(RELEASE_STATES as readonly string[]).includes(s)) throw new RangeError(`release store: unknown state ${JSON.stringify(s)} (known: ${RELEASE_STATES.join(', ')})`);
  return s as ReleaseState;
}

/** The same published bytes: manifest, signature and every module. */
export function sameBytes(a: Pick<Release, 'manifestBytes' | 'signature' | 'sources'>, b: Pick<Release, 'manifestBytes' | 'signature' | 'sources'>): boolean {
  const eq = (x: Uint8Array, y: Uint8Array | undefined): boolean => y !== undefined && x.length === y.length && x.every((v, i) => v === y[i]);
  const names = Object.keys(a.sources);
  return eq(a.manifestBytes, b.manifestBytes) && eq(a.signature, b.signature) && names.length === Object.keys(b.sources).length && names.every((n) => eq(a.sources[n] as Uint8Array, b.sources[n]));
}

/** Semver order of release versions (pre-releases before their release), for listings and anti-rollback floors. */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string): [number[], string] => {
    const [core = '', pre = ''] = v.split(/-(.*)/s);
    return [core.split('+')[0]!.split('.').map(Number), pre];
  };
  const [ca, pa] = parse(a);
  const [cb, pb] = parse(b);
  for (let i = 0; i < 3; i++) if ((ca[i] ?? 0) !== (cb[i] ?? 0)) return (ca[i] ?? 0) - (cb[i] ?? 0);
  if (pa === pb) return 0;
  if (pa === '') return 1;
  if (pb === '') return -1;
  return pa < pb ? -1 : 1;
}

/** An in-memory store: tests and a head-end with `--registry memory`. */
export class MemoryReleaseStore implements ReleaseStore {
  readonly kind = 'memory';
  #rows = new Map<string, Release>();
  #counters = new Map<string, number>();
  #changes = 0;
  /** Nodes of one process sharing this store hear each other's writes (the memory tier). */
  #watchers = new Set<(a: StoreAnnouncement) => void>();

  async publish(r: NewRelease, o: PublishOptions = {}): Promise<PublishOutcome> {
    checkKey(r.app, r.version);
    const key = `${r.app}@${r.version}`;
    const existing = this.#rows.get(key);
    if (existing !== undefined && !sameBytes(existing, r) && mayReplace(existing, o)) {
      const release: Release = { ...existing, ...r, publishedBy: existing.publishedBy, rev: existing.rev + 1 };
      this.#rows.set(key, release);
      this.#changed(r.app);
      return { ok: true, release, created: false, replaced: true };
    }
    if (existing !== undefined) return sameBytes(existing, r) ? { ok: true, release: existing, created: false } : { ok: false, reason: 'different-bytes', existing };
    const release: Release = { ...r, state: 'staged', plan: '', rev: 1 };
    this.#rows.set(key, release);
    this.#changed(r.app);
    return { ok: true, release, created: true };
  }

  async get(app: string, version: string): Promise<Release | undefined> {
    checkKey(app, version);
    return this.#rows.get(`${app}@${version}`);
  }

  async list(app?: string): Promise<Release[]> {
    if (app !== undefined) checkKey(app);
    return [...this.#rows.values()].filter((r) => app === undefined || r.app === app).sort(byAppVersion);
  }

  async heads(app?: string): Promise<ReleaseHead[]> {
    return (await this.list(app)).map(({ app: a, version, state, publishedAt, rev }) => ({ app: a, version, state, publishedAt, rev }));
  }

  async update(app: string, version: string, rev: number, patch: { state?: ReleaseState; plan?: string }): Promise<UpdateOutcome> {
    checkKey(app, version);
    const r = this.#rows.get(`${app}@${version}`);
    if (r === undefined) return { ok: false, reason: 'not-found' };
    if (r.rev !== rev) return { ok: false, reason: 'stale', current: r };
    const next: Release = { ...r, ...(patch.state === undefined ? {} : { state: checkState(patch.state) }), ...(patch.plan === undefined ? {} : { plan: patch.plan }), rev: r.rev + 1 };
    this.#rows.set(`${app}@${version}`, next);
    this.#changed(app);
    return { ok: true, release: next };
  }

  async bump(counter: string, atLeast?: number): Promise<number> {
    const n = Math.max((this.#counters.get(counter) ?? 0) + 1, checkCounter(counter, atLeast));
    this.#counters.set(counter, n);
    return n;
  }

  async changes(): Promise<string> {
    return String(this.#changes);
  }

  watch(listener: (a: StoreAnnouncement) => void): () => void {
    this.#watchers.add(listener);
    return () => void this.#watchers.delete(listener);
  }

  async close(): Promise<void> {
    this.#watchers.clear();
  }

  /** After the write, as Redis delivers a PUBLISH: later, never inside the writer's call. */
  #changed(app: string): void {
    this.#changes++;
    for (const f of this.#watchers) queueMicrotask(() => f({ kind: 'changed', body: app }));
  }
}

export function mayReplace(existing: Release, o: PublishOptions): boolean {
  return o.replaceIfPublishedBy !== undefined && existing.publishedBy === o.replaceIfPublishedBy;
}

export function byAppVersion(a: Pick<Release, 'app' | 'version'>, b: Pick<Release, 'app' | 'version'>): number {
  return a.app === b.app ? compareVersions(a.version, b.version) : a.app < b.app ? -1 : 1;
}
