// The DeviceStorage port on a folder (the box's flash, or the emulator's state directory): one
// file per key, published power-cut safe: write a temporary file, fsync it, rename it over the
// key, fsync the folder. Capacity is enforced here, from the device profile.

import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ArgumentError, rejectUnknown } from '../runtime/index.ts';
import type { DeviceStorage } from './ports.ts';

const KEY = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * The file operations FolderStorage needs, so a test can put a file system under it that loses
 * whatever was not fsynced (test/_helpers/crash-fs.ts). Paths are absolute or folder-relative.
 */
export interface FileSystem {
  mkdirp(dir: string): void;
  list(dir: string): string[];
  size(path: string): number;
  read(path: string): Uint8Array;
  /** Create or truncate, then write: not durable until `sync`. */
  write(path: string, bytes: Uint8Array): void;
  /** fsync(2) the file's data and size. */
  sync(path: string): void;
  /** rename(2): atomic, but the new name is durable only after `syncDir`. */
  rename(from: string, to: string): void;
  remove(path: string): void;
  /** fsync(2) the folder: its names (renames, creations, removals) survive a power cut. */
  syncDir(dir: string): void;
}

function fsyncPath(path: string, flags: 'r' | 'r+'): void {
  const fd = openSync(path, flags);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The host's file system (node:fs, synchronous: box storage is local). */
export const nodeFileSystem: FileSystem = {
  mkdirp: (dir) => void mkdirSync(dir, { recursive: true }),
  list: (dir) => readdirSync(dir),
  size: (path) => statSync(path).size,
  read: (path) => new Uint8Array(readFileSync(path)),
  write: (path, bytes) => writeFileSync(path, bytes),
  sync: (path) => fsyncPath(path, 'r+'),
  rename: (from, to) => renameSync(from, to),
  remove: (path) => rmSync(path, { force: true }),
  // Linux fsyncs a folder through a read-only descriptor.
  syncDir: (dir) => fsyncPath(dir, 'r'),
};

export interface FolderStorageOptions {
  /** The file system. Default: node:fs. */
  fs?: FileSystem;
}

export interface FolderStorageStats {
  writes: number;
  /** Writes the disk refused (full, gone, an fsync that failed): the loader sees `false`. */
  failedWrites: number;
  /** Temporary files of writes a power cut interrupted, removed at start. */
  cutShort: number;
}

export class FolderStorage implements DeviceStorage {
  readonly capacity: number;
  readonly dir: string;
  #fs: FileSystem;
  #sizes = new Map<string, number>();
  #used = 0;
  #stats: FolderStorageStats = { writes: 0, failedWrites: 0, cutShort: 0 };

  constructor(dir: string, capacity: number, options: FolderStorageOptions = {}) {
    if (!Number.isFinite(capacity) || capacity < 0) throw new ArgumentError('FolderStorage: capacity must be >= 0', 'capacity');
    rejectUnknown('FolderStorage', options, ['fs']);
    this.dir = dir;
    this.capacity = capacity;
    this.#fs = options.fs ?? nodeFileSystem;
    this.#fs.mkdirp(dir);
    for (const name of this.#fs.list(dir)) {
      if (name.endsWith('.tmp')) {
        this.#fs.remove(join(dir, name)); // a write cut short: the key keeps its old content
        this.#stats.cutShort++;
        continue;
      }
      if (!KEY.test(name)) continue;
      const size = this.#fs.size(join(dir, name));
      this.#sizes.set(name, size);
      this.#used += size;
    }
  }

  used(): number {
    return this.#used;
  }

  stats(): FolderStorageStats {
    return { ...this.#stats };
  }

  read(key: string): Uint8Array | undefined {
    if (!this.#sizes.has(key)) return undefined;
    try {
      return this.#fs.read(join(this.dir, key));
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
      // The data is durable before its name points at it, and the name before we say "written":
      // after a power cut the key holds the old bytes or the new ones, never an empty file.
      this.#fs.write(`${path}.tmp`, bytes);
      this.#fs.sync(`${path}.tmp`);
      this.#fs.rename(`${path}.tmp`, path);
      this.#fs.syncDir(this.dir);
    } catch {
      this.#stats.failedWrites++;
      try {
        this.#fs.remove(`${path}.tmp`);
      } catch {
        /* the disk is gone: the next start removes the temporary file */
      }
      return false; // the disk itself is full or gone: the same as over capacity to the loader
    }
    this.#stats.writes++;
    this.#used = next;
    this.#sizes.set(key, bytes.length);
    return true;
  }

  remove(key: string): void {
    const size = this.#sizes.get(key);
    if (size === undefined) return;
    // Not fsynced: a removal a power cut undoes brings back whole old bytes, which the cache
    // verifies again before use (and evicts when unused).
    this.#fs.remove(join(this.dir, key));
    this.#sizes.delete(key);
    this.#used -= size;
  }

  keys(): string[] {
    return [...this.#sizes.keys()];
  }
}
