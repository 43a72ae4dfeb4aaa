// Acquisition from the carousel [c1-c3]: feeds the tuner's datagrams to a receiver for the tiers
// wanted, verifies what arrives against the signed manifest before anything can run, keeps
// verified bytes for a warm boot, and keeps watching for a new version. Nothing unverified leaves.

import { type CarouselModule, CarouselReceiver, type DdbMessage, type DsmccMessage, type ReceiverEvent, type Tier } from '../carousel/index.ts';
import {
  type Manifest,
  type SignatureError,
  type TrustedKey,
  type TrustedManifest,
  type VerifiedModule,
  verifyManifest,
  verifyModule,
} from '../runtime/app/index.ts';
import type { AppIndex, ModuleCache } from './module-cache.ts';
import type { Tuned, Tuner, TunerStatus } from './ports.ts';
import type { RollbackFloor } from './rollback-floor.ts';

/** A verified app: the trusted manifest and the modules of the tiers acquired so far. */
export interface AcquiredApp {
  readonly trusted: TrustedManifest;
  readonly manifest: Manifest;
  /** SHA-256 of the manifest bytes: what tells one version from another. */
  readonly manifestSha: string;
  /** Verified modules (client and mutable) by name. */
  readonly modules: ReadonlyMap<string, VerifiedModule>;
  readonly tiers: readonly Tier[];
  readonly fromCache: boolean;
}

export type AcquireEvent =
  | { kind: 'dsi'; app: string; version: string }
  | { kind: 'verified'; app: AcquiredApp }
  /** A different version than the one delivered last was acquired and verified. */
  | { kind: 'update'; app: AcquiredApp }
  | { kind: 'refused'; problem: string; module?: string; message: string }
  | { kind: 'corrupt'; module: string }
  | { kind: 'progress'; tier: Tier; fraction: number }
  | { kind: 'cache-full'; module: string }
  /** The carousel announced more than the box may hold for modules: refused at the DII [issue 12]. */
  | { kind: 'over-quota'; message: string }
  /** A tune attempt's outcome: failures are retried by the tuner on its own backoff. */
  | { kind: 'tuner'; ok: boolean; attempt: number; message?: string; retryInMs?: number };

export interface AcquirerOptions {
  tuner: Tuner;
  trusted: readonly TrustedKey[];
  /** Accept only this app id (a box tuned to a channel with several apps). Default: the one on air. */
  app?: string;
  cache?: ModuleCache;
  /** Bytes the receiver may hold for modules (see `carouselQuotaFor`). Default: the receiver's. */
  maxHeldBytes?: number;
  /** Anti-rollback: no version older than the highest verified runs (rollback-floor.ts). */
  floor?: RollbackFloor;
  /** Which version of the boot tier to run (a rollout directive, probation-box.ts). Default: the carousel's own manifest. */
  pick?: (got: CarouselModule[]) => Promise<VersionPick>;
  /** A version that must not raise the floor when verified (it runs on probation; the floor rises on commit). */
  holdFloor?: (m: Manifest, manifestSha: string) => boolean;
  now: () => number;
  onEvent: (e: AcquireEvent) => void;
}

const RUNNABLE = new Set(['client', 'mutable']);

/** The manifest chosen among what the boot tier carries; its modules are named `prefix + name`. */
export interface VersionPick {
  manifest: CarouselModule | undefined;
  signature: CarouselModule | undefined;
  prefix: string;
}

/**
 * Bytes a box may hold for carousel modules, verified or not [issue 12]: its app memory, since
 * every module it acquires must also fit there to run. Storage does not raise it (a cached
 * module is served from storage, not held twice).
 */
export function carouselQuotaFor(profile: { appMemoryBytes: number }): number {
  return Math.max(1, Math.floor(profile.appMemoryBytes));
}

export interface AcquireStats {
  refused: number;
  /** DIIs the receiver refused for passing the module quota. */
  overQuota: number;
  corrupt: number;
  verified: number;
  updates: number;
  /** Receivers made: one per tier set wanted, plus one per refusal (re-acquisition). */
  receivers: number;
  /** Tune attempts reported by the tuner, and how many failed. */
  tuner: { attempts: number; failures: number; lastError: string | undefined };
  receiver: ReturnType<CarouselReceiver['stats']>;
}

