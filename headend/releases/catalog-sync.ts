// Which versions of each app a node serves, derived from the release store's states (issue 15.6):
// the live version is the catalog's current one (new sessions naming no version, the carousel's
// own manifest); a rolling or halted candidate is served beside it, so boxes the directive puts on
// the candidate pair with the candidate's server portion. Other versions leave the catalog once no
// session is pinned to them. Every node of a cluster syncs an app when the store announces a write
// to it (D103: a change made through another node's admin API arrives at the pub/sub latency),
// and on its own timer as the fallback (a lost announcement, a store written by an older node,
// a store that announces nothing). A sync reads the
// store's change token first: unchanged since a sync that left nothing to redo, it stops there
// (one read; most seconds of a node's life). Else it reads the heads (no bytes); a version's bytes
// are read once, when the catalog does not hold them.
import { decodeManifest } from '../../runtime/app/index.ts';
import type { AppCatalog } from '../app-catalog.ts';
import type { PublishedApp } from '../app-catalog.ts';
import { isAppName, type Release, type ReleaseHead, type ReleaseStore, type StoreAnnouncement } from './store.ts';

export interface CatalogSyncStats {
  syncs: number;
  /** Versions added to the catalog (as current or beside it), and removed. */
  added: number;
  removed: number;
  /** Syncs that failed (the store did not answer); the next one tries again. */
  failed: number;
  /** Versions whose bytes were read from the store (once each, unless replaced by a startup re-publish). */
  fetched: number;
  /** Syncs that read only the change token: the store had not changed since a complete sync. */
  unchanged: number;
  /** [D103] Announcements heard from the store (writes through any node; resyncs after a gap). */
  announcements: number;
  /** Syncs they started (one in flight per app and one queued: the rest coalesce into those). */
  announcedSyncs: number;
  /** Announcements heard while their app's sync was already queued (folded into it). */
  coalesced: number;
  /** Bodies that named no app (not a string, too long, not an app name): dropped. */
  badAnnouncements: number;
}

/** The versions an app's sessions may pair with: live, and the candidate beside it. */
export function servedReleases<R extends Pick<Release, 'state'>>(releases: readonly R[]): { live?: R; beside: R[] } {
  const live = releases.filter((r) => r.state === 'live').at(-1);
  return { ...(live === undefined ? {} : { live }), beside: releases.filter((r) => r.state === 'rolling' || r.state === 'halted') };
}

/** A full sync at least every this many, whatever the token says: a store written by a node that
 *  predates the token (a rolling upgrade of the head-end) or by hand is still seen, within this many syncs. */
export const FULL_SYNC_EVERY = 30;

/** The most apps with an announced sync running at once; an announcement for one more makes (or
 *  joins) a sync of every app instead, so no flood of names makes this node hold more. */
export const MAX_ANNOUNCED_APPS = 32;
/** The key of an announced sync of every app (a resync, or the overflow above). */
const EVERY_APP = '';

export class CatalogSync {
  readonly #catalog: AppCatalog;
  readonly #store: ReleaseStore;
  readonly #log: (line: string) => void;
  /** `app@version` -> publishedAt of the bytes in the catalog (a startup re-publish changes it). */
  readonly #have = new Map<string, number>();
  readonly #stats: CatalogSyncStats = { syncs: 0, added: 0, removed: 0, failed: 0, fetched: 0, unchanged: 0, announcements: 0, announcedSyncs: 0, coalesced: 0, badAnnouncements: 0 };
  /** Announced syncs running, by app (EVERY_APP: a full one); `again`: one more is queued behind it. */
  readonly #announced = new Map<string, { again: boolean }>();
  #busy: Promise<void> | undefined;
  /** The store's change token as of the last full sync that left nothing to redo (none yet: undefined). */
  #synced: string | undefined;
  /** This sync left something for the next: a read that failed, a version a pinned session keeps. */
  #redo = false;
  /** Syncs that read only the token since the last full one. */
  #skipped = 0;

  constructor(o: { catalog: AppCatalog; store: ReleaseStore; log?: (line: string) => void }) {
    this.#catalog = o.catalog;
    this.#store = o.store;
    this.#log = o.log ?? (() => {});
  }

