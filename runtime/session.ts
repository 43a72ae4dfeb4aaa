// The session-setup protocol between a box and the head-end [c26, c41-c45]: operation names,
// well-known addresses and body checks, shared by the loader and the head-end so both sides
// agree on every field. docs/SESSION.md walks through the sequence.

import { VADDR_SCHEME, parseVaddr } from './address.ts';
import type { ResourceReport } from './device.ts';
import { CPU_CLASSES, REQUEST_OUTCOME_KEYS } from './device.ts';
import { Codes } from './codes.ts';
import { RemoteError } from './errors.ts';

/** Where a box sends `session.open`: the head-end's session ingress (any node may serve it). */
export const SESSIONS_VADDR = `${VADDR_SCHEME}headend/*/sessions`;
/** Where boxes send periodic `stats.box` reports. */
export const STATS_VADDR = `${VADDR_SCHEME}headend/*/stats`;

/** Where a box sends `module.get`: the module endpoint of the node the session reply named [c41]. */
export function modulesVaddr(node: string): string {
  return `${VADDR_SCHEME}headend/${node}/modules`;
}

export const SessionOps = {
  /** req box -> head-end: ask for a server portion [c41 step 2, c45 step 2]. */
  open: 'session.open',
  /** req box -> selected node: download a module of the client portion from that node [c41 step 5]. */
  moduleGet: 'module.get',
  /** ctl box -> server portion: the client portion is running [c42]. */
  clientStarted: 'client-started',
  /** stat box -> head-end: resources, periodically [c5]. */
  report: 'stats.box',
  /** req box -> head-end: a mutable module that ran on the box moves back, state included [c31]. */
  mutableReturn: 'mutable.return',
  /** ctl head-end -> box: move a mutable module to the box (state included) or off it. */
  mutableMove: 'mutable.move',
  /** req box -> head-end: the session ends (app closed). */
  close: 'session.close',
} as const;

export interface OpenRequest {
  app: string;
  /** The manifest version the box runs (from the carousel). */
  version: string;
  boxId: string;
  report: ResourceReport;
  /** Mutable modules the box already runs locally (after fallback), with their snapshots. */
  running?: { module: string; state: Uint8Array }[];
  /**
   * The session this open continues (issue 15.6-7): the box switched app version, so the head-end
   * moves that session's server portion to `version` in place, state included, under the same
   * session id, instead of opening a new one. Absent, unknown or not this box's: a fresh open.
   */
  previous?: string;
}

export interface PlacedModule {
  module: string;
  side: 'box' | 'headend';
  /** Virtual address of the module for this session [c31, c33]. */
  vaddr: string;
}

export interface OpenReply {
  /** Identifier shared by the server portion and the client portion [c26, c44]. */
  session: string;
  /** The node that runs the server portion. */
  node: string;
  /** Virtual address of the server portion's entry module (where client-started goes). */
  dasp: string;
  /** Where every module of the app runs for this session [c5]. */
  modules: PlacedModule[];
  /** Modules the box downloads from the selected node (module.get) [c41]. */
  download: string[];
  /** How often the box reports resources, ms. */
  reportEveryMs: number;
}

export interface ModuleGetRequest {
  session: string;
  module: string;
}

export interface ModuleGetReply {
  module: string;
  code: Uint8Array;
  sha256: string;
  /** State to restore (a mutable module moving from the head-end to the box). */
  state?: Uint8Array;
}

/** Body of `ctl client-started` [c42]: the session and the modules now running on the box. */
export interface ClientStarted {
  session: string;
  modules: string[];
}

const bad = (msg: string): RemoteError => new RemoteError(Codes.BAD_REQUEST, msg);

function obj(v: unknown, what: string, keys: readonly string[]): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw bad(`${what} must be an object`);
  const extra = Object.keys(v).filter((k) => !keys.includes(k));
  if (extra.length > 0) throw bad(`${what}: unknown field "${extra[0]}"`);
  return v as Record<string, unknown>;
}

function text(o: Record<string, unknown>, k: string, what: string, max = 128): string {
  const v = o[k];
  if (typeof v !== 'string' || v.length === 0 || v.length > max) throw bad(`${what}.${k} must be a string of 1..${max} characters`);
  return v;
}

function nonNeg(o: Record<string, unknown>, k: string, what: string): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw bad(`${what}.${k} must be a number >= 0`);
  return v;
}

