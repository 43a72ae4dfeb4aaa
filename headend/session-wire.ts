// The wire side of session setup between nodes: the control operations, the `portion.start`
// body and its check (another node's input: typed, bounded, unknown fields refused), and the
// session id derived from the opening request's identity.

import { Codes, RemoteError, type Envelope } from '../runtime/index.ts';

export const ControlOps = {
  start: 'portion.start',
  /** Stop a session's portion on the node that runs it (after a box's session.close). */
  stop: 'portion.stop',
  /** Switch a session's portion to another app version in place, state included [issue 15.6]. */
  upgrade: 'portion.upgrade',
} as const;

const MAX_MODULES = 64;

/** Session id from the request's identity (source + message id), or random without one. */
export function sessionIdFor(env: Envelope | undefined): string {
  const seed = env === undefined ? `${Math.random()}|${Date.now()}` : `${env.src.vaddr ?? ''}|${env.src.udp?.host ?? ''}:${env.src.udp?.port ?? ''}|${env.id}|${env.deadline ?? ''}`;
  // FNV-1a, 64 bits in two halves: short, stable ids with negligible collision odds per plant.
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let i = 0; i < seed.length; i++) {
    const c = seed.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ c, 0x85ebca6b) >>> 0;
  }
  return `s${h1.toString(36)}${h2.toString(36)}`;
}

/** The body of `portion.start`: what the host needs to run the portion and record the session. */
export interface StartBody {
  app: string;
  session: string;
  modules: string[];
  states?: Record<string, Uint8Array>;
  /** The session's box: the host records the session (its load, services, downloads) [c41]. */
  box?: string;
  /** The node whose claim the host may take over (a migration's source, a dead node). */
  from?: string;
  /** The app version the session pairs with (its box runs it) [issue 15.6]; absent: the host's live one. */
  version?: string;
}

/** The body of `portion.upgrade`: the session, the version its box now runs, the new version's head-end modules. */
export interface UpgradeBody {
  session: string;
  version: string;
  modules: string[];
  /** [D96] The envelope id of the box's open: the host applies no switch older than the last it applied. */
  id?: number;
}

/** Checks a `portion.upgrade` body from another node: types and bounds, unknown fields refused. */
export function checkUpgradeBody(b: unknown): UpgradeBody {
  const bad = (why: string): never => {
    throw new RemoteError(Codes.BAD_REQUEST, `portion.upgrade: ${why}`);
  };
  if (b === null || typeof b !== 'object' || Array.isArray(b)) return bad('body must be a map');
  const o = b as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!['session', 'version', 'modules', 'id'].includes(k)) bad(`unknown field "${k}"`);
  if (o.id !== undefined && !(Number.isInteger(o.id) && (o.id as number) >= 0 && (o.id as number) <= 0xffff_ffff)) bad('id must be a uint32');
  if (typeof o.session !== 'string' || o.session.length === 0 || o.session.length > 128) bad('session must be a string of 1-128 characters');
  if (typeof o.version !== 'string' || !/^[0-9A-Za-z.+-]{1,32}$/.test(o.version)) bad('version must be an app version');
  if (!Array.isArray(o.modules) || o.modules.length === 0 || o.modules.length > MAX_MODULES || o.modules.some((m) => typeof m !== 'string' || m.length === 0 || m.length > 128)) bad(`modules must be 1-${MAX_MODULES} names`);
  return o as unknown as UpgradeBody;
}

/** Checks a `portion.start` body from another node: types and bounds, unknown fields refused. */
export function checkStartBody(b: unknown): StartBody {
  const bad = (why: string): never => {
    throw new RemoteError(Codes.BAD_REQUEST, `portion.start: ${why}`);
  };
  if (b === null || typeof b !== 'object') return bad('body must be a map');
  const o = b as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!['app', 'session', 'modules', 'states', 'box', 'from', 'version'].includes(k)) bad(`unknown field "${k}"`);
  const id = (k: string, v: unknown): void => void (typeof v === 'string' && v.length > 0 && v.length <= 128 ? 0 : bad(`${k} must be a string of 1-128 characters`));
  id('app', o.app);
  id('session', o.session);
  if (o.box !== undefined) id('box', o.box);
  if (o.from !== undefined) id('from', o.from);
  if (o.version !== undefined && (typeof o.version !== 'string' || !/^[0-9A-Za-z.+-]{1,32}$/.test(o.version))) bad('version must be an app version');
  const ms = o.modules;
  if (!Array.isArray(ms) || ms.length === 0 || ms.length > MAX_MODULES) return bad(`modules must be 1-${MAX_MODULES} names`);
  for (const m of ms) id('module', m);
  const st = o.states;
  if (st !== undefined && (st === null || typeof st !== 'object' || Object.values(st).some((v) => !(v instanceof Uint8Array)))) bad('states must map modules to bytes');
  return o as unknown as StartBody;
}
