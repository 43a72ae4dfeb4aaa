// The app manifest: schema, validation (errors name the offending field, unknown keys are
// rejected) and the canonical byte form that gets signed. Pure; no I/O, no crypto here.

import { ManifestError } from './errors.ts';
import { fromUtf8, utf8 } from './bytes.ts';
import { CPU_CLASSES, type CpuClass } from '../device.ts';

/** [c4] client: box only; server: head-end only; mutable: either side, placed per session [c5, c18];
 *  peer: head-end only, pinned by the head-end service API it uses [c6, c7]. */
export const MODULE_KINDS = ['client', 'server', 'mutable', 'peer'] as const;
export type ModuleKind = (typeof MODULE_KINDS)[number];

/** [c1, c2] boot: the first set on the carousel; fallback-1/-2: sent when the two-way channel fails. */
export const TIERS = ['boot', 'fallback-1', 'fallback-2'] as const;
export type Tier = (typeof TIERS)[number];

// One list of CPU classes for device profiles, reports and module needs.
export { CPU_CLASSES, type CpuClass };

/** Capabilities a module may declare beside the always-present send/request/on/timers. A
 *  `services.<name>` entry binds a head-end service and so pins the module to the head-end [c7]. */
export const CAPABILITIES = ['storage', 'device', 'ui'] as const;
export type Capability = (typeof CAPABILITIES)[number] | `services.${string}`;

/** Resources a module needs where it runs; the placement rule compares them with a box report [c5]. */
export interface ModuleNeeds {
  /** Bytes of sandbox heap. */
  memory?: number;
  /** Bytes of app storage. */
  storage?: number;
  /** Least CPU class that runs it acceptably. */
  cpu?: CpuClass;
}

/** [c20-c23] A critical section: every request to the module runs inside a wait-and-lock shared by
 *  all instances of its portion on a node. `queue`: FIFO, one holder [c22, c29]; `semaphore`: FIFO,
 *  `permits` holders (e.g. a pool of database connections) [c23]. Head-end kinds only. */
export const CRITICAL_GUARDS = ['queue', 'semaphore'] as const;
export type CriticalGuard = (typeof CRITICAL_GUARDS)[number];

export interface ModuleCritical {
  guard: CriticalGuard;
  /** Holders at once; only with `semaphore` (1..65536). */
  permits?: number;
}

/** [issue 13.2] How much of a head-end module's acknowledged state a node death may lose.
 *  `interval` (the default, absent from the bytes): at most the node's checkpointMs of updates,
 *  counted; `sync`: none, its replies wait for the checkpoint write. docs/OPERATIONS.md. */
export const DURABILITIES = ['interval', 'sync'] as const;
export type Durability = (typeof DURABILITIES)[number];

/** Whose instance a server module is (issue 16): `session` (default) runs one per session; `app`
 *  runs one logical instance for the whole app, reached by every session at one
 *  address, in session `*` (docs/APPS.md "App-wide modules"); its `storage` is the app's. */
export const SCOPES = ['session', 'app'] as const;
export type Scope = (typeof SCOPES)[number];

export interface ModuleEntry {
  name: string;
  kind: ModuleKind;
  tier: Tier;
  /** File name beside manifest.json, e.g. `search.js`. */
  file: string;
  /** Lower-case hex SHA-256 of the file's bytes. */
  sha256: string;
  /** The file's size in bytes. */
  size: number;
  uses: Capability[];
  needs: ModuleNeeds;
  /** Optional: the module's requests run inside a wait-and-lock on the head-end [c20-c23]. */
  critical?: ModuleCritical;
  /** Optional: checkpoint durability on the head-end (absent: `interval`) [issue 13.2]. */
  durability?: Durability;
  /** Present only as `app` (an app-wide server module); absent means `session`, so manifests
   *  without it keep their signed bytes. */
  scope?: 'app';
}

export interface Manifest {
  app: string;
  version: string;
  modules: ModuleEntry[];
}

export const MAX_MODULES = 64;
export const MAX_MODULE_BYTES = 4 * 1024 * 1024;
const APP = /^[a-z0-9][a-z0-9-]{0,62}$/;
const VERSION = /^\d{1,9}\.\d{1,9}\.\d{1,9}(?:[-+][0-9A-Za-z.-]{1,64})?$/;
const NAME = /^[a-z][a-z0-9-]{0,31}$/;
const FILE = /^[a-z][a-z0-9-]{0,31}\.js$/;
const SHA256 = /^[0-9a-f]{64}$/;
const SERVICE = /^services\.[a-z][a-z0-9-]{0,31}$/;
const MANIFEST_KEYS = ['app', 'version', 'modules'];
const MODULE_KEYS = ['name', 'kind', 'tier', 'file', 'sha256', 'size', 'uses', 'needs', 'critical', 'durability', 'scope'];
const NEEDS_KEYS = ['memory', 'storage', 'cpu'];
const CRITICAL_KEYS = ['guard', 'permits'];
export const MAX_PERMITS = 65536;

