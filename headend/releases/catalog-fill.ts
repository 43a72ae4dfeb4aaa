// A version this node's catalog does not know yet, brought in on demand (issue 15.6): in the second
// before a node's timer syncs its catalog (a candidate promoted through another node), a session
// pinned to the candidate makes the node sync at once instead of refusing it or routing it to the
// live version's app-wide instance. Coalesced: one sync per app in flight however many sessions
// ask. Bounded: a version still unknown after its sync is a miss remembered for MISS_MS (its askers
// are refused as before and do not sync again), at most MAX_MISSES remembered, and at most
// SYNCS_PER_S fill syncs per app a second, so a box naming made-up versions cannot keep the node
// listing the store. A version the store no longer serves (withdrawn: an old live whose sessions
// still run elsewhere) is read as published for routing only: kept here, never added to the catalog.
// No timers; the clock is given.
import { decodeManifest } from '../../runtime/app/index.ts';
import type { AppCatalog, PublishedApp } from '../app-catalog.ts';
import type { Release } from './store.ts';

/** How long a version still unknown after its sync is not asked for again, ms. */
export const MISS_MS = 5000;
/** Misses remembered at most (oldest forgotten first). */
export const MAX_MISSES = 256;
/** Fill syncs per app at most in any one second. */
export const SYNCS_PER_S = 4;
/** Withdrawn versions kept as published for routing at most (oldest forgotten first). */
export const MAX_WITHDRAWN = 8;
/** Longest version string worth a sync (manifests' versions are short semver). */
const MAX_VERSION_CHARS = 64;

export interface CatalogFillStats {
  /** Versions asked for that the catalog did not have. */
  asked: number;
  /** Syncs started on a miss (each served every asker that came while it ran). */
  syncs: number;
  /** Asks answered by the sync: the version is served now. */
  filled: number;
  /** Asks still unknown after the sync (now remembered). */
  missed: number;
  /** Asks answered from a remembered miss, with no sync. */
  remembered: number;
  /** Asks refused with no sync: over SYNCS_PER_S, or not a version. */
  limited: number;
  /** Withdrawn versions read from the store for routing (each once while kept). */
  withdrawn: number;
}

export class CatalogFill {
  readonly #catalog: AppCatalog;
  readonly #sync: (app: string) => Promise<void>;
  readonly #now: () => number;
  readonly #inflight = new Map<string, Promise<void>>();
  /** `app@version` -> until when it is a known miss. */
  readonly #misses = new Map<string, number>();
  /** app -> start times of its fill syncs within the last second. */
  readonly #recent = new Map<string, number[]>();
  readonly #stats: CatalogFillStats = { asked: 0, syncs: 0, filled: 0, missed: 0, remembered: 0, limited: 0, withdrawn: 0 };
  readonly #get: ((app: string, version: string) => Promise<Release | undefined>) | undefined;
  /** `app@version` -> a withdrawn version as published (undefined: not in the store), and until when an absence holds. */
  readonly #published = new Map<string, { pub?: PublishedApp; until: number } | Promise<PublishedApp | undefined>>();

  /** `get`: one version from the store, for withdrawn versions (none: they are not served). */
  constructor(o: { catalog: AppCatalog; sync: (app: string) => Promise<void>; now: () => number; get?: (app: string, version: string) => Promise<Release | undefined> }) {
    this.#catalog = o.catalog;
    this.#sync = o.sync;
    this.#now = o.now;
    this.#get = o.get;
  }

  stats(): CatalogFillStats {
    return { ...this.#stats };
  }

  /** The version as the catalog serves it, after one sync of its app when it was not there; undefined: not served. */
  want = (app: string, version: string, withdrawn = false): Promise<PublishedApp | undefined> => {
    const have = this.#catalog.get(app, version);
    if (have !== undefined) return Promise.resolve(have);
    if (!withdrawn) return this.#served(app, version);
    const kept = this.#published.get(`${app}@${version}`);
    if (kept !== undefined && (kept instanceof Promise || kept.pub !== undefined || kept.until > this.#now())) return kept instanceof Promise ? kept : Promise.resolve(kept.pub);
    return this.#served(app, version).then((pub) => pub ?? this.#withdrawn(app, version));
  };

  #served(app: string, version: string): Promise<PublishedApp | undefined> {
    this.#stats.asked++;
    const key = `${app}@${version}`;
    const now = this.#now();
    const until = this.#misses.get(key);
    if (until !== undefined && until > now) {
      this.#stats.remembered++;
      return Promise.resolve(undefined);
    }
    this.#misses.delete(key);
    let run = this.#inflight.get(app);
    if (run === undefined) {
      if (version.length > MAX_VERSION_CHARS || !this.#allow(app, now)) {
        this.#stats.limited++;
        return Promise.resolve(undefined);
      }
      this.#stats.syncs++;
      const started = this.#sync(app).finally(() => this.#inflight.delete(app));
      this.#inflight.set(app, (run = started));
    }
    const after = (): PublishedApp | undefined => {
      const pub = this.#catalog.get(app, version);
      if (pub !== undefined) {
        this.#stats.filled++;
        return pub;
      }
      this.#stats.missed++;
      this.#remember(key);
      return undefined;
    };
    return run.then(after, after);
  }

  // A version the store no longer serves, read once as published (routing only), kept at most MAX_WITHDRAWN.
  #withdrawn(app: string, version: string): Promise<PublishedApp | undefined> {
    const key = `${app}@${version}`;
    if (this.#get === undefined || version.length > MAX_VERSION_CHARS) return Promise.resolve(undefined);
    const asPublished = (r: Release | undefined): PublishedApp | undefined => {
      if (r === undefined) return undefined;
      try {
        return { manifest: decodeManifest(r.manifestBytes), manifestBytes: r.manifestBytes, signature: r.signature, sources: r.sources };
      } catch {
        return undefined; // bytes the store holds but no manifest: not routed (verified at publish, so not expected)
      }
    };
    const read = this.#get(app, version).then(asPublished, () => undefined);
    this.#published.set(key, read);
    return read.then((pub) => {
      if (pub !== undefined) this.#stats.withdrawn++;
      this.#published.delete(key);
      this.#published.set(key, { ...(pub === undefined ? {} : { pub }), until: this.#now() + MISS_MS });
      if (this.#published.size > MAX_WITHDRAWN) this.#published.delete(this.#published.keys().next().value as string);
      return pub;
    });
  }

  #allow(app: string, now: number): boolean {
    const recent = (this.#recent.get(app) ?? []).filter((t) => t > now - 1000);
    if (recent.length >= SYNCS_PER_S) return false;
    recent.push(now);
    this.#recent.set(app, recent);
    if (this.#recent.size > MAX_MISSES) this.#recent.delete(this.#recent.keys().next().value as string);
    return true;
  }

  #remember(key: string): void {
    this.#misses.delete(key);
    this.#misses.set(key, this.#now() + MISS_MS);
    if (this.#misses.size > MAX_MISSES) this.#misses.delete(this.#misses.keys().next().value as string);
  }
}