export class Acquirer {
  #o: AcquirerOptions;
  #tiers: Tier[] = ['boot'];
  #rx: CarouselReceiver;
  #gen = 0;
  #tuned: Tuned | undefined;
  /** Verified bytes by SHA-256: what a fresh receiver need not fetch again. */
  #verified = new Map<string, Uint8Array>();
  #current: AcquiredApp | undefined;
  #stats: Omit<AcquireStats, 'receiver'> = { refused: 0, overQuota: 0, corrupt: 0, verified: 0, updates: 0, receivers: 0, tuner: { attempts: 0, failures: 0, lastError: undefined } };

  constructor(options: AcquirerOptions) {
    this.#o = options;
    this.#rx = this.#receiver();
  }

  get tiers(): readonly Tier[] {
    return this.#tiers;
  }

  /** The app delivered last (verified or update), if any. */
  get current(): AcquiredApp | undefined {
    return this.#current;
  }

  stats(): AcquireStats {
    return { ...this.#stats, tuner: { ...this.#stats.tuner }, receiver: this.#rx.stats() };
  }

  async tune(): Promise<void> {
    if (this.#tuned !== undefined) return;
    const tuner = this.#o.tuner;
    const onStatus = (s: TunerStatus): void => this.#onTuner(s);
    // A shared tuner demuxes once for the whole process; this box takes decoded sections.
    if (tuner.subscribe !== undefined) {
      const sink = { pid: this.#rx.pid, wants: (m: DdbMessage) => this.#rx.wants(m), pushMessage: (m: DsmccMessage) => this.#rx.pushMessage(m) };
      this.#tuned = await tuner.subscribe(sink, onStatus);
    } else {
      this.#tuned = await tuner.tune((d) => this.#rx.push(d), onStatus);
    }
  }

  #onTuner(s: TunerStatus): void {
    const t = this.#stats.tuner;
    t.attempts++;
    if (s.kind === 'tuned') return this.#o.onEvent({ kind: 'tuner', ok: true, attempt: s.attempt });
    t.failures++;
    t.lastError = s.error.message;
    this.#o.onEvent({ kind: 'tuner', ok: false, attempt: s.attempt, message: s.error.message, retryInMs: Math.round(s.retryInMs) });
  }

  async close(): Promise<void> {
    this.#gen++;
    const t = this.#tuned;
    this.#tuned = undefined;
    await t?.close();
  }

  /** Acquire these tiers (a new receiver; verified modules come from memory or the cache at once). */
  want(tiers: Tier[]): void {
    this.#tiers = [...new Set<Tier>(['boot', ...tiers])];
    this.#rx = this.#receiver();
    if (tiers.length > 0) void this.#fromVerified(this.#gen);
  }

  // A tier whose modules were all verified before (this run, or a warm boot's cache) needs no
  // carousel: the same manifest's modules are checked again and delivered at once.
  async #fromVerified(gen: number): Promise<void> {
    const cur = this.#current;
    if (cur === undefined) return;
    const modules = new Map(cur.modules);
    for (const entry of cur.manifest.modules) {
      if (!RUNNABLE.has(entry.kind) || !this.#tiers.includes(entry.tier) || modules.has(entry.name)) continue;
      const bytes = this.#verified.get(entry.sha256) ?? this.#o.cache?.get(entry.sha256);
      if (bytes === undefined) return; // not all here: the receiver acquires them
      const v = await verifyModule(cur.trusted, entry.name, bytes);
      if (!v.ok) return;
      modules.set(entry.name, v.value);
    }
    if (gen !== this.#gen) return;
    const app: AcquiredApp = { ...cur, modules, tiers: this.#tiers };
    this.#current = app;
    this.#o.onEvent({ kind: 'verified', app });
  }

  /** Warm boot: the app last verified (or the version `index` names), from device storage, verified again. */
  async warm(index?: AppIndex): Promise<AcquiredApp | undefined> {
    const cache = this.#o.cache;
    const idx = index ?? cache?.loadApp(this.#o.app);
    if (cache === undefined || idx === undefined) return undefined;
    const manifest = cache.get(idx.manifest);
    const signature = cache.get(idx.signature);
    if (manifest === undefined || signature === undefined) return undefined;
    const t = await verifyManifest(manifest, signature, this.#o.trusted);
    if (!t.ok) {
      cache.forget(idx.app); // signed by a key no longer trusted, or torn: cold boot instead
      return undefined;
    }
    // [12.9] a cached version below the floor (an old index a cut brought back) never runs.
    if (this.#o.floor?.check(t.value.manifest.app, t.value.manifest.version).ok === false) return undefined;
    const modules = new Map<string, VerifiedModule>();
    const tiers = new Set<Tier>(['boot']);
    for (const entry of t.value.manifest.modules) {
      if (!RUNNABLE.has(entry.kind)) continue;
      const sha = idx.modules[entry.name];
      const bytes = sha === undefined ? undefined : cache.get(sha);
      if (bytes === undefined) {
        if (entry.tier === 'boot') return undefined; // not all of the boot tier was kept
        tiers.delete(entry.tier);
        continue;
      }
      const v = await verifyModule(t.value, entry.name, bytes);
      if (!v.ok) {
        cache.forget(idx.app);
        return undefined;
      }
      modules.set(entry.name, v.value);
      this.#verified.set(entry.sha256, bytes);
      if (entry.tier !== 'boot') tiers.add(entry.tier);
    }
    this.#verified.set(idx.manifest, manifest);
    this.#verified.set(idx.signature, signature);
    const app: AcquiredApp = { trusted: t.value, manifest: t.value.manifest, manifestSha: idx.manifest, modules, tiers: ['boot'], fromCache: true };
    if (this.#o.holdFloor?.(app.manifest, app.manifestSha) !== true) this.#o.floor?.raise(app.manifest.app, app.manifest.version);
    this.#current = app;
    this.#stats.verified++;
    return app;
  }

  #receiver(): CarouselReceiver {
    const gen = ++this.#gen;
    this.#stats.receivers++;
    this.#tuned?.changed?.(); // the sink's new receiver wants what it has not seen
    const rx: CarouselReceiver = new CarouselReceiver({
      tiers: this.#tiers,
      cached: (sha) => this.#verified.get(sha) ?? this.#o.cache?.get(sha),
      ...(this.#o.tuner.shared === undefined ? {} : { shared: this.#o.tuner.shared }),
      ...(this.#o.maxHeldBytes === undefined ? {} : { maxHeldBytes: this.#o.maxHeldBytes }),
      onEvent: (e) => {
        if (gen === this.#gen) this.#onReceiver(e, rx, gen);
      },
    });
    return rx;
  }

  #onReceiver(e: ReceiverEvent, rx: CarouselReceiver, gen: number): void {
    const emit = this.#o.onEvent;
    switch (e.kind) {
      case 'dsi':
        if (this.#o.app === undefined || e.appId === this.#o.app) emit({ kind: 'dsi', app: e.appId, version: e.appVersion });
        return;
      case 'corrupt':
        this.#stats.corrupt++;
        emit({ kind: 'corrupt', module: e.name });
        return;
      case 'progress':
        emit({ kind: 'progress', tier: e.tier, fraction: e.fraction });
        return;
      case 'over-quota':
        this.#stats.overQuota++;
        emit({ kind: 'over-quota', message: `the carousel announces ${e.bytes} bytes of modules (${e.modules.slice(0, 3).join(', ')}${e.modules.length > 3 ? ', ...' : ''}) beside ${e.heldBytes} held: over this box's ${e.quotaBytes}-byte module quota` });
        return;
      case 'tier':
        if (rx.done) void this.#verify(rx.modules(), gen);
        return;
      default:
        return;
    }
  }

  async #verify(got: CarouselModule[], gen: number): Promise<void> {
    const r = await this.#check(got);
    if (gen !== this.#gen) return; // superseded while verifying
    if (!r.ok) {
      this.#stats.refused++;
      this.#o.onEvent(r.error);
      // [c1] refused bytes never run: acquire again from the carousel (the next cycle, or the
      // next version) with a fresh receiver; verified modules are not fetched twice.
      this.#rx = this.#receiver();
      return;
    }
    if (r.value === undefined) return; // another app's carousel
    const app = r.value;
    const prev = this.#current;
    this.#current = app;
    this.#stats.verified++;
    if (prev !== undefined && prev.manifestSha !== app.manifestSha) {
      this.#stats.updates++;
      this.#o.onEvent({ kind: 'update', app });
    } else {
      this.#o.onEvent({ kind: 'verified', app });
    }
  }

  async #check(got: CarouselModule[]): Promise<{ ok: true; value: AcquiredApp | undefined } | { ok: false; error: AcquireEvent & { kind: 'refused' } }> {
    const refuse = (problem: string, message: string, module?: string): { ok: false; error: AcquireEvent & { kind: 'refused' } } => ({
      ok: false,
      error: module === undefined ? { kind: 'refused', problem, message } : { kind: 'refused', problem, module, message },
    });
    const pick = this.#o.pick === undefined ? { manifest: got.find((m) => m.kind === 'manifest'), signature: got.find((m) => m.kind === 'signature'), prefix: '' } : await this.#o.pick(got);
    const { manifest, signature } = pick;
    if (manifest === undefined) return refuse('no-manifest', 'the boot tier carries no manifest');
    // [issue 15] The version verified last, on air again (a new directive, another box's wave): the
    // same bytes by SHA-256, so a check would say the same; every box of a fleet re-ran it per change.
    const cur = this.#current;
    if (cur?.manifestSha === manifest.sha256 && cur.manifest.modules.every((e) => !RUNNABLE.has(e.kind) || !this.#tiers.includes(e.tier) || (cur.modules.has(e.name) && got.some((c) => c.name === pick.prefix + e.name && c.sha256 === e.sha256)))) {
      return { ok: true, value: { ...cur, modules: new Map([...cur.modules].filter(([, v]) => this.#tiers.includes(v.entry.tier))), tiers: this.#tiers, fromCache: false } };
    }
    const t = await verifyManifest(manifest.bytes, signature?.bytes, this.#o.trusted);
    if (!t.ok) return refuse(problemOf(t.error), t.error.message);
    const m = t.value.manifest;
    if (this.#o.app !== undefined && m.app !== this.#o.app) return { ok: true, value: undefined };
    // [12.9] a validly signed but older version (a replay) is refused before anything is kept.
    const floor = this.#o.floor?.check(m.app, m.version);
    if (floor?.ok === false) return refuse('rollback', floor.message);
    const modules = new Map<string, VerifiedModule>();
    const keep: [string, Uint8Array][] = [[manifest.sha256, manifest.bytes]];
    if (signature !== undefined) keep.push([signature.sha256, signature.bytes]);
    for (const entry of m.modules) {
      if (!RUNNABLE.has(entry.kind) || !this.#tiers.includes(entry.tier)) continue;
      const c = got.find((x) => x.name === pick.prefix + entry.name);
      // A manifest naming a module the carousel does not carry is a half-switched version.
      if (c === undefined) return refuse('missing-module', `${entry.name} is in the manifest but not on the carousel`, entry.name);
      const v = await verifyModule(t.value, entry.name, c.bytes);
      if (!v.ok) return refuse(problemOf(v.error), v.error.message, entry.name);
      modules.set(entry.name, v.value);
      keep.push([entry.sha256, c.bytes]);
    }
    for (const [sha, bytes] of keep) this.#verified.set(sha, bytes);
    this.#store(m, manifest.sha256, signature?.sha256, modules, keep);
    if (this.#o.holdFloor?.(m, manifest.sha256) !== true) this.#o.floor?.raise(m.app, m.version); // after the cache: a cut in between boots either version
    // The receiver checked the bytes against this hash before handing them over.
    return { ok: true, value: { trusted: t.value, manifest: m, manifestSha: manifest.sha256, modules, tiers: this.#tiers, fromCache: false } };
  }

  // Warm boot: keep the verified bytes in device storage, then the index that names them.
  #store(m: Manifest, manifestSha: string, signatureSha: string | undefined, modules: ReadonlyMap<string, VerifiedModule>, keep: [string, Uint8Array][]): void {
    const cache = this.#o.cache;
    if (cache === undefined || signatureSha === undefined || cache.storage.capacity === 0) return;
    const stored: Record<string, string> = {};
    const prev = cache.loadApp(m.app);
    for (const [name, mod] of modules) stored[name] = mod.entry.sha256;
    // Modules of other tiers verified earlier for this same manifest stay cached.
    if (prev?.manifest === manifestSha) for (const [k, v] of Object.entries(prev.modules)) stored[k] ??= v;
    const index: AppIndex = { app: m.app, version: m.version, manifest: manifestSha, signature: signatureSha, modules: stored, at: this.#o.now() };
    const shas = new Set([manifestSha, signatureSha, ...Object.values(stored)]);
    // Mark what is in use before evicting for room, but write the index only after its blobs:
    // a power cut in between leaves the old index, whose blobs are still there (issue 13.9).
    cache.keep(shas);
    for (const [sha, bytes] of keep) {
      if (!shas.has(sha) || cache.put(sha, bytes)) continue;
      const name = [...modules.values()].find((v) => v.entry.sha256 === sha)?.entry.name ?? sha.slice(0, 12);
      this.#o.onEvent({ kind: 'cache-full', module: name });
      if (sha === manifestSha || sha === signatureSha) return cache.forget(m.app);
      for (const [k, v] of Object.entries(stored)) if (v === sha) delete stored[k];
    }
    if (!cache.saveApp(index)) this.#o.onEvent({ kind: 'cache-full', module: 'index' });
  }
}

function problemOf(e: { problem?: string; field?: string }): string {
  return (e as SignatureError).problem ?? 'bad-manifest';
}