/** The head-end services a module binds (`services.epg` -> `epg`). */
export function servicesUsed(entry: Pick<ModuleEntry, 'uses'>): string[] {
  return entry.uses.filter((u) => u.startsWith('services.')).map((u) => u.slice('services.'.length));
}

/** Validate an untrusted manifest value; returns a fresh, canonical copy or throws ManifestError. */
export function checkManifest(input: unknown): Manifest {
  const m = record(input, '');
  onlyKeys(m, MANIFEST_KEYS, '');
  const app = text(m.app, 'app', APP, 'lower-case letters, digits and "-", at most 63');
  const version = text(m.version, 'version', VERSION, 'major.minor.patch[-pre]');
  if (!Array.isArray(m.modules)) throw new ManifestError('modules', 'must be an array');
  if (m.modules.length === 0) throw new ManifestError('modules', 'must list at least one module');
  if (m.modules.length > MAX_MODULES) throw new ManifestError('modules', `lists more than ${MAX_MODULES} modules`);
  const seen = new Set<string>();
  const files = new Set<string>();
  const modules = m.modules.map((raw: unknown, i: number) => {
    const entry = checkModule(raw, `modules[${i}]`);
    if (seen.has(entry.name)) throw new ManifestError(`modules[${i}].name`, `duplicate module name "${entry.name}"`);
    if (files.has(entry.file)) throw new ManifestError(`modules[${i}].file`, `duplicate file "${entry.file}"`);
    seen.add(entry.name);
    files.add(entry.file);
    return entry;
  });
  return { app, version, modules };
}

function checkModule(input: unknown, at: string): ModuleEntry {
  const m = record(input, at);
  onlyKeys(m, MODULE_KEYS, at);
  const name = text(m.name, `${at}.name`, NAME, 'lower-case letter first, then letters, digits, "-", at most 32');
  const kind = oneOf(m.kind, `${at}.kind`, MODULE_KINDS);
  const tier = oneOf(m.tier, `${at}.tier`, TIERS);
  const file = text(m.file, `${at}.file`, FILE, 'a plain file name ending in .js (no directories)');
  const sha256 = text(m.sha256, `${at}.sha256`, SHA256, '64 lower-case hex digits');
  const size = integer(m.size, `${at}.size`, MAX_MODULE_BYTES);
  const uses = checkUses(m.uses, `${at}.uses`);
  const needs = checkNeeds(m.needs, `${at}.needs`);
  const services = uses.filter((u) => SERVICE.test(u));
  // [c6, c7] a head-end service API pins a module to the head-end: a client module can never
  // have one, and a peer module is defined by having one.
  if (kind === 'client' && services.length > 0) {
    throw new ManifestError(`${at}.uses`, `a client module runs on the box and cannot use head-end service "${services[0]}"`);
  }
  if (kind === 'peer' && services.length === 0) {
    throw new ManifestError(`${at}.uses`, 'a peer module must declare the head-end service that pins it (services.<name>)');
  }
  const entry: ModuleEntry = { name, kind, tier, file, sha256, size, uses, needs };
  // A box acts on none of critical, durability and scope: the firmware leaves them out of its copy
  // unread (their keys are still known), and the head-end checks them where it publishes and
  // places (transport/firmware-build.ts; the firmware's byte budget).
  return globalThis.WEFT_FIRMWARE === true ? entry : headendFields(m, kind, entry, at);
}

/** The fields only a head-end acts on, checked against the module's kind. */
function headendFields(m: Record<string, unknown>, kind: ModuleKind, entry: ModuleEntry, at: string): ModuleEntry {
  const scope = checkScope(m.scope, kind, `${at}.scope`);
  if (m.critical !== undefined) {
    // The lock is shared by a portion's threads on one head-end node: a module that may run on a box has none.
    if (kind !== 'server' && kind !== 'peer') throw new ManifestError(`${at}.critical`, `only server and peer modules run on the head-end and may declare a critical section, not ${kind}`);
    entry.critical = checkCritical(m.critical, `${at}.critical`);
  }
  if (m.durability !== undefined) {
    // Only server and mutable modules have their state snapshotted on a head-end (a peer's lives in its service).
    if (kind === 'client') throw new ManifestError(`${at}.durability`, 'a client module runs on the box only; durability is for the state a head-end checkpoints');
    if (kind === 'peer') throw new ManifestError(`${at}.durability`, 'a peer module keeps no snapshot on the head-end (its state is its service\'s); durability is for server and mutable modules');
    entry.durability = oneOf(m.durability, `${at}.durability`, DURABILITIES);
  }
  if (scope === 'app') entry.scope = scope;
  return entry;
}

