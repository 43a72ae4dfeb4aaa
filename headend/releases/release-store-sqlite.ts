// SQLite adapter of the release store: the embedded head-end's catalog, in its own tables of the
// registry's database file (WAL; several connections and processes share it). Module bytes are
// stored as one CBOR blob per release, exactly as published. Each write also appends its app to a
// short log that watchers on other connections read when PRAGMA data_version moves (D103 on SQLite).
import Database from 'better-sqlite3';
import { decode, encode } from 'cbor-x';
import { ArgumentError } from '../../runtime/index.ts';
import { byAppVersion, checkCounter, checkKey, checkState, mayReplace, sameBytes, type NewRelease, type PublishOptions, type PublishOutcome, type Release, type ReleaseHead, type ReleaseState, type ReleaseStore, type StoreAnnouncement, type UpdateOutcome } from './store.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS releases (
  app TEXT NOT NULL, version TEXT NOT NULL, manifest BLOB NOT NULL, signature BLOB NOT NULL, sources BLOB NOT NULL,
  state TEXT NOT NULL, published_by TEXT NOT NULL, published_at INTEGER NOT NULL, plan TEXT NOT NULL, rev INTEGER NOT NULL,
  PRIMARY KEY (app, version)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS release_counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS release_announce (seq INTEGER PRIMARY KEY AUTOINCREMENT, app TEXT NOT NULL);
