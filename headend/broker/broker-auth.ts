// Broker identities: which username/password pairs are boxes and which are head-end nodes.
// Either a static table, or box secrets derived from one master key (HMAC), so a plant of
// 10,000 boxes needs no password table. Constant-time comparisons; no aedes import.

import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ArgumentError } from '../../runtime/index.ts';
import { isEndpointId } from '../../transport/mqtt-topics.ts';
import type { Identity } from './broker-acl.ts';

export interface CredentialStore {
  /** The identity these credentials prove, or undefined. */
  verify(username: string, password: Uint8Array | string | undefined): Identity | undefined;
}

export interface Credential extends Identity {
  password: string;
}

/** The secret of box `boxId` under `masterKey`: what the box is provisioned with. */
export function derivedBoxSecret(masterKey: string | Uint8Array, boxId: string): string {
  if (!isEndpointId(boxId)) throw new ArgumentError(`bad box id "${boxId}"`, 'boxId');
  return createHmac('sha256', masterKey).update(`weft-box:${boxId}`).digest('base64url');
}

/** A fixed table of identities (tests, small plants, head-end nodes). */
export function staticCredentials(entries: readonly Credential[]): CredentialStore {
  const salt = randomBytes(16);
  const table = new Map<string, { who: Identity; digest: Buffer }>();
  for (const e of entries) {
    if (!isEndpointId(e.id)) throw new ArgumentError(`bad identity "${e.id}"`, 'id');
    if (e.role !== 'box' && e.role !== 'headend') throw new ArgumentError(`bad role for "${e.id}"`, 'role');
    if (table.has(e.id)) throw new ArgumentError(`identity "${e.id}" listed twice`, 'id');
    table.set(e.id, { who: { role: e.role, id: e.id }, digest: digest(salt, e.password) });
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

/** Boxes prove `derivedBoxSecret(masterKey, id)`; head-end nodes come from a static table. */
export function derivedCredentials(masterKey: string | Uint8Array, headends: readonly Omit<Credential, 'role'>[]): CredentialStore {
  if (masterKey.length < 16) throw new ArgumentError('masterKey must be at least 16 bytes', 'masterKey');
  const nodes = staticCredentials(headends.map((h) => ({ ...h, role: 'headend' as const })));
  const names = new Set(headends.map((h) => h.id));
  return {
    verify(username, password) {
      if (names.has(username)) return nodes.verify(username, password);
      if (!isEndpointId(username)) return undefined;
      const want = Buffer.from(derivedBoxSecret(masterKey, username));
      const given = Buffer.from(password ?? '');
      if (given.length !== want.length || !timingSafeEqual(want, given)) return undefined;
      return { role: 'box', id: username };
    },
  };
}

export interface HeadendCredentials {
  /** What the embedded broker checks. */
  store: CredentialStore;
  /** The password this node logs in with. */
  nodePassword: string;
}

/** The credentials a head-end node runs with: its own password and the store of its embedded broker. */
export function headendCredentials(o: { boxKey: string; node: string; password?: string }): HeadendCredentials {
  const nodePassword = o.password ?? derivedBoxSecret(o.boxKey, `headend.${o.node}`);
  return { store: derivedCredentials(o.boxKey, [{ id: o.node, password: nodePassword }]), nodePassword };
}

function digest(salt: Buffer, password: Uint8Array | string): Buffer {
  return createHash('sha256').update(salt).update(password).digest();
}
