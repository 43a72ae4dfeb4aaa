// The Registry port [c31-c33]: virtual address -> location records, sessions and their mutable
// placements, and a change feed. Types, input checks and the watcher list shared by the adapters
// (registry-sqlite.ts, registry-redis.ts); no database package is imported here.

import {
  AddressError,
  ArgumentError,
  checkAddress,
  parseVaddr,
  type Result,
  type UdpAddress,
} from '../../runtime/index.ts';

/** Where a portion runs now: a head-end node (queue id and IP/UDP pair there) or a box. */
export interface Location {
  /** The head-end node id, or the box id for a client portion (DACP) or a mutable module on a box. */
  node: string;
  /** Local message-queue id on that node [c10]. */
  queue?: string;
  /** IP/UDP pair of that node [c11]. */
  udp?: UdpAddress;
}

/** A virtual address bound to a location [c12, c32]. */
export interface LocationRecord extends Location {
  vaddr: string;
  /** 1 when bound, +1 on every move; the compare-and-set token for movers. */
  epoch: number;
  /** ms since the Unix epoch of the last bind or move. */
  updatedAt: number;
}

/** Where a mutable module runs for one session [c4, c5, c18]. */
export type PlacementSide = 'box' | 'headend';

export interface SessionRecord {
  id: string;
  app: string;
  box: string;
  /** The head-end node that runs the session's server portion. */
  node: string;
  /** module name -> side, for the app's mutable modules. */
  placements: Record<string, PlacementSide>;
  /** [issue 15.6] the app version the session pairs with (its box runs it); absent: the live one. */
  appVersion?: string;
  /** [D99] the envelope id (uint32) of the last version switch its host applied; absent: none yet. */
  switchId?: number;
  createdAt: number;
  updatedAt: number;
  /** 1 when created, +1 on every update; the compare-and-set token. */
  version: number;
}

export interface NewSession {
  id: string;
  app: string;
  box: string;
  node: string;
  placements?: Record<string, PlacementSide>;
  appVersion?: string;
  switchId?: number;
}

export interface SessionPatch {
  node?: string;
  placements?: Record<string, PlacementSide>;
  /** The session switched app version with its box (docs/ROLLOUT.md). */
  appVersion?: string;
  /** [D99] that switch's envelope id, written with its version; a patch without it keeps the stored one. */
  switchId?: number;
}

/** Stored values an adapter read and dropped because they failed their check (never trusted). */
export interface ReadFaults {
  /** Session records whose `switchId` was not a uint32: read as absent. */
  switchId: number;
}

export interface SessionFilter {
  node?: string;
  app?: string;
}

/**
 * The last saved state of one module of a portion [issue 13.2], keyed by the module's virtual
 * address, so it does not matter whether the portion is a session's or the app's (`*`).
 */
export interface CheckpointRecord {
  vaddr: string;
  /** The node that wrote it. */
  node: string;
  /** The vaddr's location epoch the writer held: a writer the registry has moved past is fenced off. */
  epoch: number;
  /** The writer's count of checkpoints of this vaddr at this epoch (1, 2, ...): later wins. */
  seq: number;
  /** The module's snapshot bytes (StateCodec CBOR), at most MAX_CHECKPOINT_BYTES. */
  state: Uint8Array;
  /** ms since the Unix epoch, the writer's registry clock. */
  writtenAt: number;
}

export type NewCheckpoint = Omit<CheckpointRecord, 'writtenAt'>;

/** The most bytes of one checkpoint any adapter stores: four times the sandbox's maxStateBytes. */
export const MAX_CHECKPOINT_BYTES = 1024 * 1024;

/**
 * Why a write did not happen. `exists`: bind/create of a key already there; `stale`: the epoch or
 * version given is not the current one (another writer won); `missing`: no such key.
 */
export interface Conflict<T> {
  reason: 'exists' | 'stale' | 'missing';
  current?: T;
}

/**
 * A change seen by this registry instance. `reset` means changes may have been missed (a
 * reconnect, a pruned change log): drop everything cached.
 */
export type RegistryChange =
  | { kind: 'location'; vaddr: string; epoch: number; deleted: boolean }
  | { kind: 'session'; id: string; version: number; deleted: boolean }
  | { kind: 'reset' };

export type ChangeListener = (change: RegistryChange) => void;

