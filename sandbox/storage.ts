// Per-app storage behind weft.storage: a key-value port (in memory here; flash or a file in the
// box loader) and the quota accounting on top. Values are JSON text; sizes are UTF-16 bytes.

import { ArgumentError } from '../runtime/index.ts';

/** The storage port. Synchronous: box storage is local; adapters cache what they persist. */
export interface KeyValueStore {
  get(key: string): string | undefined;
  set(key: string, value: string): void;
  delete(key: string): void;
  keys(): string[];
}

export class MemoryStore implements KeyValueStore {
  #map = new Map<string, string>();
  get(key: string): string | undefined {
    return this.#map.get(key);
  }
  set(key: string, value: string): void {
    this.#map.set(key, value);
  }
  delete(key: string): void {
    this.#map.delete(key);
  }
  keys(): string[] {
    return [...this.#map.keys()];
  }
}

const cost = (key: string, value: string): number => 2 * (key.length + value.length);

/** One app's storage with its quota. Shared by the app's modules. */
export class AppStorage {
  readonly quota: number;
  #store: KeyValueStore;
  #used = 0;

  constructor(store: KeyValueStore, quota: number) {
    if (!Number.isInteger(quota) || quota <= 0) throw new ArgumentError('AppStorage: quota must be a positive integer', 'quota');
    this.#store = store;
    this.quota = quota;
    for (const k of store.keys()) this.#used += cost(k, store.get(k) ?? '');
  }

  get used(): number {
    return this.#used;
  }

  get(key: string): string | undefined {
    return this.#store.get(key);
  }

  /** False (and nothing written) when the write would pass the quota. */
  set(key: string, value: string): boolean {
    const old = this.#store.get(key);
    const next = this.#used - (old === undefined ? 0 : cost(key, old)) + cost(key, value);
    if (next > this.quota) return false;
    this.#store.set(key, value);
    this.#used = next;
    return true;
  }

  delete(key: string): void {
    const old = this.#store.get(key);
    if (old === undefined) return;
    this.#store.delete(key);
    this.#used -= cost(key, old);
  }

  keys(): string[] {
    return this.#store.keys();
  }
}