`;

/** Announcements kept in the file: a watcher that fell further behind resyncs instead of reading them. */
export const KEPT_ANNOUNCEMENTS = 256;
/** The most a poll reads: what a watcher is made to hold per poll, whatever another writer put in the file. */
const READ_AT_MOST = KEPT_ANNOUNCEMENTS;

export interface SqliteReleaseStoreOptions {
  /** How often a watched store looks for other connections' writes (one PRAGMA when none), ms. Default 100. */
  pollMs?: number;
}

/** The change token's counter row: a name bump() refuses (checkCounter), so no caller's counter is it. */
const CHANGES = '#changes';

interface Row {
  app: string;
  version: string;
  manifest: Uint8Array;
  signature: Uint8Array;
  sources: Uint8Array;
  state: string;
  published_by: string;
  published_at: number;
  plan: string;
  rev: number;
}

export class SqliteReleaseStore implements ReleaseStore {
  readonly kind = 'sqlite';
  #db: Database.Database;
  readonly #pollMs: number;
  readonly #watchers = new Set<(a: StoreAnnouncement) => void>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Where the watchers are in the log, and the data_version they last saw. */
  #seen = { seq: 0, version: -1 };
  #stats = { polls: 0, announced: 0, resyncs: 0, failed: 0, lastError: '' };

  /** `path`: the registry's database file (or `:memory:`). */
  constructor(path: string, o: SqliteReleaseStoreOptions = {}) {
    for (const k of Object.keys(o)) if (k !== 'pollMs') throw new ArgumentError(`SqliteReleaseStore: unknown option "${k}"`, k);
    const pollMs = o.pollMs ?? 100;
    if (!(Number.isInteger(pollMs) && pollMs > 0)) throw new ArgumentError(`SqliteReleaseStore: pollMs must be a positive integer, got ${String(pollMs)}`, 'pollMs');
    this.#pollMs = pollMs;
    this.#db = new Database(path);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('synchronous = NORMAL');
    this.#db.pragma('busy_timeout = 5000');
    this.#db.exec(SCHEMA);
  }

  /**
   * Hear other connections' writes (another process, or another store in this one): each names its
   * app; `resync` when more were written since the last look than the file keeps. This
   * connection's own writes are not announced to it until another connection writes too.
   */
  watch(listener: (a: StoreAnnouncement) => void): () => void {
    if (this.#watchers.size === 0) this.#seen = { seq: this.#lastSeq(), version: this.#dataVersion() };
    this.#watchers.add(listener);
    this.#schedule();
    return () => void this.#watchers.delete(listener);
  }

  /** Look for other connections' writes now (the watch's timer does this every pollMs); gives how many were announced. */
  poll(): number {
    if (this.#watchers.size === 0 || !this.#db.open) return 0;
    const version = this.#dataVersion();
    if (version === this.#seen.version) return 0;
    this.#seen.version = version;
    const rows = this.#db.prepare('SELECT seq, app FROM release_announce WHERE seq > ? ORDER BY seq LIMIT ?').all(this.#seen.seq, READ_AT_MOST + 1) as { seq: number; app: unknown }[];
    if (rows.length === 0) return 0;
    const gap = (rows[0] as { seq: number }).seq > this.#seen.seq + 1 || rows.length > READ_AT_MOST;
    this.#seen.seq = gap ? this.#lastSeq() : (rows.at(-1) as { seq: number }).seq;
    const out: StoreAnnouncement[] = gap ? [{ kind: 'resync' }] : rows.map((row) => ({ kind: 'changed', body: row.app }));
    this.#stats[gap ? 'resyncs' : 'announced'] += out.length;
    for (const a of out) for (const f of [...this.#watchers]) f(a);
    return out.length;
  }

  /** Timed looks at the file, announcements and resyncs they made, and looks that failed (the catalog's timer still syncs). */
  announceStats(): { polls: number; announced: number; resyncs: number; failed: number; lastError: string } {
    return { ...this.#stats };
  }

  async publish(r: NewRelease, o: PublishOptions = {}): Promise<PublishOutcome> {
    checkKey(r.app, r.version);
    return this.#db.transaction((): PublishOutcome => {
      const existing = this.#row(r.app, r.version);
      const sources = encode(Object.fromEntries(Object.entries(r.sources).map(([k, v]) => [k, Buffer.from(v)])));
      if (existing !== undefined && !sameBytes(existing, r) && mayReplace(existing, o)) {
        this.#db.prepare('UPDATE releases SET manifest = ?, signature = ?, sources = ?, published_at = ?, rev = rev + 1 WHERE app = ? AND version = ?').run(Buffer.from(r.manifestBytes), Buffer.from(r.signature), sources, r.publishedAt, r.app, r.version);
        this.#changed(r.app);
        return { ok: true, release: this.#row(r.app, r.version) as Release, created: false, replaced: true };
      }
      if (existing !== undefined) return sameBytes(existing, r) ? { ok: true, release: existing, created: false } : { ok: false, reason: 'different-bytes', existing };
      this.#db
        .prepare('INSERT INTO releases VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
        .run(r.app, r.version, Buffer.from(r.manifestBytes), Buffer.from(r.signature), sources, 'staged', r.publishedBy, r.publishedAt, '', 1);
      this.#changed(r.app);
      return { ok: true, release: this.#row(r.app, r.version) as Release, created: true };
    }).immediate();
  }

  async get(app: string, version: string): Promise<Release | undefined> {
    checkKey(app, version);
    return this.#row(app, version);
  }

  async list(app?: string): Promise<Release[]> {
    if (app !== undefined) checkKey(app);
    const rows = (app === undefined ? this.#db.prepare('SELECT * FROM releases').all() : this.#db.prepare('SELECT * FROM releases WHERE app = ?').all(app)) as Row[];
    return rows.map(toRelease).sort(byAppVersion);
  }

  async heads(app?: string): Promise<ReleaseHead[]> {
    if (app !== undefined) checkKey(app);
    const cols = 'SELECT app, version, state, published_at, rev FROM releases';
    const rows = (app === undefined ? this.#db.prepare(cols).all() : this.#db.prepare(`${cols} WHERE app = ?`).all(app)) as Pick<Row, 'app' | 'version' | 'state' | 'published_at' | 'rev'>[];
    return rows.map((r) => ({ app: r.app, version: r.version, state: checkState(r.state), publishedAt: r.published_at, rev: r.rev })).sort(byAppVersion);
  }

  async update(app: string, version: string, rev: number, patch: { state?: ReleaseState; plan?: string }): Promise<UpdateOutcome> {
    checkKey(app, version);
    if (patch.state !== undefined) checkState(patch.state);
    return this.#db.transaction((): UpdateOutcome => {
      const r = this.#row(app, version);
      if (r === undefined) return { ok: false, reason: 'not-found' };
      if (r.rev !== rev) return { ok: false, reason: 'stale', current: r };
      this.#db.prepare('UPDATE releases SET state = ?, plan = ?, rev = ? WHERE app = ? AND version = ?').run(patch.state ?? r.state, patch.plan ?? r.plan, r.rev + 1, app, version);
      this.#changed(app);
      return { ok: true, release: this.#row(app, version) as Release };
    }).immediate();
  }

  async bump(counter: string, atLeast?: number): Promise<number> {
    const least = checkCounter(counter, atLeast);
    const row = this.#db.prepare('INSERT INTO release_counters VALUES (?, max(1, ?)) ON CONFLICT(name) DO UPDATE SET value = max(value + 1, ?) RETURNING value').get(counter, least, least) as { value: number };
    return row.value;
  }

  async changes(): Promise<string> {
    const row = this.#db.prepare('SELECT value FROM release_counters WHERE name = ?').get(CHANGES) as { value: number } | undefined;
    return String(row?.value ?? 0);
  }

  async close(): Promise<void> {
    this.#watchers.clear();
    clearTimeout(this.#timer);
    this.#db.close();
  }

  /** Inside the write's transaction: the change, its token and its announcement move together. */
  #changed(app: string): void {
    this.#db.prepare('INSERT INTO release_counters VALUES (?, 1) ON CONFLICT(name) DO UPDATE SET value = value + 1').run(CHANGES);
    const seq = Number(this.#db.prepare('INSERT INTO release_announce (app) VALUES (?)').run(app).lastInsertRowid);
    this.#db.prepare('DELETE FROM release_announce WHERE seq <= ?').run(seq - KEPT_ANNOUNCEMENTS);
  }

  #lastSeq(): number {
    return (this.#db.prepare('SELECT MAX(seq) AS last FROM release_announce').get() as { last: number | null }).last ?? 0;
  }

  #dataVersion(): number {
    return this.#db.pragma('data_version', { simple: true }) as number;
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#watchers.size === 0) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      try {
        this.#stats.polls++;
        this.poll();
      } catch (e) {
        // Locked past busy_timeout, or the file went away: counted; the next look, or the catalog's own timer, syncs.
        this.#stats.failed++;
        this.#stats.lastError = (e as Error).message;
      }
      this.#schedule();
    }, this.#pollMs);
    this.#timer.unref();
  }

  #row(app: string, version: string): Release | undefined {
    const row = this.#db.prepare('SELECT * FROM releases WHERE app = ? AND version = ?').get(app, version) as Row | undefined;
    return row === undefined ? undefined : toRelease(row);
  }
}

function toRelease(row: Row): Release {
  const sources = decode(row.sources) as Record<string, Uint8Array>;
  return {
    app: row.app,
    version: row.version,
    manifestBytes: new Uint8Array(row.manifest),
    signature: new Uint8Array(row.signature),
    sources: Object.fromEntries(Object.entries(sources).map(([k, v]) => [k, new Uint8Array(v)])),
    state: checkState(row.state),
    publishedBy: row.published_by,
    publishedAt: row.published_at,
    plan: row.plan,
    rev: row.rev,
  };
}
