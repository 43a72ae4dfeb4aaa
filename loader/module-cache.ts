// Warm boot: verified modules kept in device storage, content-addressed by SHA-256, within the
// profile's capacity [c1]. The cache never vouches for bytes: whatever it returns is verified
// again against the signed manifest before it runs. Also the device-backed weft.storage.

import { jsonOf } from '../runtime/app/index.ts';
import type { KeyValueStore } from '../sandbox/index.ts';
import type { DeviceStorage } from './ports.ts';

/** What a box remembers of the app it last ran: the manifest, its signature, the modules. */
export interface AppIndex {
  app: string;
  version: string;
  /** SHA-256 of the manifest bytes and of the signature bytes. */
  manifest: string;
  signature: string;
  /** Module name -> SHA-256 of its bytes, for every module the box verified and cached. */
  modules: Record<string, string>;
  at: number;
}

export interface CacheStats {
  hits: number;
  misses: number;
  writes: number;
  /** Writes that did not fit even after evicting what the current app does not use. */
  refused: number;
  evicted: number;
}

const BLOB = 'm.';
const APP = 'a.';
const HEX64 = /^[0-9a-f]{64}$/;

export class ModuleCache {
  readonly storage: DeviceStorage;
  #keep = new Set<string>();
  /** Blobs of the last-known-good version (probation-box.ts): never evicted for room. */
  #spare = new Set<string>();
  #stats: CacheStats = { hits: 0, misses: 0, writes: 0, refused: 0, evicted: 0 };

  constructor(storage: DeviceStorage) {
    this.storage = storage;
  }

  stats(): CacheStats {
    return { ...this.#stats };
  }

  get(sha256: string): Uint8Array | undefined {
    if (!HEX64.test(sha256)) return undefined;
    const b = this.storage.read(BLOB + sha256);
    if (b === undefined) this.#stats.misses++;
    else this.#stats.hits++;
    return b;
  }

  /** Keep bytes; false when device storage is full even after evicting what is not in use. */
  put(sha256: string, bytes: Uint8Array): boolean {
    if (!HEX64.test(sha256) || this.storage.capacity === 0) return false;
    const key = BLOB + sha256;
    this.#keep.add(sha256);
    if (this.storage.read(key)?.length === bytes.length) return true;
    if (this.storage.write(key, bytes) || (this.#evict() && this.storage.write(key, bytes)) || (this.#evict(true) && this.storage.write(key, bytes))) {
      this.#stats.writes++;
      return true;
    }
    this.#stats.refused++;
    return false;
  }

  /** The blobs the app about to be saved uses: eviction for room spares them. Nothing is written. */
  keep(shas: Iterable<string>): void {
    this.#keep = new Set(shas);
  }

  /** Evict these blobs only when nothing else makes room (the last-known-good version a probation
   *  reverts to; on a device with room for one version the running one still wins). */
  spare(shas: Iterable<string>): void {
    this.#spare = new Set(shas);
  }

  /** Record the app the box runs (after its blobs were put). False when it did not fit. */
  saveApp(index: AppIndex): boolean {
    this.#keep = new Set([index.manifest, index.signature, ...Object.values(index.modules)]);
    const bytes = new TextEncoder().encode(JSON.stringify(index));
    const key = APP + index.app;
    if (this.storage.write(key, bytes) || (this.#evict() && this.storage.write(key, bytes)) || (this.#evict(true) && this.storage.write(key, bytes))) return true;
    this.#stats.refused++;
    return false;
  }

  /** The app last saved (by id, or the most recent of any), if its index reads back whole. */
  loadApp(app?: string): AppIndex | undefined {
    let best: AppIndex | undefined;
    for (const k of this.storage.keys()) {
      if (!k.startsWith(APP) || (app !== undefined && k !== APP + app)) continue;
      const idx = parseIndex(this.storage.read(k));
      if (idx !== undefined && (best === undefined || idx.at > best.at)) best = idx;
    }
    return best;
  }

  /** Forget an app and the blobs only it used (its bytes no longer verify). */
  forget(app: string): void {
    this.storage.remove(APP + app);
    this.#keep.clear();
    this.#evict();
  }

  // Remove every blob and app index the current app does not use (`spared` ones too only when
  // asked: the last resort for room). True when anything went.
  #evict(spared = false): boolean {
    let n = 0;
    for (const k of this.storage.keys()) {
      if (k.startsWith(BLOB) && !this.#keep.has(k.slice(BLOB.length)) && (spared || !this.#spare.has(k.slice(BLOB.length)))) {
        this.storage.remove(k);
        n++;
      }
    }
    this.#stats.evicted += n;
    return n > 0;
  }
}

export function parseIndex(bytes: Uint8Array | undefined): AppIndex | undefined {
  if (bytes === undefined) return undefined;
  try {
    const o = jsonOf(bytes) as Partial<AppIndex>;
    if (typeof o.app !== 'string' || typeof o.version !== 'string' || typeof o.at !== 'number') return undefined;
    if (typeof o.manifest !== 'string' || !HEX64.test(o.manifest) || typeof o.signature !== 'string' || !HEX64.test(o.signature)) return undefined;
    if (o.modules === null || typeof o.modules !== 'object') return undefined;
    for (const v of Object.values(o.modules)) if (typeof v !== 'string' || !HEX64.test(v)) return undefined;
    return o as AppIndex;
  } catch {
    return undefined;
  }
}

/** Device storage in memory, with a capacity (tests, and boxes whose "flash" is RAM). */
export class MemoryStorage implements DeviceStorage {
  readonly capacity: number;
  #map = new Map<string, Uint8Array>();
  #used = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  used(): number {
    return this.#used;
  }

  read(key: string): Uint8Array | undefined {
    return this.#map.get(key);
  }

  write(key: string, bytes: Uint8Array): boolean {
    const next = this.#used - (this.#map.get(key)?.length ?? 0) + bytes.length;
    if (next > this.capacity) return false;
    this.#map.set(key, Uint8Array.from(bytes));
    this.#used = next;
    return true;
  }

  remove(key: string): void {
    const old = this.#map.get(key);
    if (old === undefined) return;
    this.#map.delete(key);
    this.#used -= old.length;
  }

  keys(): string[] {
    return [...this.#map.keys()];
  }
}

/**
 * weft.storage on device storage: the whole map as one JSON record per app, written on every
 * change. Held in memory as well, so a full device loses persistence, not the app's data.
 */
export class DeviceKeyValue implements KeyValueStore {
  #storage: DeviceStorage;
  #key: string;
  #map = new Map<string, string>();
  /** Writes that device storage refused (full); the values stay in memory. */
  unsaved = 0;

  constructor(storage: DeviceStorage, app: string) {
    this.#storage = storage;
    this.#key = `k.${app}`;
    const b = storage.read(this.#key);
    if (b === undefined) return;
    try {
      const o = JSON.parse(new TextDecoder().decode(b)) as Record<string, unknown>;
      for (const [k, v] of Object.entries(o)) if (typeof v === 'string') this.#map.set(k, v);
    } catch {
      storage.remove(this.#key); // a torn write: start empty rather than fail the app
    }
  }

  get(key: string): string | undefined {
    return this.#map.get(key);
  }

  set(key: string, value: string): void {
    this.#map.set(key, value);
    this.#save();
  }

  delete(key: string): void {
    if (this.#map.delete(key)) this.#save();
  }

  keys(): string[] {
    return [...this.#map.keys()];
  }

  #save(): void {
    const bytes = new TextEncoder().encode(JSON.stringify(Object.fromEntries(this.#map)));
    if (!this.#storage.write(this.#key, bytes)) this.unsaved++;
  }
}