/**
 * The port. Async because Redis is; the SQLite adapter answers synchronously inside. Listeners
 * registered with `watch` hear this instance's own writes before the write's promise settles,
 * and other processes' writes as the adapter learns of them (pub/sub, or a version poll).
 */
export interface Registry {
  /** `sqlite` or `redis`, for logs and statistics. */
  readonly kind: string;
  /** Create a binding at epoch 1; `exists` if the vaddr is bound already. */
  bind(vaddr: string, location: Location): Promise<Result<LocationRecord, Conflict<LocationRecord>>>;
  /** Atomically re-point a binding if its epoch is still `expectedEpoch`; the epoch goes up by one. */
  move(vaddr: string, location: Location, expectedEpoch: number): Promise<Result<LocationRecord, Conflict<LocationRecord>>>;
  /** Remove a binding (only at `expectedEpoch` when given); gives the removed record. */
  unbind(vaddr: string, expectedEpoch?: number): Promise<Result<LocationRecord, Conflict<LocationRecord>>>;
  lookup(vaddr: string): Promise<LocationRecord | undefined>;
  /** Every binding on a node (or box), sorted by vaddr: what to re-place when it dies. */
  listByNode(node: string): Promise<LocationRecord[]>;
  /** Every binding of one session (`*` for the app's shared portions), sorted by vaddr. */
  listBySession(app: string, session: string): Promise<LocationRecord[]>;
  createSession(session: NewSession): Promise<Result<SessionRecord, Conflict<SessionRecord>>>;
  updateSession(id: string, patch: SessionPatch, expectedVersion: number): Promise<Result<SessionRecord, Conflict<SessionRecord>>>;
  getSession(id: string): Promise<SessionRecord | undefined>;
  deleteSession(id: string): Promise<boolean>;
  /** Sessions matching every given field, sorted by id. */
  listSessions(filter?: SessionFilter): Promise<SessionRecord[]>;
  /**
   * Write the checkpoint of one module [issue 13.2] unless the stored one is newer (a higher
   * `epoch`: a later owner; or the same epoch and a `seq` at least as high) or the vaddr's
   * location record has moved past `epoch` (its writer was replaced); then `stale`, with the
   * stored record if any. Checkpoints are not in the change feed (they change often).
   */
  putCheckpoint(checkpoint: NewCheckpoint): Promise<Result<CheckpointRecord, Conflict<CheckpointRecord>>>;
  getCheckpoint(vaddr: string): Promise<CheckpointRecord | undefined>;
  /** Remove a checkpoint (only one written at `upToEpoch` or before, when given); true when removed. */
  deleteCheckpoint(vaddr: string, upToEpoch?: number): Promise<boolean>;
  /** [D99] Stored values read and dropped as invalid (the adapters count them). */
  readonly faults?: Readonly<ReadFaults>;
  /** Hear changes; returns the function that stops listening. */
  watch(listener: ChangeListener): () => void;
  /** Release the connection or file. Later calls reject. Idempotent. */
  close(): Promise<void>;
}

const ID = /^[A-Za-z0-9_.:-]{1,128}$/;
const APP = /^[a-z0-9][a-z0-9-]{0,62}$/;
const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
/** An app version as manifests spell it (semver, bounded): stored, never interpreted here. */
const APP_VERSION = /^[0-9A-Za-z][0-9A-Za-z.+-]{0,79}$/;

/** [D99] A switch id to write: a uint32. */
export function checkSwitchId(where: string, v: unknown): number {
  if (!isUint32(v)) throw new ArgumentError(`${where}: switchId must be a uint32, got ${JSON.stringify(v)}`, 'switchId');
  return v;
}

const isUint32 = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffff_ffff;

/**
 * [D99] A switch id as storage gave it (a number from SQLite, decimal text from Redis): the uint32,
 * or absent (nothing stored, or anything else, counted in `faults`: another writer's bad value
 * must not order a box's switches).
 */
export function storedSwitchId(raw: unknown, faults: ReadFaults): number | undefined {
  if (raw === undefined || raw === null) return undefined;
  const n = typeof raw === 'string' && /^[0-9]{1,10}$/.test(raw) ? Number(raw) : raw;
  if (isUint32(n)) return n;
  faults.switchId++;
  return undefined;
}

