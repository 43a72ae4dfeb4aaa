// Anti-rollback (issue 12.9): the highest app version this box verified, per app, kept in device
// storage (power-cut safe, storage-fs.ts); an older version never runs unless an operator-signed
// rollback directive names it. Versions are the manifests' (semver), never the carousel's 8-bit
// module versions, which wrap.

import { type TrustedKey, jsonOf, parseSignature, verifySignature } from '../runtime/app/index.ts';
import type { DeviceStorage } from './ports.ts';

const SEMVER = /^(\d{1,9})\.(\d{1,9})\.(\d{1,9})(?:-([0-9A-Za-z.-]{1,64}))?(?:\+[0-9A-Za-z.-]{1,64})?$/;
const APP = /^[a-z0-9][a-z0-9-]{0,63}$/;
const MAX_DIRECTIVE_BYTES = 1024;

/** semver precedence: < 0 when a is older than b, 0 when equal (build metadata ignored). Throws on a non-version. */
export function compareVersions(a: string, b: string): number {
  const x = SEMVER.exec(a);
  const y = SEMVER.exec(b);
  if (x === null || y === null) throw new TypeError(`not a version: ${x === null ? a : b}`);
  for (let i = 1; i <= 3; i++) {
    const d = Number(x[i]) - Number(y[i]);
    if (d !== 0) return Math.sign(d);
  }
  const [pa, pb] = [x[4], y[4]];
  if (pa === undefined || pb === undefined) return pa === pb ? 0 : pa === undefined ? 1 : -1; // a release outranks its pre-releases
  const sa = pa.split('.');
  const sb = pb.split('.');
  for (let i = 0; i < Math.min(sa.length, sb.length); i++) {
    const [p, q] = [sa[i] as string, sb[i] as string];
    if (p === q) continue;
    const [np, nq] = [/^\d+$/.test(p), /^\d+$/.test(q)];
    if (np && nq) return Math.sign(Number(p) - Number(q));
    if (np !== nq) return np ? -1 : 1; // numeric identifiers rank below alphanumeric ones
    return p < q ? -1 : 1;
  }
  return Math.sign(sa.length - sb.length);
}

/**
 * An operator's order to run an older version: `app` may go back to `version` while the box's
 * floor is at most `maxFloor` (so the same directive replayed after a later release is refused).
 * Wire form: UTF-8 JSON `{"kind":"weft-rollback","app","version","maxFloor"}`, signed like a
 * manifest (manifest.sig format) by an operator key the box trusts.
 */
export interface RollbackDirective {
  kind: 'weft-rollback';
  app: string;
  version: string;
  maxFloor: string;
}

export type FloorVerdict = { ok: true } | { ok: false; floor: string; message: string };

export interface FloorStats {
  raised: number;
  refused: number;
  directivesAccepted: number;
  directivesRefused: number;
  /** Floor writes device storage refused: the floor then holds until power-off only. */
  unsaved: number;
}

interface Record_ {
  version: string;
  /** A version an accepted directive allows below the floor, until the box runs it. */
  allow?: string;
}

const KEY = (app: string): string => `f.${app}`;

export class RollbackFloor {
  #storage: DeviceStorage | undefined;
  #floors = new Map<string, Record_>();
  #stats: FloorStats = { raised: 0, refused: 0, directivesAccepted: 0, directivesRefused: 0, unsaved: 0 };

  /** `storage` absent or of capacity 0 (legacy-sd): the floor lives in memory until power-off. */
  constructor(storage?: DeviceStorage) {
    this.#storage = storage !== undefined && storage.capacity > 0 ? storage : undefined;
  }

