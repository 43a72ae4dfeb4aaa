// A file system that models a power cut: it records every operation and can rebuild what the
// disk holds after a cut at any point, keeping only what was fsynced. kill -9 keeps the page
// cache, so only a model like this one finds a missing fsync. No assertions here.

import { dirname } from 'node:path';
import type { FileSystem } from '../../loader/storage-fs.ts';

interface Inode {
  /** What the page cache holds. */
  data: Uint8Array;
  /** What reached the disk (fsync). A new file starts empty there. */
  durable: Uint8Array;
  /** Written since the last fsync. */
  dirty: boolean;
}

export type Op =
  | { op: 'write'; path: string; bytes: Uint8Array }
  | { op: 'sync'; path: string }
  | { op: 'rename'; from: string; to: string }
  | { op: 'remove'; path: string }
  | { op: 'syncDir'; dir: string };

/** The disk after a cut: file path -> bytes. */
export type Image = Map<string, Uint8Array>;

/**
 * How a cut treats what was not fsynced:
 * - `synced`: only fsynced data under fsynced names survives (nothing else reached the disk);
 * - `journaled`: every name change reached the disk (a metadata journal commits on its own
 *   schedule) but file data only where fsynced: a renamed, unsynced file comes back empty.
 */
export type CutModel = 'synced' | 'journaled';

export class CrashFs implements FileSystem {
  readonly ops: Op[] = [];
  #names = new Map<string, Inode>();
  #durableNames = new Map<string, Inode>();
  /** Pass sync and syncDir through as no-ops (to show the cut finds code that never fsyncs). */
  #ignoreSync: boolean;

  constructor(image: Image = new Map(), o: { ignoreSync?: boolean } = {}) {
    this.#ignoreSync = o.ignoreSync ?? false;
    for (const [path, bytes] of image) {
      const node: Inode = { data: bytes, durable: bytes, dirty: false };
      this.#names.set(path, node);
      this.#durableNames.set(path, node);
    }
  }

  mkdirp(): void {}

  list(dir: string): string[] {
    return [...this.#names.keys()].filter((p) => dirname(p) === dir).map((p) => p.slice(dir.length + 1));
  }

  size(path: string): number {
    return this.#get(path).data.length;
  }

  read(path: string): Uint8Array {
    return Uint8Array.from(this.#get(path).data);
  }

  write(path: string, bytes: Uint8Array): void {
    this.#apply({ op: 'write', path, bytes: Uint8Array.from(bytes) });
  }

  sync(path: string): void {
    this.#get(path);
    if (!this.#ignoreSync) this.#apply({ op: 'sync', path });
  }

  rename(from: string, to: string): void {
    this.#get(from);
    this.#apply({ op: 'rename', from, to });
  }

  remove(path: string): void {
    this.#apply({ op: 'remove', path });
  }

  syncDir(dir: string): void {
    if (!this.#ignoreSync) this.#apply({ op: 'syncDir', dir });
  }

  /** The disk as it is now, as if everything had been fsynced (a clean shutdown). */
  image(): Image {
    return new Map([...this.#names].map(([p, n]) => [p, Uint8Array.from(n.data)]));
  }

  /** The disk after a cut with only the first `n` recorded operations done. */
  static cut(start: Image, ops: readonly Op[], n: number, model: CutModel): Image {
    const fs = new CrashFs(start);
    for (const op of ops.slice(0, n)) fs.#apply(op);
    const names = model === 'synced' ? fs.#durableNames : fs.#names;
    const out: Image = new Map();
    for (const [p, node] of names) out.set(p, Uint8Array.from(model === 'journaled' && node.dirty ? new Uint8Array(0) : node.durable));
    return out;
  }

  #get(path: string): Inode {
    const n = this.#names.get(path);
    if (n === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
    return n;
  }

  #apply(op: Op): void {
    this.ops.push(op);
    switch (op.op) {
      case 'write': {
        const n = this.#names.get(op.path);
        if (n === undefined) this.#names.set(op.path, { data: op.bytes, durable: new Uint8Array(0), dirty: true });
        else Object.assign(n, { data: op.bytes, dirty: true });
        return;
      }
      case 'sync': {
        const n = this.#get(op.path);
        Object.assign(n, { durable: n.data, dirty: false });
        return;
      }
      case 'rename': {
        this.#names.set(op.to, this.#get(op.from));
        this.#names.delete(op.from);
        return;
      }
      case 'remove':
        this.#names.delete(op.path);
        return;
      case 'syncDir':
        for (const p of [...this.#durableNames.keys()]) if (dirname(p) === op.dir) this.#durableNames.delete(p);
        for (const [p, n] of this.#names) if (dirname(p) === op.dir) this.#durableNames.set(p, n);
        return;
    }
  }
}