export function checkAppVersion(where: string, v: unknown): string {
  if (typeof v !== 'string' || !APP_VERSION.test(v)) throw new ArgumentError(`${where}: appVersion must match ${APP_VERSION.source}, got ${JSON.stringify(v)}`, 'appVersion');
  return v;
}

/** The app and session segments of a vaddr, validating it. */
export function vaddrKey(vaddr: string): { app: string; session: string } {
  const v = parseVaddr(vaddr);
  return { app: v.app, session: v.session };
}

export function checkId(where: string, name: string, v: unknown): string {
  if (typeof v !== 'string' || !ID.test(v)) throw new ArgumentError(`${where}: ${name} must match ${ID.source}, got ${JSON.stringify(v)}`, name);
  return v;
}

export function checkEpoch(where: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new ArgumentError(`${where}: ${name} must be an integer >= 1, got ${String(v)}`, name);
  return v;
}

/** A fresh, validated copy of a location with only the known fields. */
export function checkLocation(where: string, input: unknown): Location {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new ArgumentError(`${where}: location must be an object`, 'location');
  const { node, queue, udp, ...rest } = input as Record<string, unknown>;
  const extra = Object.keys(rest);
  if (extra.length > 0) throw new ArgumentError(`${where}: unknown location field "${extra[0]}"`, extra[0]);
  const out: Location = { node: checkId(where, 'node', node) };
  if (queue !== undefined || udp !== undefined) {
    let a;
    try {
      a = checkAddress(udp === undefined ? { queue } : queue === undefined ? { udp } : { queue, udp });
    } catch (e) {
      throw new AddressError(`${where}: ${(e as Error).message}`, input, { cause: e });
    }
    if (a.queue !== undefined) out.queue = a.queue;
    if (a.udp !== undefined) out.udp = a.udp;
  }
  return out;
}

export function checkPlacements(where: string, input: unknown): Record<string, PlacementSide> {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new ArgumentError(`${where}: placements must be an object`, 'placements');
  const out: Record<string, PlacementSide> = {};
  for (const k of Object.keys(input).sort()) {
    const side = (input as Record<string, unknown>)[k];
    if (!SEGMENT.test(k)) throw new ArgumentError(`${where}: bad module name "${k}" in placements`, 'placements');
    if (side !== 'box' && side !== 'headend') throw new ArgumentError(`${where}: placement of "${k}" must be "box" or "headend"`, 'placements');
    out[k] = side;
  }
  return out;
}

export function checkNewSession(where: string, input: unknown): Required<Omit<NewSession, 'appVersion' | 'switchId'>> & Pick<NewSession, 'appVersion' | 'switchId'> {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new ArgumentError(`${where}: session must be an object`, 'session');
  const { id, app, box, node, placements, appVersion, switchId, ...rest } = input as Record<string, unknown>;
  const extra = Object.keys(rest);
  if (extra.length > 0) throw new ArgumentError(`${where}: unknown session field "${extra[0]}"`, extra[0]);
  if (typeof id !== 'string' || !SEGMENT.test(id)) throw new ArgumentError(`${where}: session id must be a vaddr segment, got ${JSON.stringify(id)}`, 'id');
  if (typeof app !== 'string' || !APP.test(app)) throw new ArgumentError(`${where}: bad app id ${JSON.stringify(app)}`, 'app');
  return {
    id,
    app,
    box: checkId(where, 'box', box),
    node: checkId(where, 'node', node),
    placements: placements === undefined ? {} : checkPlacements(where, placements),
    ...(appVersion === undefined ? {} : { appVersion: checkAppVersion(where, appVersion) }),
    ...(switchId === undefined ? {} : { switchId: checkSwitchId(where, switchId) }),
  };
}

export function checkSessionPatch(where: string, input: unknown): SessionPatch {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new ArgumentError(`${where}: patch must be an object`, 'patch');
  const { node, placements, appVersion, switchId, ...rest } = input as Record<string, unknown>;
  const extra = Object.keys(rest);
  if (extra.length > 0) throw new ArgumentError(`${where}: unknown patch field "${extra[0]}"`, extra[0]);
  const out: SessionPatch = {};
  if (node !== undefined) out.node = checkId(where, 'node', node);
  if (placements !== undefined) out.placements = checkPlacements(where, placements);
  if (appVersion !== undefined) out.appVersion = checkAppVersion(where, appVersion);
  if (switchId !== undefined) out.switchId = checkSwitchId(where, switchId);
  return out;
}

