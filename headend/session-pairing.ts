// The app version a session pairs with, kept in its registry record (issue 15.6): written when
// the session is created and when its box switches version, read when a survivor re-places the
// session of a dead node, so the new instance runs the version the box runs, or none at all.
// No sockets or timers here: the registry and the catalog are given.

import type { AppCatalog, PublishedApp } from './app-catalog.ts';
import type { BoxLocations } from './node/box-locations.ts';
import type { Registry, SessionRecord } from './registry/registry.ts';

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

/** Record a switch of version; another writer's change in between (a move) is read and the switch written over it. */
export async function recordVersion(registry: Registry, rec: SessionRecord, version: string): Promise<boolean> {
  let cur: SessionRecord | undefined = rec;
  for (let attempt = 0; attempt < 3 && cur !== undefined; attempt++) {
    if (cur.appVersion === version) return true;
    const r = await registry.updateSession(cur.id, { appVersion: version }, cur.version);
    if (r.ok) return true;
    cur = r.error.reason === 'stale' ? r.error.current : undefined;
  }
  return false;
}