// An app-wide instance serves every session from the head-end: a module that may run on a box
// (client, mutable) cannot be one, and a peer module is pinned per session by its service [c7].
function checkScope(input: unknown, kind: ModuleKind, at: string): Scope {
  if (input === undefined) return 'session';
  const scope = oneOf(input, at, SCOPES);
  if (scope === 'app' && kind !== 'server') throw new ManifestError(at, `only a server module may be app-wide ("scope": "app"); this one is ${kind}`);
  return scope;
}

function checkCritical(input: unknown, at: string): ModuleCritical {
  const c = record(input, at);
  onlyKeys(c, CRITICAL_KEYS, at);
  const guard = oneOf(c.guard, `${at}.guard`, CRITICAL_GUARDS);
  if (guard === 'queue') {
    if (c.permits !== undefined) throw new ManifestError(`${at}.permits`, 'a queue has one holder; permits is for guard "semaphore"');
    return { guard };
  }
  if (c.permits === undefined) throw new ManifestError(`${at}.permits`, 'a semaphore needs permits (an integer in 1..65536)');
  const permits = integer(c.permits, `${at}.permits`, MAX_PERMITS);
  if (permits < 1) throw new ManifestError(`${at}.permits`, `must be an integer in 1..${MAX_PERMITS}, got 0`);
  return { guard, permits };
}

function checkUses(input: unknown, at: string): Capability[] {
  if (!Array.isArray(input)) throw new ManifestError(at, 'must be an array of capability names');
  const out: Capability[] = [];
  input.forEach((u: unknown, i: number) => {
    if (typeof u !== 'string' || !((CAPABILITIES as readonly string[]).includes(u) || SERVICE.test(u))) {
      throw new ManifestError(`${at}[${i}]`, `unknown capability ${JSON.stringify(u)} (known: ${CAPABILITIES.join(', ')}, services.<name>)`);
    }
    if (out.includes(u as Capability)) throw new ManifestError(`${at}[${i}]`, `duplicate capability "${u}"`);
    out.push(u as Capability);
  });
  return out;
}

function checkNeeds(input: unknown, at: string): ModuleNeeds {
  const n = record(input, at);
  onlyKeys(n, NEEDS_KEYS, at);
  const out: ModuleNeeds = {};
  if (n.memory !== undefined) out.memory = integer(n.memory, `${at}.memory`, 2 ** 32);
  if (n.storage !== undefined) out.storage = integer(n.storage, `${at}.storage`, 2 ** 32);
  if (n.cpu !== undefined) out.cpu = oneOf(n.cpu, `${at}.cpu`, CPU_CLASSES);
  return out;
}

function record(v: unknown, at: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ManifestError(at, 'must be an object');
  return v as Record<string, unknown>;
}

function onlyKeys(o: Record<string, unknown>, known: readonly string[], at: string): void {
  for (const k of Object.keys(o)) {
    if (!known.includes(k)) throw new ManifestError(at === '' ? k : `${at}.${k}`, `unknown key (known: ${known.join(', ')})`);
  }
}

function text(v: unknown, at: string, re: RegExp, expect: string): string {
  if (typeof v !== 'string') throw new ManifestError(at, `must be a string (${expect})`);
  if (!re.test(v)) throw new ManifestError(at, `${JSON.stringify(v.slice(0, 80))} is not valid (${expect})`);
  return v;
}

function oneOf<T extends string>(v: unknown, at: string, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw new ManifestError(at, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
  }
  return v as T;
}

function integer(v: unknown, at: string, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    throw new ManifestError(at, `must be an integer in 0..${max}, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** The canonical bytes of a manifest: fixed key order, two-space JSON, trailing newline. These
 *  exact bytes are what build.mjs writes and signs, and what the box verifies before parsing. */
export function encodeManifest(manifest: Manifest): Uint8Array {
  const m = checkManifest(manifest);
  return utf8(`${JSON.stringify(m, null, 2)}\n`);
}

/** Parse and validate manifest bytes (strict UTF-8 JSON). Throws ManifestError. */
export function decodeManifest(bytes: Uint8Array): Manifest {
  const textValue = fromUtf8(bytes);
  if (textValue === undefined) throw new ManifestError('', 'is not valid UTF-8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(textValue);
  } catch (e) {
    throw new ManifestError('', 'is not valid JSON', { cause: e });
  }
  return checkManifest(parsed);
}