export function checkReport(v: unknown): ResourceReport {
  const keys = ['boxId', 'profile', 'freeMemoryBytes', 'appMemoryBytes', 'cpuClass', 'cpuLoad', 'storageFreeBytes', 'sandboxBytes', 'twoWayUp', 'at', 'requests', 'rollout'];
  const o = obj(v, 'report', keys);
  text(o, 'boxId', 'report');
  text(o, 'profile', 'report', 32);
  for (const k of ['freeMemoryBytes', 'appMemoryBytes', 'cpuLoad', 'storageFreeBytes', 'sandboxBytes', 'at']) nonNeg(o, k, 'report');
  if (!CPU_CLASSES.includes(o.cpuClass as never)) throw bad(`report.cpuClass must be one of ${CPU_CLASSES.join(', ')}`);
  if (typeof o.twoWayUp !== 'boolean') throw bad('report.twoWayUp must be a boolean');
  if (o.requests !== undefined) {
    const r = obj(o.requests, 'report.requests', REQUEST_OUTCOME_KEYS);
    for (const k of REQUEST_OUTCOME_KEYS) if (!Number.isSafeInteger(r[k]) || (r[k] as number) < 0) throw bad(`report.requests.${k} must be an integer >= 0`);
  }
  // [issue 15] probation outcomes (loader/probation-box.ts); the head-end's rollout tally checks each entry.
  if (o.rollout !== undefined && (!Array.isArray(o.rollout) || o.rollout.length > 8)) throw bad('report.rollout must be an array of at most 8 outcomes');
  return o as unknown as ResourceReport;
}

export function checkOpenRequest(v: unknown): OpenRequest {
  const o = obj(v, 'session.open', ['app', 'version', 'boxId', 'report', 'running', 'previous']);
  text(o, 'app', 'session.open', 63);
  text(o, 'version', 'session.open', 32);
  text(o, 'boxId', 'session.open');
  checkReport(o.report);
  if (o.previous !== undefined) text(o, 'previous', 'session.open', 64);
  if (o.running !== undefined) {
    if (!Array.isArray(o.running) || o.running.length > 64) throw bad('session.open.running must be an array of at most 64');
    for (const r of o.running) {
      const e = obj(r, 'session.open.running[]', ['module', 'state']);
      text(e, 'module', 'running[]', 64);
      if (!(e.state instanceof Uint8Array)) throw bad('running[].state must be bytes');
    }
  }
  return o as unknown as OpenRequest;
}

export function checkModuleGet(v: unknown): ModuleGetRequest {
  const o = obj(v, 'module.get', ['session', 'module']);
  text(o, 'session', 'module.get', 64);
  text(o, 'module', 'module.get', 64);
  return o as unknown as ModuleGetRequest;
}

export function checkOpenReply(v: unknown): OpenReply {
  const o = obj(v, 'session.open reply', ['session', 'node', 'dasp', 'modules', 'download', 'reportEveryMs']);
  text(o, 'session', 'reply', 64);
  text(o, 'node', 'reply', 64);
  parseVaddr(text(o, 'dasp', 'reply', 256));
  if (!Array.isArray(o.modules) || !Array.isArray(o.download)) throw bad('reply.modules and reply.download must be arrays');
  for (const m of o.modules) {
    const e = obj(m, 'reply.modules[]', ['module', 'side', 'vaddr']);
    text(e, 'module', 'modules[]', 64);
    if (e.side !== 'box' && e.side !== 'headend') throw bad('modules[].side must be box or headend');
    parseVaddr(text(e, 'vaddr', 'modules[]', 256));
  }
  nonNeg(o, 'reportEveryMs', 'reply');
  return o as unknown as OpenReply;
}

/** Box side: a `module.get` reply; the loader still checks `code` against its signed manifest. */
export function checkModuleGetReply(v: unknown): ModuleGetReply {
  const o = obj(v, 'module.get reply', ['module', 'code', 'sha256', 'state']);
  text(o, 'module', 'module.get reply', 64);
  if (!(o.code instanceof Uint8Array)) throw bad('module.get reply.code must be bytes');
  if (typeof o.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(o.sha256)) throw bad('module.get reply.sha256 must be 64 lower-case hex digits');
  if (o.state !== undefined && !(o.state instanceof Uint8Array)) throw bad('module.get reply.state must be bytes');
  return o as unknown as ModuleGetReply;
}

export function checkClientStarted(v: unknown): ClientStarted {
  const o = obj(v, 'client-started', ['session', 'modules']);
  text(o, 'session', 'client-started', 64);
  if (!Array.isArray(o.modules) || o.modules.length > 64 || !o.modules.every((m) => typeof m === 'string')) throw bad('client-started.modules must be an array of at most 64 names');
  return o as unknown as ClientStarted;
}
