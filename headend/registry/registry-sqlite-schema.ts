// Tables of the SQLite registry adapter and the row <-> record mapping. Text and pure functions
// only: the adapter (registry-sqlite.ts) is the one file that imports better-sqlite3.

import { type CheckpointRecord, type LocationRecord, type ReadFaults, type SessionRecord, storedSwitchId } from './registry.ts';

export const SCHEMA_VERSION = 1;

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS locations (
  vaddr TEXT PRIMARY KEY, app TEXT NOT NULL, session TEXT NOT NULL, node TEXT NOT NULL,
  queue TEXT, udp_host TEXT, udp_port INTEGER, epoch INTEGER NOT NULL, updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS locations_node ON locations (node);
CREATE INDEX IF NOT EXISTS locations_session ON locations (app, session);
CREATE TABLE IF NOT EXISTS sessions (
  id TEXT PRIMARY KEY, app TEXT NOT NULL, box TEXT NOT NULL, node TEXT NOT NULL, placements TEXT NOT NULL,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, version INTEGER NOT NULL, app_version TEXT, switch_id INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sessions_node ON sessions (node);
CREATE INDEX IF NOT EXISTS sessions_app ON sessions (app);
-- Rowid table (not WITHOUT ROWID): rows hold snapshot blobs of up to 1 MiB.
CREATE TABLE IF NOT EXISTS checkpoints (
  vaddr TEXT NOT NULL UNIQUE, node TEXT NOT NULL, epoch INTEGER NOT NULL, seq INTEGER NOT NULL, state BLOB NOT NULL,
  written_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS changes (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, origin TEXT NOT NULL, body TEXT NOT NULL
);
`;

export interface LocationRow {
  vaddr: string;
  node: string;
  queue: string | null;
  udp_host: string | null;
  udp_port: number | null;
  epoch: number;
  updated_at: number;
}

export interface SessionRow {
  id: string;
  app: string;
  box: string;
  node: string;
  placements: string;
  created_at: number;
  updated_at: number;
  version: number;
  /** Null in rows written before sessions carried their app version. */
  app_version: string | null;
  /** [D99] Null in rows written before sessions carried their last switch id; checked when read. */
  switch_id: unknown;
}

/** Session columns added after files were made: nullable, so additive within the same schema version. */
const ADDED_COLUMNS = [
  ['app_version', 'TEXT'], // issue 15.6
  ['switch_id', 'INTEGER'], // D99
] as const;

/** What of a better-sqlite3 database the migration uses (this file imports no database package). */
interface SchemaDb {
  prepare(sql: string): { all(): unknown[] };
  exec(sql: string): unknown;
}

/** A file made by an earlier build gets the session columns it lacks; its rows read them as absent. */
export function addMissingColumns(db: SchemaDb): void {
  const have = new Set((db.prepare('PRAGMA table_info(sessions)').all() as { name: string }[]).map((c) => c.name));
  for (const [name, type] of ADDED_COLUMNS) if (!have.has(name)) db.exec(`ALTER TABLE sessions ADD COLUMN ${name} ${type}`);
}

export interface CheckpointRow {
  vaddr: string;
  node: string;
  epoch: number;
  seq: number;
  state: Buffer;
  written_at: number;
}

export function toCheckpoint(row: CheckpointRow): CheckpointRecord {
  return { vaddr: row.vaddr, node: row.node, epoch: row.epoch, seq: row.seq, state: new Uint8Array(row.state), writtenAt: row.written_at };
}

export function toLocation(row: LocationRow): LocationRecord {
  const r: LocationRecord = { vaddr: row.vaddr, node: row.node, epoch: row.epoch, updatedAt: row.updated_at };
  if (row.queue !== null) r.queue = row.queue;
  if (row.udp_host !== null && row.udp_port !== null) r.udp = { host: row.udp_host, port: row.udp_port };
  return r;
}

export function toSession(row: SessionRow, faults: ReadFaults): SessionRecord {
  const switchId = storedSwitchId(row.switch_id, faults);
  return {
    id: row.id,
    app: row.app,
    box: row.box,
    node: row.node,
    placements: JSON.parse(row.placements) as SessionRecord['placements'],
    ...(row.app_version === null || row.app_version === undefined ? {} : { appVersion: row.app_version }),
    ...(switchId === undefined ? {} : { switchId }),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    version: row.version,
  };
}

export function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
