// Which app-wide instance a session reaches while versions of its app run side by side (issue
// 15.6, `scope: app`): one instance per app-wide *code* (the app-wide modules' names, hashes and
// settings in the signed manifest), so versions that share that code share one instance and its
// state, and versions whose code differs never meet. The code's tag names the instance's claim
// (`weft://<app>/*/<module>/<tag>`) and its checkpoint. The session's version is its pin on this
// node, else its registry record (cached until the registry says the session changed).
// No sockets or timers; the catalog and the registry are given.

import { createHash } from 'node:crypto';
import { formatVaddr } from '../../runtime/index.ts';
import { decodeManifest, type Manifest } from '../../runtime/app/index.ts';
import type { AppCatalog, PublishedApp } from '../app-catalog.ts';
import type { Registry } from '../registry/registry.ts';

/** The tag of a manifest's app-wide code: `c` and 16 hex digits of a SHA-256 over its app-wide entries. */
export function appWideTag(m: Manifest): string {
  const parts = m.modules.filter((e) => e.scope === 'app').map((e) => JSON.stringify([e.name, e.sha256, e.critical ?? null, e.durability ?? null, e.uses, e.needs]));
  return `c${createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 16)}`;
}

/** Sessions whose record's version is remembered at most (oldest forgotten first: read again). */
export const MAX_SEEN = 100_000;

/** The address an app-wide module of one code is claimed and reached at. */
export function taggedVaddr(app: string, module: string, tag: string): string {
  return formatVaddr({ app, session: '*', module, instance: tag });
}

export class SharedVersions {
  readonly #catalog: AppCatalog;
  readonly #registry: Registry;
  readonly #tags = new WeakMap<Manifest, string>();
  readonly #byBytes = new WeakMap<Uint8Array, string>();
  /** session -> the version its record named when read ('' for none), while versions share one code. */
  readonly #seen = new Map<string, string>();

  constructor(catalog: AppCatalog, registry: Registry) {
    this.#catalog = catalog;
    this.#registry = registry;
  }

  tag(pub: PublishedApp): string {
    let t = this.#tags.get(pub.manifest);
    if (t === undefined) this.#tags.set(pub.manifest, (t = appWideTag(pub.manifest)));
    return t;
  }

  /** The tag of an instance from its spec's manifest bytes (the catalog's own array, so cached once). */
  tagOfBytes(bytes: Uint8Array): string {
    let t = this.#byBytes.get(bytes);
    if (t === undefined) this.#byBytes.set(bytes, (t = appWideTag(decodeManifest(bytes))));
    return t;
  }

  liveTag(app: string): string | undefined {
    const live = this.#catalog.get(app);
    return live === undefined ? undefined : this.tag(live);
  }

  /** Do all versions of the app served here share one app-wide code (no lookup of the session needed)? */
  single(app: string): boolean {
    const live = this.liveTag(app);
    return this.#catalog.versions(app).every((v) => this.tag(this.#catalog.get(app, v) as PublishedApp) === live);
  }

  /**
   * What a session's app-wide requests run: its pinned version here, else its registry record's
   * (undefined: not served). A version this node does not know yet is asked of the release store
   * once (catalog.resolve: a candidate not synced here yet, or a withdrawn version other nodes still
   * run, whose instance it is routed to), never answered with the live one. While
   * every served version has one app-wide code, a record read is remembered until the registry
   * says the session changed, so a session costs one read per change, not one per request.
   */
  pubOf(app: string, session: string): PublishedApp | undefined | Promise<PublishedApp | undefined> {
    const pin = this.#catalog.pinned(session);
    if (pin !== undefined) return this.#catalog.resolve(app, pin);
    const single = this.single(app);
    const seen = single ? this.#seen.get(session) : undefined;
    const known = seen === undefined ? undefined : seen === '' ? this.#catalog.get(app) : this.#catalog.get(app, seen);
    if (known !== undefined) return known;
    return this.#registry.getSession(session).then(
      (rec) => {
        const version = rec?.app === app ? rec.appVersion : undefined;
        const pub = version === undefined ? this.#catalog.get(app) : this.#catalog.resolve(app, version, true);
        if (single && rec !== undefined && pub !== undefined && !(pub instanceof Promise)) this.#remember(session, version ?? '');
        return pub;
      },
      () => this.#catalog.get(app),
    );
  }

  /** The registry says a session changed (or, with no id, that changes may have been missed): read it again. */
  changed(session?: string): void {
    if (session === undefined) this.#seen.clear();
    else this.#seen.delete(session);
  }

  #remember(session: string, version: string): void {
    this.#seen.set(session, version);
    if (this.#seen.size > MAX_SEEN) this.#seen.delete(this.#seen.keys().next().value as string);
  }

  /**
   * The codes the app's sessions pin, cluster-wide (from the registry's session records); undefined
   * when a session pins a version this node does not serve (its code is unknown here: keep all).
   */
  async pinnedTags(app: string): Promise<Set<string> | undefined> {
    const out = new Set<string>();
    const live = this.#catalog.get(app);
    for (const s of await this.#registry.listSessions({ app })) {
      const got = s.appVersion === undefined ? live : this.#catalog.resolve(app, s.appVersion, true); // a version not synced here yet: asked once
      const pub = got instanceof Promise ? await got : got;
      if (pub === undefined) return undefined;
      out.add(this.tag(pub));
    }
    return out;
  }
}
