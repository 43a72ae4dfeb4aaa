// Broker identities: which usernames are boxes and which are head-end nodes, and the passwords
// that prove them. Box secrets derive from the box master key (HMAC), so a plant of 10,000 boxes
// needs no password table; node secrets come from a separate node key or table, in their own
// username namespace (`<node>@headend`). Constant-time comparisons; no aedes import.

import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ArgumentError, rejectUnknown } from '../../runtime/index.ts';
import { NODE_USER_SUFFIX, mqttUsername } from '../../transport/mqtt-options.ts';
import { isEndpointId } from '../../transport/mqtt-topics.ts';
import type { Identity } from './broker-acl.ts';

export interface CredentialStore {
  /** The identity these credentials prove, or undefined. `username` is the MQTT username. */
  verify(username: string, password: Uint8Array | string | undefined): Identity | undefined;
}

export interface Credential extends Identity {
  password: string;
}

/** Who an MQTT username claims to be: `<node>@headend` a node, a plain endpoint id a box. */
export function claimedIdentity(username: string): Identity | undefined {
  if (username.endsWith(NODE_USER_SUFFIX)) {
    const id = username.slice(0, -NODE_USER_SUFFIX.length);
    return isEndpointId(id) ? { role: 'headend', id } : undefined;
  }
  return isEndpointId(username) ? { role: 'box', id: username } : undefined;
}

/** The secret of box `boxId` under `masterKey`: what the box is provisioned with. */
export function derivedBoxSecret(masterKey: string | Uint8Array, boxId: string): string {
  if (!isEndpointId(boxId)) throw new ArgumentError(`bad box id "${boxId}"`, 'boxId');
  return createHmac('sha256', masterKey).update(`weft-box:${boxId}`).digest('base64url');
}

/** The secret of head-end node `nodeId` under the node key (never the box master key). */
export function derivedNodeSecret(nodeKey: string | Uint8Array, nodeId: string): string {
  if (!isEndpointId(nodeId)) throw new ArgumentError(`bad node id "${nodeId}"`, 'nodeId');
  return createHmac('sha256', nodeKey).update(`weft-node:${nodeId}`).digest('base64url');
}

/** A fixed table of identities (tests, small plants, head-end nodes), keyed by MQTT username. */
export function staticCredentials(entries: readonly Credential[]): CredentialStore {
  const salt = randomBytes(16);
  const table = new Map<string, { who: Identity; digest: Buffer }>();
  for (const e of entries) {
    if (!isEndpointId(e.id)) throw new ArgumentError(`bad identity "${e.id}"`, 'id');
    if (e.role !== 'box' && e.role !== 'headend') throw new ArgumentError(`bad role for "${e.id}"`, 'role');
    const user = mqttUsername(e.role, e.id);
    if (table.has(user)) throw new ArgumentError(`identity "${e.id}" listed twice`, 'id');
    table.set(user, { who: { role: e.role, id: e.id }, digest: digest(salt, e.password) });
  }
  return {
    verify(username, password) {
      const row = table.get(username);
      const given = digest(salt, password ?? '');
      // Compare even for unknown names, so timing does not reveal which names exist.
      const ok = timingSafeEqual(row?.digest ?? given.map((b) => b ^ 0xff), given);
      return row !== undefined && ok ? row.who : undefined;
    },
  };
}

/**
 * [19.6, D90] Box secrets derived for logins that succeeded, kept by box id (least recently used
 * out first) so a box that reconnects (a storm: every box at once) costs a compare, not an HMAC.
 * Only a proven secret is kept, so strangers cannot fill it; every login still compares in
 * constant time against the derived secret: nothing is trusted more than before.
 */
export const BOX_SECRET_CACHE = 32_768;

export interface DerivedCredentials extends CredentialStore {
  /** Secrets derived (HMAC), logins checked against a kept one, secrets kept now. */
  stats(): { derived: number; reused: number; kept: number };
}