export function checkSessionFilter(where: string, input: unknown): SessionFilter {
  if (input === undefined) return {};
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new ArgumentError(`${where}: filter must be an object`, 'filter');
  const { node, app, ...rest } = input as Record<string, unknown>;
  const extra = Object.keys(rest);
  if (extra.length > 0) throw new ArgumentError(`${where}: unknown filter field "${extra[0]}"`, extra[0]);
  const out: SessionFilter = {};
  if (node !== undefined) out.node = checkId(where, 'node', node);
  if (app !== undefined) {
    if (typeof app !== 'string' || !APP.test(app)) throw new ArgumentError(`${where}: bad app id ${JSON.stringify(app)}`, 'app');
    out.app = app;
  }
  return out;
}

/** The listeners of one registry instance; a listener that throws is reported, never stops a write. */
export class ChangeFeed {
  #listeners = new Set<ChangeListener>();
  #onError: (err: unknown) => void;

  constructor(onError: (err: unknown) => void) {
    this.#onError = onError;
  }

  get size(): number {
    return this.#listeners.size;
  }

  add(listener: ChangeListener): () => void {
    if (typeof listener !== 'function') throw new ArgumentError('watch: listener must be a function', 'listener');
    // Wrap so the same function may be added twice and removed once per add.
    const entry: ChangeListener = (c) => listener(c);
    this.#listeners.add(entry);
    return () => void this.#listeners.delete(entry);
  }

  emit(change: RegistryChange): void {
    for (const l of this.#listeners) {
      try {
        l(change);
      } catch (e) {
        this.#onError(e);
      }
    }
  }

  clear(): void {
    this.#listeners.clear();
  }
}

/** A fresh, validated copy of a checkpoint to write (the bytes are copied, not kept). */
export function checkCheckpoint(where: string, input: unknown): NewCheckpoint {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new ArgumentError(`${where}: checkpoint must be an object`, 'checkpoint');
  const { vaddr, node, epoch, seq, state, ...rest } = input as Record<string, unknown>;
  const extra = Object.keys(rest);
  if (extra.length > 0) throw new ArgumentError(`${where}: unknown checkpoint field "${extra[0]}"`, extra[0]);
  if (typeof vaddr !== 'string') throw new ArgumentError(`${where}: vaddr must be a string`, 'vaddr');
  vaddrKey(vaddr);
  if (!(state instanceof Uint8Array)) throw new ArgumentError(`${where}: state must be a Uint8Array`, 'state');
  if (state.byteLength > MAX_CHECKPOINT_BYTES) throw new ArgumentError(`${where}: state of ${state.byteLength} bytes is over the ${MAX_CHECKPOINT_BYTES}-byte bound`, 'state');
  return { vaddr, node: checkId(where, 'node', node), epoch: checkEpoch(where, 'epoch', epoch), seq: checkEpoch(where, 'seq', seq), state: Uint8Array.from(state) };
}

/** True when a stored checkpoint (`epoch`, `seq`) is as new as or newer than the one offered. */
export function checkpointNewer(stored: { epoch: number; seq: number }, offered: { epoch: number; seq: number }): boolean {
  return stored.epoch > offered.epoch || (stored.epoch === offered.epoch && stored.seq >= offered.seq);
}

/** Validate a change received from another process (pub/sub text, change-log row). */
export function parseChange(raw: unknown): RegistryChange | undefined {
  if (raw === null || typeof raw !== 'object') return undefined;
  const c = raw as Record<string, unknown>;
  if (c.kind === 'reset') return { kind: 'reset' };
  const deleted = c.deleted === true;
  if (c.kind === 'location' && typeof c.vaddr === 'string' && typeof c.epoch === 'number') return { kind: 'location', vaddr: c.vaddr, epoch: c.epoch, deleted };
  if (c.kind === 'session' && typeof c.id === 'string' && typeof c.version === 'number') return { kind: 'session', id: c.id, version: c.version, deleted };
  return undefined;
}

/** Sort helpers so both adapters list in the same order. */
export const byVaddr = (a: LocationRecord, b: LocationRecord): number => (a.vaddr < b.vaddr ? -1 : a.vaddr > b.vaddr ? 1 : 0);
export const byId = (a: SessionRecord, b: SessionRecord): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
