// The carousel's input: one app's module set, its validation, and the filter that keeps only
// what belongs on the one-way channel [c1, c3]. No I/O here (module-set-fs.ts reads folders).

import { ArgumentError } from '../runtime/index.ts';
import { encodeText } from './bytes.ts';
import { sha256Hex } from './hash.ts';

export const MODULE_KINDS = ['client', 'server', 'mutable', 'peer', 'manifest', 'signature', 'data'] as const;
export type ModuleKind = (typeof MODULE_KINDS)[number];
export const TIERS = ['boot', 'fallback-1', 'fallback-2'] as const;
export type Tier = (typeof TIERS)[number];

/**
 * Kinds that travel on the carousel: what a box runs (client), what may be placed on it
 * (mutable) [c4, c5], and what it needs to trust them (the signed manifest). Server and peer
 * modules stay on the head-end [c6, c7].
 */
export const CAROUSEL_KINDS: readonly ModuleKind[] = ['client', 'mutable', 'manifest', 'signature', 'data'];

export interface CarouselModule {
  /** Unique within the set; 1..64 bytes of UTF-8 without control characters. */
  name: string;
  kind: ModuleKind;
  tier: Tier;
  bytes: Uint8Array;
  /** Lower-case hex SHA-256 of `bytes`. */
  sha256: string;
}

export interface ModuleSet {
  /** App id, as in virtual addresses: lower-case letters, digits, '-'. */
  appId: string;
  /** The app's own version string (at most 32 bytes); carried in descriptors, not interpreted. */
  version: string;
  modules: CarouselModule[];
}

export const MAX_NAME_BYTES = 64;
export const MAX_VERSION_BYTES = 32;
const APP_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;
const HEX64 = /^[0-9a-f]{64}$/;
const CONTROL = /[\u0000-\u001f\u007f]/;

export function isModuleKind(v: unknown): v is ModuleKind {
  return typeof v === 'string' && (MODULE_KINDS as readonly string[]).includes(v);
}

export function isTier(v: unknown): v is Tier {
  return typeof v === 'string' && (TIERS as readonly string[]).includes(v);
}

/** Build a module, computing its hash. */
export function makeModule(name: string, kind: ModuleKind, tier: Tier, bytes: Uint8Array): CarouselModule {
  return { name, kind, tier, bytes, sha256: sha256Hex(bytes) };
}

/** Validate a module set (names, kinds, tiers, hashes); throws ArgumentError naming the problem. */
export function checkModuleSet(input: unknown): ModuleSet {
  if (input === null || typeof input !== 'object') throw new ArgumentError('module set must be an object', 'moduleSet');
  const set = input as Partial<ModuleSet>;
  if (typeof set.appId !== 'string' || !APP_ID.test(set.appId)) {
    throw new ArgumentError(`module set: bad appId ${JSON.stringify(set.appId)} (lower-case letters, digits, '-')`, 'appId');
  }
  if (typeof set.version !== 'string' || encodeText(set.version).length > MAX_VERSION_BYTES) {
    throw new ArgumentError(`module set: version must be a string of at most ${MAX_VERSION_BYTES} bytes`, 'version');
  }
  if (!Array.isArray(set.modules)) throw new ArgumentError('module set: modules must be an array', 'modules');
  const seen = new Set<string>();
  for (const m of set.modules as unknown[]) {
    if (m === null || typeof m !== 'object') throw new ArgumentError('module set: each module must be an object', 'modules');
    const { name, kind, tier, bytes, sha256 } = m as Partial<CarouselModule>;
    const label = `module ${JSON.stringify(name)}`;
    if (typeof name !== 'string' || name.length === 0 || encodeText(name).length > MAX_NAME_BYTES || CONTROL.test(name)) {
      throw new ArgumentError(`module set: ${label}: name must be 1..${MAX_NAME_BYTES} bytes without control characters`, 'name');
    }
    if (seen.has(name)) throw new ArgumentError(`module set: duplicate module name ${JSON.stringify(name)}`, 'name');
    seen.add(name);
    if (!isModuleKind(kind)) throw new ArgumentError(`module set: ${label}: kind must be one of ${MODULE_KINDS.join(', ')}`, 'kind');
    if (!isTier(tier)) throw new ArgumentError(`module set: ${label}: tier must be one of ${TIERS.join(', ')}`, 'tier');
    if (!(bytes instanceof Uint8Array)) throw new ArgumentError(`module set: ${label}: bytes must be a Uint8Array`, 'bytes');
    if (typeof sha256 !== 'string' || !HEX64.test(sha256)) throw new ArgumentError(`module set: ${label}: sha256 must be 64 lower-case hex digits`, 'sha256');
    if (sha256Hex(bytes) !== sha256) throw new ArgumentError(`module set: ${label}: sha256 does not match its bytes`, 'sha256');
  }
  return set as ModuleSet;
}

/** The part of a module set that goes on the carousel (see CAROUSEL_KINDS). */
export function carouselModules(set: ModuleSet): ModuleSet {
  return { appId: set.appId, version: set.version, modules: set.modules.filter((m) => CAROUSEL_KINDS.includes(m.kind)) };
}
