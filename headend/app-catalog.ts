// The apps a head-end serves: each as published (manifest bytes, signature, module bytes), read
// from built app folders (dist/apps/<app>/). The catalog checks the manifest's shape; signature
// checks happen where code is evaluated (portion workers, boxes), against trusted keys.
// [issue 15.6] Versions side by side: each app has a current (live) version, what new sessions
// get when they name none, and may keep others (a rollout's candidate, a retired live version
// whose sessions still run); a session is pinned to the version its box runs, and its portion
// starts with exactly that version's modules (version pairing, docs/ROLLOUT.md).

import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ArgumentError } from '../runtime/index.ts';
import { decodeManifest, type Manifest } from '../runtime/app/index.ts';

export interface PublishedApp {
  manifest: Manifest;
  manifestBytes: Uint8Array;
  signature: Uint8Array;
  /** Module bytes by module name. */
  sources: Record<string, Uint8Array>;
}

/** Versions of one app kept (live, candidate, retired ones with sessions left); past it the oldest unpinned goes first. */
export const MAX_VERSIONS = 8;
/** Sessions pinned at most per catalog (a node hosts far fewer; a flood of opens cannot grow it). */
export const MAX_PINS = 1_000_000;

export class AppCatalog {
  /** app -> its current (live) version. */
  #apps = new Map<string, PublishedApp>();
  /** app -> version -> published bytes, the current one included. */
  #versions = new Map<string, Map<string, PublishedApp>>();
  /** session -> the app version it pairs with. */
  #pins = new Map<string, { app: string; version: string }>();
  /** `app@version` -> sessions pinned to it: a version is kept while one runs (O(1), however many sessions). */
  #pinned = new Map<string, number>();
  /** Asks the release store for a version not served here yet (releases/catalog-fill.ts); none: not asked. */
  #fill: ((app: string, version: string, withdrawn: boolean) => Promise<PublishedApp | undefined>) | undefined;
  /** Told when an app's current version becomes another (a commit, a rollback, by hand or by a sync). */
  readonly #onLive = new Set<(app: string) => void>();

