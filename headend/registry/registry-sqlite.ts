// SQLite adapter of the Registry port [c32]: the embedded default, durable across a head-end
// restart (WAL file). The only file importing better-sqlite3. Answers synchronously inside;
// other processes' writes are learnt from a change-log table when PRAGMA data_version moves.

import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { ArgumentError, ChannelClosedError, type Clock, fail, ok, positiveInt, rejectUnknown, type Result, systemClock, VADDR_SCHEME, type TimerHandle } from '../../runtime/index.ts';
import {
  ChangeFeed,
  type ChangeListener,
  checkCheckpoint,
  checkEpoch,
  checkpointNewer,
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
  type Registry,
  type RegistryChange,
  type SessionFilter,
  type SessionPatch,
  type SessionRecord,
  vaddrKey,
} from './registry.ts';
import { WriteBatch, type WriteFn, type WriteStats } from './sqlite-write-batch.ts';
import { addMissingColumns, type CheckpointRow, type LocationRow, safeParse, SCHEMA, SCHEMA_VERSION, type SessionRow, toCheckpoint, toLocation, toSession } from './registry-sqlite-schema.ts';

export interface SqliteRegistryOptions {
  /** Database file, or `:memory:` (then nothing survives close, and no other process sees it). */
  path: string;
  clock?: Clock;
  /** How often to look for other processes' writes while someone watches, ms. Default 100. */
  pollMs?: number;
  /** Change-log rows kept for slow pollers; older ones are pruned. Default 10000. */
  keepChanges?: number;
  /** Listener errors (a watcher that threw). Default: ignored after counting. */
  onError?: (err: unknown) => void;
  /** Async writes of one turn commit in one transaction (sqlite-write-batch.ts). Default true. */
  batchWrites?: boolean;
}

const OPTIONS = ['path', 'clock', 'pollMs', 'keepChanges', 'onError', 'batchWrites'];
type Stmt = Database.Statement;
type LocResult = Result<LocationRecord, Conflict<LocationRecord>>;
type SessResult = Result<SessionRecord, Conflict<SessionRecord>>;

export class SqliteRegistry implements Registry {
  readonly kind = 'sqlite';
  readonly path: string;
  #db: Database.Database;
  #clock: Clock;
  #pollMs: number;
  #keep: number;
  #feed: ChangeFeed;
  #origin = randomUUID();
  #closed = false;
  #timer: TimerHandle | undefined;
  #dataVersion = 0;
  #lastSeq = 0;
  #writes = 0;
  #s: Record<string, Stmt>;
  #tx: Database.Transaction<(fn: WriteFn<unknown>) => [unknown, RegistryChange | undefined]>; // one write, logged: alone, or a savepoint in a batch
  #batch: WriteBatch | undefined;
  #alone = 0; // writes committed alone (synchronous ones, or all with batchWrites false)
  /** [D99] Stored values read and dropped as invalid. */
  readonly faults = { switchId: 0 };