/** Boxes prove `derivedBoxSecret(masterKey, id)`; head-end nodes come from their own table. */
export function derivedCredentials(masterKey: string | Uint8Array, headends: readonly Omit<Credential, 'role'>[], cacheSize = BOX_SECRET_CACHE): DerivedCredentials {
  if (masterKey.length < 16) throw new ArgumentError('masterKey must be at least 16 bytes', 'masterKey');
  if (!Number.isInteger(cacheSize) || cacheSize < 0) throw new ArgumentError('cacheSize must be a whole number >= 0', 'cacheSize');
  const nodes = staticCredentials(headends.map((h) => ({ ...h, role: 'headend' as const })));
  const kept = new Map<string, Buffer>();
  let derived = 0;
  let reused = 0;
  const secretOf = (id: string): Buffer => {
    const k = kept.get(id);
    if (k !== undefined) {
      reused++;
      return k;
    }
    derived++;
    return Buffer.from(derivedBoxSecret(masterKey, id));
  };
  const keep = (id: string, secret: Buffer): void => {
    kept.delete(id); // most recent last
    kept.set(id, secret);
    if (kept.size > cacheSize) kept.delete(kept.keys().next().value as string);
  };
  return {
    verify(username, password) {
      const claim = claimedIdentity(username);
      if (claim === undefined) return undefined;
      if (claim.role === 'headend') return nodes.verify(username, password);
      const want = secretOf(claim.id);
      const given = typeof password === 'string' || password === undefined ? Buffer.from(password ?? '') : password;
      if (given.length !== want.length || !timingSafeEqual(want, given)) return undefined;
      keep(claim.id, want);
      return claim;
    },
    stats: () => ({ derived, reused, kept: kept.size }),
  };
}

export interface HeadendCredentials {
  /** What the embedded broker checks. */
  store: CredentialStore;
  /** The password this node logs in with. */
  nodePassword: string;
}

export interface HeadendKeys {
  /** Box master key: boxes prove HMAC(boxKey, boxId). */
  boxKey: string;
  /** Node key: nodes prove HMAC(nodeKey, nodeId). Must differ from boxKey. Not needed with `password`. */
  nodeKey?: string;
  /** This node's id. */
  node: string;
  /** This node's password, given instead of deriving it from `nodeKey`. */
  password?: string;
}

/** The credentials a head-end node runs with: its own password and the store of its embedded broker. */
export function headendCredentials(o: HeadendKeys): HeadendCredentials {
  rejectUnknown('headendCredentials', o, ['boxKey', 'nodeKey', 'node', 'password']);
  if (o.password === undefined) {
    if (typeof o.nodeKey !== 'string' || o.nodeKey.length < 16) throw new ArgumentError('headendCredentials: nodeKey of at least 16 bytes is required (or password)', 'nodeKey');
    if (o.nodeKey === o.boxKey) throw new ArgumentError('headendCredentials: nodeKey must not be the box master key', 'nodeKey');
  }
  const nodePassword = o.password ?? derivedNodeSecret(o.nodeKey as string, o.node);
  const boxes = derivedCredentials(o.boxKey, [{ id: o.node, password: nodePassword }]);
  if (o.password !== undefined || o.nodeKey === undefined) return { store: boxes, nodePassword };
  // With a node key, every node that holds it may join this broker (`weft headend node` beside an
  // embedded head-end): a node proves HMAC(nodeKey, its id), which no box can derive.
  const nodeKey = o.nodeKey;
  const store: CredentialStore = {
    verify(username, password) {
      const claim = claimedIdentity(username);
      if (claim?.role !== 'headend') return boxes.verify(username, password);
      const want = Buffer.from(derivedNodeSecret(nodeKey, claim.id));
      const given = Buffer.from(password ?? '');
      return given.length === want.length && timingSafeEqual(want, given) ? claim : undefined;
    },
  };
  return { store, nodePassword };
}

function digest(salt: Buffer, password: Uint8Array | string): Buffer {
  return createHash('sha256').update(salt).update(password).digest();
}
