// The apps a head-end serves: each as published (manifest bytes, signature, module bytes), read
// from built app folders (dist/apps/<app>/). The catalog checks the manifest's shape; signature
// checks happen where code is evaluated (portion workers, boxes), against trusted keys.

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

export class AppCatalog {
  #apps = new Map<string, PublishedApp>();

  add(app: PublishedApp): void {
    for (const m of app.manifest.modules) {
      if (!(app.sources[m.name] instanceof Uint8Array)) throw new ArgumentError(`app ${app.manifest.app}: no bytes for module "${m.name}"`, 'sources');
    }
    this.#apps.set(app.manifest.app, app);
  }

  get(app: string): PublishedApp | undefined {
    return this.#apps.get(app);
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