  stats(): FloorStats {
    return { ...this.#stats };
  }

  /** The highest version of `app` verified here, if any. */
  floor(app: string): string | undefined {
    return this.#load(app)?.version;
  }

  /** May `version` of `app` run? A version that does not parse never does. */
  check(app: string, version: string): FloorVerdict {
    const r = this.#load(app);
    if (r === undefined || r.allow === version) return { ok: true };
    let older: boolean;
    try {
      older = compareVersions(version, r.version) < 0;
    } catch {
      older = true;
    }
    if (!older) return { ok: true };
    this.#stats.refused++;
    return { ok: false, floor: r.version, message: `${app} ${version} is older than ${r.version}, the highest version this box verified (rollback refused)` };
  }

  /** `version` was verified and runs: the floor rises to it (or drops to what a directive allowed). */
  raise(app: string, version: string): void {
    if (!SEMVER.test(version)) return;
    const r = this.#load(app);
    if (r !== undefined && r.allow !== version && compareVersions(version, r.version) <= 0) return;
    this.#stats.raised++;
    this.#save(app, { version });
  }

  /** Check an operator's rollback directive; once accepted, the version it names may run once. */
  async accept(directive: Uint8Array, signature: Uint8Array, trusted: readonly TrustedKey[]): Promise<{ ok: true; value: RollbackDirective } | { ok: false; error: Error }> {
    const refuse = (why: string): { ok: false; error: Error } => {
      this.#stats.directivesRefused++;
      return { ok: false, error: new Error(`rollback directive refused: ${why}`) };
    };
    if (directive.length > MAX_DIRECTIVE_BYTES) return refuse(`larger than ${MAX_DIRECTIVE_BYTES} bytes`);
    const sig = parseSignature(signature);
    const key = sig === undefined ? undefined : trusted.find((k) => k.keyId === sig.keyId);
    if (sig === undefined || key === undefined || !(await verifySignature(directive, sig.sig, key))) return refuse('not signed by a trusted operator key');
    const d = parseDirective(directive);
    if (d === undefined) return refuse('not a rollback directive');
    const r = this.#load(d.app);
    if (r !== undefined && compareVersions(r.version, d.maxFloor) > 0) return refuse(`it applies up to ${d.maxFloor}; this box is at ${r.version}`);
    this.#stats.directivesAccepted++;
    this.#save(d.app, { version: r?.version ?? d.version, allow: d.version });
    return { ok: true, value: d };
  }

  #load(app: string): Record_ | undefined {
    const held = this.#floors.get(app);
    if (held !== undefined || this.#storage === undefined) return held;
    const bytes = this.#storage.read(KEY(app));
    const r = bytes === undefined ? undefined : parseRecord(bytes);
    if (r !== undefined) this.#floors.set(app, r);
    return r;
  }

  #save(app: string, r: Record_): void {
    this.#floors.set(app, r);
    if (this.#storage === undefined) return;
    if (!this.#storage.write(KEY(app), new TextEncoder().encode(JSON.stringify(r)))) this.#stats.unsaved++;
  }
}

function parseRecord(bytes: Uint8Array): Record_ | undefined {
  try {
    const o = jsonOf(bytes) as Partial<Record_>;
    if (typeof o.version !== 'string' || !SEMVER.test(o.version)) return undefined;
    if (o.allow !== undefined && (typeof o.allow !== 'string' || !SEMVER.test(o.allow))) return undefined;
    return o.allow === undefined ? { version: o.version } : { version: o.version, allow: o.allow };
  } catch {
    return undefined;
  }
}

function parseDirective(bytes: Uint8Array): RollbackDirective | undefined {
  try {
    const o = jsonOf(bytes) as Partial<RollbackDirective>;
    if (o === null || typeof o !== 'object' || Object.keys(o).length !== 4 || o.kind !== 'weft-rollback') return undefined;
    if (typeof o.app !== 'string' || !APP.test(o.app)) return undefined;
    if (typeof o.version !== 'string' || !SEMVER.test(o.version) || typeof o.maxFloor !== 'string' || !SEMVER.test(o.maxFloor)) return undefined;
    return { kind: 'weft-rollback', app: o.app, version: o.version, maxFloor: o.maxFloor };
  } catch {
    return undefined;
  }
}