  constructor(options: SqliteRegistryOptions) {
    rejectUnknown('SqliteRegistry', options, OPTIONS);
    if (typeof options?.path !== 'string' || options.path.length === 0) throw new ArgumentError('SqliteRegistry: path must be a non-empty string', 'path');
    this.path = options.path;
    this.#clock = options.clock ?? systemClock;
    this.#pollMs = positiveInt('SqliteRegistry', 'pollMs', options.pollMs ?? 100);
    this.#keep = positiveInt('SqliteRegistry', 'keepChanges', options.keepChanges ?? 10_000);
    this.#feed = new ChangeFeed(options.onError ?? (() => {}));
    const db = new Database(options.path);
    this.#db = db;
    db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode loses nothing when the process dies, only on power loss (docs/REGISTRY.md).
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    db.exec(SCHEMA);
    addMissingColumns(db);
    db.prepare(`INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?)`).run(String(SCHEMA_VERSION));
    const found = db.prepare(`SELECT value FROM meta WHERE key = 'schema'`).pluck().get();
    if (found !== String(SCHEMA_VERSION)) {
      db.close();
      throw new ArgumentError(`SqliteRegistry: ${options.path} has registry schema ${String(found)}, this build reads ${SCHEMA_VERSION}`, 'path');
    }
    const p = (sql: string): Stmt => db.prepare(sql);
    this.#s = {
      getLoc: p('SELECT * FROM locations WHERE vaddr = ?'),
      insLoc: p('INSERT INTO locations (vaddr, app, session, node, queue, udp_host, udp_port, epoch, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?)'),
      movLoc: p('UPDATE locations SET node = ?, queue = ?, udp_host = ?, udp_port = ?, epoch = epoch + 1, updated_at = ? WHERE vaddr = ? AND epoch = ?'),
      delLoc: p('DELETE FROM locations WHERE vaddr = ?'),
      byNode: p('SELECT * FROM locations WHERE node = ? ORDER BY vaddr'),
      bySession: p('SELECT * FROM locations WHERE app = ? AND session = ? ORDER BY vaddr'),
      getSess: p('SELECT * FROM sessions WHERE id = ?'),
      insSess: p('INSERT INTO sessions (id, app, box, node, placements, created_at, updated_at, version, app_version, switch_id) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?)'),
      updSess: p('UPDATE sessions SET node = ?, placements = ?, updated_at = ?, version = version + 1, app_version = ?, switch_id = ? WHERE id = ? AND version = ?'),
      delSess: p('DELETE FROM sessions WHERE id = ?'),
      allSess: p('SELECT * FROM sessions WHERE (@node IS NULL OR node = @node) AND (@app IS NULL OR app = @app) ORDER BY id'),
      getCkpt: p('SELECT * FROM checkpoints WHERE vaddr = ?'),
      putCkpt: p('INSERT INTO checkpoints (vaddr, node, epoch, seq, state, written_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (vaddr) DO UPDATE SET node = excluded.node, epoch = excluded.epoch, seq = excluded.seq, state = excluded.state, written_at = excluded.written_at'),
      delCkpt: p('DELETE FROM checkpoints WHERE vaddr = ? AND epoch <= ?'),
      logChange: p('INSERT INTO changes (origin, body) VALUES (?, ?)'),
      readChanges: p('SELECT seq, origin, body FROM changes WHERE seq > ? ORDER BY seq'),
      firstSeq: p('SELECT min(seq) AS first, max(seq) AS last FROM changes'),
      prune: p('DELETE FROM changes WHERE seq <= ?'),
      dataVersion: db.prepare('PRAGMA data_version').pluck(),
    };
    const bounds = this.#s.firstSeq!.get() as { first: number | null; last: number | null };
    this.#lastSeq = bounds.last ?? 0;
    this.#dataVersion = this.#s.dataVersion!.get() as number;
    this.#tx = db.transaction((fn: WriteFn<unknown>) => this.#logged(fn));
    if (options.batchWrites !== undefined && typeof options.batchWrites !== 'boolean') throw new ArgumentError('SqliteRegistry: batchWrites must be a boolean', 'batchWrites');
    const all = db.transaction((body: () => void) => body());
    if (options.batchWrites !== false) this.#batch = new WriteBatch({ transaction: (body) => all.immediate(body), savepoint: (fn) => this.#tx(fn) as never, alone: (fn) => this.#tx.immediate(fn) as never, emit: (c) => this.#feed.emit(c) });
  }

  /** Writes committed and the transactions that held them (a batch commits many in one). */
  writeStats(): WriteStats {
    const b = this.#batch?.stats ?? { writes: 0, commits: 0, fallbacks: 0 };
    return { writes: b.writes + this.#alone, commits: b.commits + this.#alone, fallbacks: b.fallbacks };
  }

  // The async port over the synchronous core. A throw becomes a rejection.
  bind(vaddr: string, location: Location): Promise<Result<LocationRecord, Conflict<LocationRecord>>> {
    return this.#later(() => this.bindSync(vaddr, location));
  }
  move(vaddr: string, location: Location, expectedEpoch: number): Promise<Result<LocationRecord, Conflict<LocationRecord>>> {
    return this.#later(() => this.moveSync(vaddr, location, expectedEpoch));
  }
  unbind(vaddr: string, expectedEpoch?: number): Promise<Result<LocationRecord, Conflict<LocationRecord>>> {
    return this.#later(() => this.unbindSync(vaddr, expectedEpoch));
  }
  lookup(vaddr: string): Promise<LocationRecord | undefined> {
    return this.#async(() => this.lookupSync(vaddr));
  }
  listByNode(node: string): Promise<LocationRecord[]> {
    return this.#async(() => {
      checkId('listByNode', 'node', node);
      return (this.#s.byNode!.all(node) as LocationRow[]).map(toLocation);
    });
  }
  listBySession(app: string, session: string): Promise<LocationRecord[]> {
    return this.#async(() => {
      const key = vaddrKey(`${VADDR_SCHEME}${app}/${session}/x`);
      return (this.#s.bySession!.all(key.app, key.session) as LocationRow[]).map(toLocation);
    });
  }
  createSession(session: NewSession): Promise<Result<SessionRecord, Conflict<SessionRecord>>> {
    return this.#later(() => this.#createSession(session));
  }
  updateSession(id: string, patch: SessionPatch, expectedVersion: number): Promise<Result<SessionRecord, Conflict<SessionRecord>>> {
    return this.#later(() => this.#updateSession(id, patch, expectedVersion));
  }
  getSession(id: string): Promise<SessionRecord | undefined> {
    return this.#async(() => {
      const row = this.#s.getSess!.get(id) as SessionRow | undefined;
      return row === undefined ? undefined : toSession(row, this.faults);
    });
  }
  deleteSession(id: string): Promise<boolean> {
    return this.#later(() =>
      this.#write(() => {
        const row = this.#s.getSess!.get(id) as SessionRow | undefined;
        if (row === undefined) return [false, undefined];
        this.#s.delSess!.run(id);
        return [true, { kind: 'session', id, version: row.version, deleted: true }];
      }),
    );
  }
  listSessions(filter?: SessionFilter): Promise<SessionRecord[]> {
    return this.#async(() => {
      const f = checkSessionFilter('listSessions', filter);
      return (this.#s.allSess!.all({ node: f.node ?? null, app: f.app ?? null }) as SessionRow[]).map((r) => toSession(r, this.faults));
    });
  }

  putCheckpoint(checkpoint: NewCheckpoint): Promise<Result<CheckpointRecord, Conflict<CheckpointRecord>>> {
    return this.#async(() => {
      const c = checkCheckpoint('putCheckpoint', checkpoint);
      // [issue 13.2] fenced: an older owner (lower epoch) or an older write (lower seq) loses.
      return this.#write<Result<CheckpointRecord, Conflict<CheckpointRecord>>>(() => {
        const row = this.#s.getCkpt!.get(c.vaddr) as CheckpointRow | undefined;
        const loc = this.#s.getLoc!.get(c.vaddr) as LocationRow | undefined;
        if ((row !== undefined && checkpointNewer(row, c)) || (loc !== undefined && loc.epoch > c.epoch)) {
          return [fail(row === undefined ? { reason: 'stale' } : { reason: 'stale', current: toCheckpoint(row) }), undefined];
        }
        const now = this.#clock.now();
        this.#s.putCkpt!.run(c.vaddr, c.node, c.epoch, c.seq, Buffer.from(c.state.buffer, c.state.byteOffset, c.state.byteLength), now);
        return [ok({ ...c, writtenAt: now }), undefined];
      });
    });
  }
  getCheckpoint(vaddr: string): Promise<CheckpointRecord | undefined> {
    return this.#async(() => {
      const row = this.#s.getCkpt!.get(vaddr) as CheckpointRow | undefined;
      return row === undefined ? undefined : toCheckpoint(row);
    });
  }
  deleteCheckpoint(vaddr: string, upToEpoch?: number): Promise<boolean> {
    return this.#async(() => {
      vaddrKey(vaddr);
      if (upToEpoch !== undefined) checkEpoch('deleteCheckpoint', 'upToEpoch', upToEpoch);
      return this.#write(() => [this.#s.delCkpt!.run(vaddr, upToEpoch ?? Number.MAX_SAFE_INTEGER).changes > 0, undefined]);
    });
  }

  /** Synchronous lookup for in-process callers that know they hold the SQLite adapter. */
  lookupSync(vaddr: string): LocationRecord | undefined {
    this.#open();
    this.#batch?.flush(); // what was asked before this read is applied first
    if (typeof vaddr !== 'string') return undefined;
    const row = this.#s.getLoc!.get(vaddr) as LocationRow | undefined;
    return row === undefined ? undefined : toLocation(row);
  }

  bindSync(vaddr: string, location: Location): Result<LocationRecord, Conflict<LocationRecord>> {
    const key = vaddrKey(vaddr);
    const loc = checkLocation('bind', location);
    return this.#write<LocResult>(() => {
      const row = this.#s.getLoc!.get(vaddr) as LocationRow | undefined;
      if (row !== undefined) return [fail({ reason: 'exists', current: toLocation(row) }), undefined];
      const now = this.#clock.now();
      this.#s.insLoc!.run(vaddr, key.app, key.session, loc.node, loc.queue ?? null, loc.udp?.host ?? null, loc.udp?.port ?? null, now);
      return [ok({ vaddr, ...loc, epoch: 1, updatedAt: now }), { kind: 'location', vaddr, epoch: 1, deleted: false }];
    });
  }

  // [c31, c32] a move re-points the record atomically; the epoch check makes two movers race safely.
  moveSync(vaddr: string, location: Location, expectedEpoch: number): Result<LocationRecord, Conflict<LocationRecord>> {
    vaddrKey(vaddr);
    const loc = checkLocation('move', location);
    checkEpoch('move', 'expectedEpoch', expectedEpoch);
    return this.#write<LocResult>(() => {
      const now = this.#clock.now();
      const r = this.#s.movLoc!.run(loc.node, loc.queue ?? null, loc.udp?.host ?? null, loc.udp?.port ?? null, now, vaddr, expectedEpoch);
      if (r.changes === 0) {
        const row = this.#s.getLoc!.get(vaddr) as LocationRow | undefined;
        return [fail(row === undefined ? { reason: 'missing' } : { reason: 'stale', current: toLocation(row) }), undefined];
      }
      const epoch = expectedEpoch + 1;
      return [ok({ vaddr, ...loc, epoch, updatedAt: now }), { kind: 'location', vaddr, epoch, deleted: false }];
    });
  }

  unbindSync(vaddr: string, expectedEpoch?: number): Result<LocationRecord, Conflict<LocationRecord>> {
    vaddrKey(vaddr);
    if (expectedEpoch !== undefined) checkEpoch('unbind', 'expectedEpoch', expectedEpoch);
    return this.#write<LocResult>(() => {
      const row = this.#s.getLoc!.get(vaddr) as LocationRow | undefined;
      if (row === undefined) return [fail({ reason: 'missing' }), undefined];
      const rec = toLocation(row);
      if (expectedEpoch !== undefined && rec.epoch !== expectedEpoch) return [fail({ reason: 'stale', current: rec }), undefined];
      this.#s.delLoc!.run(vaddr);
      return [ok(rec), { kind: 'location', vaddr, epoch: rec.epoch, deleted: true }];
    });
  }

  watch(listener: ChangeListener): () => void {
    this.#open();
    const stop = this.#feed.add(listener);
    this.#schedulePoll();
    return () => {
      stop();
      if (this.#feed.size === 0 && this.#timer !== undefined) {
        this.#clock.clearTimeout(this.#timer);
        this.#timer = undefined;
      }
    };
  }

  /**
   * Look for writes by other connections (other processes) now: cheap when nothing changed (one
   * PRAGMA). Emits their changes, or `reset` when the change log was pruned past our position.
   */
  poll(): number {
    this.#open();
    const v = this.#s.dataVersion!.get() as number;
    if (v === this.#dataVersion) return 0;
    this.#dataVersion = v;
    const bounds = this.#s.firstSeq!.get() as { first: number | null; last: number | null };
    if (bounds.first !== null && bounds.first > this.#lastSeq + 1) {
      this.#lastSeq = bounds.last ?? this.#lastSeq;
      this.#feed.emit({ kind: 'reset' });
      return 1;
    }
    let n = 0;
    for (const row of this.#s.readChanges!.iterate(this.#lastSeq) as IterableIterator<{ seq: number; origin: string; body: string }>) {
      this.#lastSeq = row.seq;
      if (row.origin === this.#origin) continue;
      const change = parseChange(safeParse(row.body));
      if (change === undefined) continue;
      this.#feed.emit(change);
      n++;
    }
    return n;
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#batch?.flush(); // writes asked before close commit and answer
      this.#closed = true;
      if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#feed.clear();
      this.#db.close();
    }
    return Promise.resolve();
  }

  #createSession(session: NewSession): Result<SessionRecord, Conflict<SessionRecord>> {
    const s = checkNewSession('createSession', session);
    return this.#write<SessResult>(() => {
      const row = this.#s.getSess!.get(s.id) as SessionRow | undefined;
      if (row !== undefined) return [fail({ reason: 'exists', current: toSession(row, this.faults) }), undefined];
      const now = this.#clock.now();
      this.#s.insSess!.run(s.id, s.app, s.box, s.node, JSON.stringify(s.placements), now, now, s.appVersion ?? null, s.switchId ?? null);
      return [ok({ ...s, createdAt: now, updatedAt: now, version: 1 }), { kind: 'session', id: s.id, version: 1, deleted: false }];
    });
  }

  #updateSession(id: string, patch: SessionPatch, expectedVersion: number): Result<SessionRecord, Conflict<SessionRecord>> {
    const p = checkSessionPatch('updateSession', patch);
    checkEpoch('updateSession', 'expectedVersion', expectedVersion);
    return this.#write<SessResult>(() => {
      const row = this.#s.getSess!.get(id) as SessionRow | undefined;
      if (row === undefined) return [fail({ reason: 'missing' }), undefined];
      if (row.version !== expectedVersion) return [fail({ reason: 'stale', current: toSession(row, this.faults) }), undefined];
      const now = this.#clock.now();
      const placements = p.placements ?? (JSON.parse(row.placements) as SessionRecord['placements']);
      const next = { ...row, node: p.node ?? row.node, placements: JSON.stringify(placements), updated_at: now, version: expectedVersion + 1, app_version: p.appVersion ?? row.app_version, switch_id: p.switchId ?? row.switch_id };
      this.#s.updSess!.run(next.node, next.placements, now, next.app_version, next.switch_id, id, expectedVersion);
      const out = toSession(next, this.faults);
      return [ok(out), { kind: 'session', id, version: out.version, deleted: false }];
    });
  }

  // One write: an IMMEDIATE transaction (takes the write lock first, so two processes never
  // deadlock upgrading), the change logged in the same transaction, listeners told after commit.
  #write<T>(fn: () => [T, RegistryChange | undefined]): T {
    this.#open();
    if (this.#batch?.join(fn) === true) return undefined as T; // #later answers through the batch
    this.#batch?.flush(); // a synchronous write comes after the writes asked before it
    const [out, change] = this.#tx.immediate(fn) as [T, RegistryChange | undefined];
    this.#alone++;
    if (change !== undefined) this.#feed.emit(change);
    return out;
  }

  #logged<T>(fn: WriteFn<T>): [T, RegistryChange | undefined] {
    const [out, change] = fn();
    if (change !== undefined) {
      this.#s.logChange!.run(this.#origin, JSON.stringify(change));
      if (++this.#writes % 1000 === 0) this.#s.prune!.run(((this.#s.firstSeq!.get() as { last: number | null }).last ?? 0) - this.#keep);
    }
    return [out, change];
  }

  #schedulePoll(): void {
    if (this.#timer !== undefined || this.#closed || this.path === ':memory:') return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      if (this.#closed || this.#feed.size === 0) return;
      this.poll();
      this.#schedulePoll();
    }, this.#pollMs);
  }

  #open(): void {
    if (this.#closed) throw new ChannelClosedError('registry closed');
  }

  // An async write: its checks run now (a throw rejects now), the write joins the turn's batch.
  #later<T>(call: () => T): Promise<T> {
    return this.#batch === undefined ? this.#async(call) : this.#batch.ask(call, () => this.#open());
  }

  #async<T>(fn: () => T): Promise<T> {
    try {
      this.#open();
      this.#batch?.flush(); // a read sees every write asked before it
      return Promise.resolve(fn());
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }
}
