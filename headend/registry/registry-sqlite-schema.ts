// Tables of the SQLite registry adapter and the row <-> record mapping. Text and pure functions
// only: the adapter (registry-sqlite.ts) is the one file that imports better-sqlite3.

import type { CheckpointRecord, LocationRecord, SessionRecord } from './registry.ts';

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
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, version INTEGER NOT NULL, app_version TEXT
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
}

/** Files made before sessions carried their app version get the column (nullable: additive, same schema version). */
export const ADD_APP_VERSION = 'ALTER TABLE sessions ADD COLUMN app_version TEXT';

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

export function toSession(row: SessionRow): SessionRecord {
  return {
    id: row.id,
    app: row.app,
    box: row.box,
    node: row.node,
    placements: JSON.parse(row.placements) as SessionRecord['placements'],
    ...(row.app_version === null || row.app_version === undefined ? {} : { appVersion: row.app_version }),
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