  /** Serve a version; `current` (default true) makes it what sessions get when they name no version. */
  add(app: PublishedApp, o: { current?: boolean } = {}): void {
    for (const k of Object.keys(o)) if (k !== 'current') throw new ArgumentError(`AppCatalog.add: unknown option "${k}"`, k);
    for (const m of app.manifest.modules) {
      if (!(app.sources[m.name] instanceof Uint8Array)) throw new ArgumentError(`app ${app.manifest.app}: no bytes for module "${m.name}"`, 'sources');
    }
    const name = app.manifest.app;
    const was = this.#apps.get(name);
    if (o.current !== false || was === undefined) this.#apps.set(name, app);
    let vs = this.#versions.get(name);
    if (vs === undefined) this.#versions.set(name, (vs = new Map()));
    vs.delete(app.manifest.version); // re-added: newest in insertion order
    vs.set(app.manifest.version, app);
    this.#trim(name, vs);
    if (was !== undefined && this.#apps.get(name) !== was) for (const f of this.#onLive) f(name);
  }

  /** Call `f` whenever an app's current version is replaced (not at its first add); gives the unsubscribe. */
  onLiveChange(f: (app: string) => void): () => void {
    this.#onLive.add(f);
    return () => void this.#onLive.delete(f);
  }

  /** The current version of an app, or exactly `version` when given (undefined when not served). */
  get(app: string, version?: string): PublishedApp | undefined {
    if (version === undefined) return this.#apps.get(app);
    return this.#versions.get(app)?.get(version);
  }

  /**
   * `get(app, version)`, or, for a version not served here, what the catalog holds once the release
   * store was asked (a node that has not synced a new candidate yet; issue 15.6). `withdrawn`: also
   * a version the store no longer serves, as published, not added here (only to route a running
   * session of it to its app-wide instance; never to open or start one).
   */
  resolve(app: string, version: string, withdrawn = false): PublishedApp | undefined | Promise<PublishedApp | undefined> {
    const pub = this.get(app, version);
    return pub !== undefined || this.#fill === undefined || this.#apps.get(app) === undefined ? pub : this.#fill(app, version, withdrawn);
  }

  /** Install the release store's fill (rollout-start.ts); resolve() asks it for versions not served here. */
  onMissing(fill: (app: string, version: string, withdrawn: boolean) => Promise<PublishedApp | undefined>): void {
    this.#fill = fill;
  }

  /** The versions of an app served here, oldest added first. */
  versions(app: string): string[] {
    return [...(this.#versions.get(app)?.keys() ?? [])];
  }

  /** Stop serving a version (not the current one); sessions pinned to it keep it until they end. */
  remove(app: string, version: string): boolean {
    const vs = this.#versions.get(app);
    if (vs === undefined || this.#apps.get(app)?.manifest.version === version || this.#inUse(app, version)) return false;
    return vs.delete(version);
  }

  /** Pair a session of `app` with a version (its box runs it): its portions start with that version's modules. */
  pin(session: string, app: string, version: string): void {
    const was = this.#pins.get(session);
    if (was === undefined && this.#pins.size >= MAX_PINS) throw new ArgumentError(`AppCatalog.pin: over ${MAX_PINS} sessions pinned`, 'session');
    if (was !== undefined) this.#count(was, -1);
    const pin = { app, version };
    this.#pins.set(session, pin);
    this.#count(pin, 1);
  }

  unpin(session: string): void {
    const was = this.#pins.get(session);
    if (was === undefined) return;
    this.#pins.delete(session);
    this.#count(was, -1);
  }

  /** The version a session pairs with, if pinned. */
  pinned(session: string): string | undefined {
    return this.#pins.get(session)?.version;
  }

  /** What a session's portion runs: its pinned version, else the current one. */
  forSession(app: string, session: string): PublishedApp | undefined {
    const v = this.#pins.get(session)?.version;
    return v === undefined ? this.get(app) : this.get(app, v);
  }

  /** Whether a session still runs this version of this app (another app's same version string does not count). */
  #inUse(app: string, version: string): boolean {
    return (this.#pinned.get(`${app}@${version}`) ?? 0) > 0;
  }

  #count(pin: { app: string; version: string }, by: 1 | -1): void {
    const key = `${pin.app}@${pin.version}`;
    const n = (this.#pinned.get(key) ?? 0) + by;
    if (n > 0) this.#pinned.set(key, n);
    else this.#pinned.delete(key);
  }

  #trim(app: string, vs: Map<string, PublishedApp>): void {
    const current = this.#apps.get(app)?.manifest.version;
    for (const v of [...vs.keys()]) {
      if (vs.size <= MAX_VERSIONS) return;
      if (v !== current && !this.#inUse(app, v)) vs.delete(v); // a session's version stays while it runs
    }
  }

  names(): string[] {
    return [...this.#apps.keys()];
  }

  /** Read one built app folder: manifest.json, manifest.sig and each module's file. */
  static async readDir(dir: string): Promise<PublishedApp> {
    const manifestBytes = new Uint8Array(await readFile(join(dir, 'manifest.json')));
    const signature = new Uint8Array(await readFile(join(dir, 'manifest.sig')));
    const manifest = decodeManifest(manifestBytes);
    const sources: Record<string, Uint8Array> = {};
    for (const m of manifest.modules) sources[m.name] = new Uint8Array(await readFile(join(dir, m.file)));
    return { manifest, manifestBytes, signature, sources };
  }

  /** Every app under a dist/apps folder. */
  static async fromRoot(root: string): Promise<AppCatalog> {
    const c = new AppCatalog();
    for (const d of await readdir(root, { withFileTypes: true })) {
      if (d.isDirectory()) c.add(await AppCatalog.readDir(join(root, d.name)));
    }
    return c;
  }
}