  stats(): CatalogSyncStats {
    return { ...this.#stats };
  }

  /** Sync an app whenever the store announces a write to it (when the store can); gives the unsubscribe. */
  listen(): () => void {
    return this.#store.watch?.((a) => this.#heard(a)) ?? (() => {});
  }

  // The body is not trusted beyond naming an app; a flood costs one sync running per app and one queued.
  #heard(a: StoreAnnouncement): void {
    this.#stats.announcements++;
    let key = EVERY_APP;
    if (a.kind === 'changed') {
      if (!isAppName(a.body)) {
        // Counted each; logged the first time and once per 1,000 after, so a flood is not a flood of lines too.
        if (this.#stats.badAnnouncements++ % 1000 === 0) this.#log(`releases: dropped an announcement naming no app (${typeof a.body}; ${this.#stats.badAnnouncements} so far)`);
        return;
      }
      key = a.body;
    }
    if (key !== EVERY_APP && !this.#announced.has(key) && this.#announced.size >= MAX_ANNOUNCED_APPS) key = EVERY_APP;
    const running = this.#announced.get(key);
    if (running === undefined) return void this.#drain(key);
    if (running.again) this.#stats.coalesced++;
    running.again = true;
  }

  async #drain(key: string): Promise<void> {
    const entry = { again: false };
    this.#announced.set(key, entry);
    try {
      do {
        entry.again = false;
        this.#stats.announcedSyncs++;
        await this.sync(key === EVERY_APP ? undefined : key);
      } while (entry.again);
    } catch (e) {
      this.#stats.failed++; // a store read fails inside sync (counted there); this is a catalog that refused a version
      this.#log(`releases: announced sync of ${key === EVERY_APP ? 'every app' : key} failed: ${(e as Error).message}`);
    } finally {
      this.#announced.delete(key);
    }
  }

  /** Bring the catalog in line with the store (one app, or every app); one sync at a time. */
  sync(app?: string): Promise<void> {
    const run = (this.#busy ?? Promise.resolve()).then(() => this.#sync(app));
    this.#busy = run.finally(() => {
      if (this.#busy === run) this.#busy = undefined;
    });
    return run;
  }

  async #sync(app: string | undefined): Promise<void> {
    let token: string | undefined;
    if (app === undefined) {
      try {
        token = await this.#store.changes();
      } catch (e) {
        this.#stats.failed++;
        return this.#log(`releases: catalog sync failed: ${(e as Error).message}`);
      }
      if (token === this.#synced && this.#skipped < FULL_SYNC_EVERY - 1) {
        this.#stats.syncs++;
        this.#stats.unchanged++;
        this.#skipped++;
        return;
      }
      this.#skipped = 0;
    }
    this.#redo = false;
    let all: ReleaseHead[];
    try {
      all = await this.#store.heads(app);
    } catch (e) {
      this.#stats.failed++;
      return this.#log(`releases: catalog sync failed: ${(e as Error).message}`);
    }
    this.#stats.syncs++;
    const apps = new Set(all.map((r) => r.app));
    for (const name of apps) {
      const { live, beside } = servedReleases(all.filter((r) => r.app === name));
      if (live !== undefined) await this.#add(live, true);
      for (const r of beside) await this.#add(r, false);
      const keep = new Set([live, ...beside].filter((r) => r !== undefined).map((r) => r.version));
      for (const v of this.#catalog.versions(name)) {
        if (keep.has(v)) continue;
        if (!this.#catalog.remove(name, v)) {
          this.#redo = true; // a pinned session keeps its version: look again next time
          continue;
        }
        this.#have.delete(`${name}@${v}`);
        this.#stats.removed++;
        this.#log(`releases: no longer serving ${name} ${v}`);
      }
    }
    // A one-app sync (a version met before its sync) leaves the others unseen: only a full one counts.
    if (token !== undefined) this.#synced = this.#redo ? undefined : token;
  }

  async #add(h: ReleaseHead, current: boolean): Promise<void> {
    const key = `${h.app}@${h.version}`;
    const held = this.#have.get(key) === h.publishedAt ? this.#catalog.get(h.app, h.version) : undefined;
    const isCurrent = this.#catalog.get(h.app)?.manifest.version === h.version;
    if (held !== undefined && isCurrent === current) return;
    // The bytes the catalog holds (same publish), else read once from the store.
    const got = held === undefined ? await this.#fetch(h) : { pub: held, publishedAt: h.publishedAt };
    if (got === undefined) {
      this.#redo = true; // gone meanwhile, or the read failed (counted): the next sync tries again
      return;
    }
    this.#catalog.add(got.pub, { current });
    this.#have.set(key, got.publishedAt);
    this.#stats.added++;
    this.#log(`releases: serving ${h.app} ${h.version} ${current ? 'as live' : 'beside live'}`);
  }

  async #fetch(h: ReleaseHead): Promise<{ pub: PublishedApp; publishedAt: number } | undefined> {
    let r: Release | undefined;
    try {
      r = await this.#store.get(h.app, h.version);
    } catch (e) {
      this.#stats.failed++;
      this.#log(`releases: reading ${h.app} ${h.version} failed: ${(e as Error).message}`);
      return undefined;
    }
    if (r === undefined) return undefined;
    this.#stats.fetched++;
    return { pub: { manifest: decodeManifest(r.manifestBytes), manifestBytes: r.manifestBytes, signature: r.signature, sources: r.sources }, publishedAt: r.publishedAt };
  }
}
