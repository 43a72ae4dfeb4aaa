// The DeviceStorage port on a folder (the box's flash, or the emulator's state directory): one
// file per key, written to a temporary name then renamed so a power cut leaves no torn file.
// Capacity is enforced here, from the device profile.

import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ArgumentError } from '../runtime/index.ts';
import type { DeviceStorage } from './ports.ts';

const KEY = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export class FolderStorage implements DeviceStorage {
  readonly capacity: number;
  readonly dir: string;
  #sizes = new Map<string, number>();
  #used = 0;

  constructor(dir: string, capacity: number) {
    if (!Number.isFinite(capacity) || capacity < 0) throw new ArgumentError('FolderStorage: capacity must be >= 0', 'capacity');
    this.dir = dir;
    this.capacity = capacity;
    mkdirSync(dir, { recursive: true });
    for (const name of readdirSync(dir)) {
      if (name.endsWith('.tmp')) {
        rmSync(join(dir, name), { force: true }); // a write cut short
        continue;
      }
      if (!KEY.test(name)) continue;
      const size = statSync(join(dir, name)).size;
      this.#sizes.set(name, size);
      this.#used += size;
    }
  }

  used(): number {
    return this.#used;
  }

  read(key: string): Uint8Array | undefined {
    if (!this.#sizes.has(key)) return undefined;
    try {
      return new Uint8Array(readFileSync(join(this.dir, key)));
    } catch {
      return undefined;
    }
  }

  write(key: string, bytes: Uint8Array): boolean {
    if (!KEY.test(key)) throw new ArgumentError(`FolderStorage: bad key "${key}"`, 'key');
    const next = this.#used - (this.#sizes.get(key) ?? 0) + bytes.length;
    if (next > this.capacity) return false;
    const path = join(this.dir, key);
    try {
      writeFileSync(`${path}.tmp`, bytes);
      renameSync(`${path}.tmp`, path);
    } catch {
      return false; // the disk itself is full or gone: the same as over capacity to the loader
    }
    this.#used = next;
    this.#sizes.set(key, bytes.length);
    return true;
  }

  remove(key: string): void {
    const size = this.#sizes.get(key);
    if (size === undefined) return;
    rmSync(join(this.dir, key), { force: true });
    this.#sizes.delete(key);
    this.#used -= size;
  }

  keys(): string[] {
    return [...this.#sizes.keys()];
  }
}
