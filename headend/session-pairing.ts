// The app version a session pairs with, kept in its registry record (issue 15.6): written when
// the session is created and when its box switches version, read when a survivor re-places the
// session of a dead node, so the new instance runs the version the box runs, or none at all.
// No sockets or timers here: the registry and the catalog are given.

import type { Address, UdpAddress } from '../runtime/index.ts';
import type { ClusterView } from '../policy/index.ts';
import type { AppCatalog, PublishedApp } from './app-catalog.ts';
import type { BoxLocations } from './node/box-locations.ts';
import { Endpoint } from './node/endpoints.ts';
import { Membership } from './node/membership.ts';
import type { Registry, SessionRecord } from './registry/registry.ts';
import { ControlOps, type StartBody } from './session-wire.ts';
import { laterId } from './session-switch-order.ts';

/** What a re-placement may start: the recorded version (or the live one for an old record), nothing, or a version no longer served. */
export type Pairing = { kind: 'serve'; pub: PublishedApp; version?: string } | { kind: 'no-app' } | { kind: 'mismatch'; version: string };

export async function pairingOf(catalog: AppCatalog, rec: SessionRecord): Promise<Pairing> {
  if (catalog.get(rec.app) === undefined) return { kind: 'no-app' };
  // A record written before sessions carried their version pairs with the live one, as it did then.
  if (rec.appVersion === undefined) return { kind: 'serve', pub: catalog.get(rec.app) as PublishedApp };
  // A version this survivor has not synced yet (a candidate promoted elsewhere a moment ago): its catalog syncs once first.
  const pub = await catalog.resolve(rec.app, rec.appVersion);
  return pub === undefined ? { kind: 'mismatch', version: rec.appVersion } : { kind: 'serve', pub, version: rec.appVersion };
}

/**
 * A session whose version no survivor serves cannot run anywhere: its record and addresses go,
 * so its box's next request is answered NO_SESSION and it opens again; that open is refused
 * with VERSION_MISMATCH until the box runs a version the carousel names.
 */
export async function giveUp(registry: Registry, boxes: BoxLocations, rec: SessionRecord): Promise<void> {
  for (const loc of await registry.listBySession(rec.app, rec.id)) await registry.unbind(loc.vaddr, loc.epoch);
  boxes.forgetSession(rec.app, rec.id, Object.keys(rec.placements));
  await registry.deleteSession(rec.id);
}

/** How long a survivor waits for another node's portion.start of a session it cannot serve, ms. */
export const ELSEWHERE_START_MS = 10_000;

/** What placing a session on another node needs of the survivor (SessionHost satisfies it). */
export interface ElsewhereHost {
  readonly id: string;
  readonly registry: Registry;
  readonly boxes: BoxLocations;
  readonly statistics: { clusterView(): ClusterView };
  peerUdp(node: string): UdpAddress | undefined;
  request(dst: Address, body: unknown, op: string, timeoutMs?: number): Promise<unknown>;
}

/**
 * The sessions of a dead node whose version this survivor does not serve, even after its catalog
 * synced (a version withdrawn from the release store: an old live, a rolled-back candidate), may
 * still be served by another live node: one that hosts sessions pinned to that version keeps it in
 * its catalog while they run. The session's portion starts there (`portion.start` naming the
 * version), else the session is given up. The app's session list is read once per re-placement.
 */
export class Elsewhere {
  readonly #h: ElsewhereHost;
  readonly #dead: string;
  /** `app@version` -> the live node found serving it (undefined: none). */
  readonly #found = new Map<string, Promise<string | undefined>>();
  placed = 0;

  constructor(h: ElsewhereHost, dead: string) {
    this.#h = h;
    this.#dead = dead;
  }

  /** Start the session where its version is still served: that node, or undefined (given up). */
  async place(rec: SessionRecord, version: string): Promise<string | undefined> {
    const h = this.#h;
    const modules = Object.entries(rec.placements).filter(([, side]) => side === 'headend').map(([m]) => m);
    const key = `${rec.app}@${version}`;
    if (!this.#found.has(key)) this.#found.set(key, this.#serving(rec.app, version));
    const at = modules.length === 0 ? undefined : await this.#found.get(key);
    const udp = at === undefined ? undefined : h.peerUdp(at);
    if (at !== undefined && udp !== undefined) {
      const body: StartBody = { app: rec.app, session: rec.id, modules, states: {}, box: rec.box, from: this.#dead, version };
      try {
        const r = (await h.request({ vaddr: Membership.vaddr(at, Endpoint.control), udp }, body, ControlOps.start, ELSEWHERE_START_MS)) as { node?: unknown } | undefined;
        const node = typeof r?.node === 'string' ? r.node : at;
        await h.registry.updateSession(rec.id, { node }, rec.version);
        this.placed++;
        return node;
      } catch {
        // it could not start it (it let the version go meanwhile, or timed out): given up below
      }
    }
    await giveUp(h.registry, h.boxes, rec);
    return undefined;
  }

  async #serving(app: string, version: string): Promise<string | undefined> {
    const h = this.#h;
    const live = new Set(h.statistics.clusterView().nodes.map((n) => n.node).filter((n) => n !== this.#dead && n !== h.id));
    if (live.size === 0) return undefined;
    const sessions = await h.registry.listSessions({ app }).catch(() => []);
    return sessions.find((s) => s.appVersion === version && live.has(s.node))?.node;
  }
}

/**
 * Record a switch of version, and [D99] its envelope id (one write: both or neither); another
 * writer's change in between (a move) is read and the switch written over it, unless that record
 * already holds a later switch of the box (then false: not recorded).
 */
export async function recordVersion(registry: Registry, rec: SessionRecord, version: string, id?: number): Promise<boolean> {
  let cur: SessionRecord | undefined = rec;
  for (let attempt = 0; attempt < 3 && cur !== undefined; attempt++) {
    if (id !== undefined && cur.switchId !== undefined && laterId(cur.switchId, id)) return false;
    if (cur.appVersion === version && (id === undefined || cur.switchId === id)) return true;
    const r = await registry.updateSession(cur.id, { appVersion: version, ...(id === undefined ? {} : { switchId: id }) }, cur.version);
    if (r.ok) return true;
    cur = r.error.reason === 'stale' ? r.error.current : undefined;
  }
  return false;
}
