// A TypeScript worker entry bundled once per process into one plain ES module (esbuild, which tsx
// already brings), so a new worker thread loads one file instead of registering tsx and
// transpiling the tree through the loader thread: ~400 ms of CPU per thread before, ~145 after
// (issue 19.3; a node adds a thread when one fills up: thread-room.ts). Packages stay outside the bundle,
// imported by absolute file URL, so the file can live in a private temporary directory.

import { rmSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// Bundles by entry: a cache of immutable files for the life of the process (as Node caches
// modules), so every pool of a process shares them.
const bundles = new Map<string, Promise<URL | undefined>>();

/**
 * The bundled form of a `.ts` worker entry (a file URL), or undefined when it cannot be made
 * (no esbuild, a build error): the caller then starts the entry through tsx as before.
 */
export function bundledEntry(entry: URL): Promise<URL | undefined> {
  if (entry.protocol !== 'file:' || !entry.pathname.endsWith('.ts')) return Promise.resolve(undefined);
  let p = bundles.get(entry.href);
  if (p === undefined) {
    p = bundle(fileURLToPath(entry)).catch(() => undefined);
    bundles.set(entry.href, p);
  }
  return p;
}

async function bundle(file: string): Promise<URL> {
  const esbuild = await import('esbuild');
  const external: import('esbuild').Plugin = {
    name: 'weft-packages-by-url',
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, async (args) => {
        if (args.path.startsWith('node:') || args.pluginData === 'inner') return undefined;
        const r = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: 'inner' });
        if (r.errors.length > 0 || r.external) return { path: args.path, external: true };
        return { path: pathToFileURL(r.path).href, external: true };
      });
    },
  };
  const out = await esbuild.build({ entryPoints: [file], bundle: true, format: 'esm', platform: 'node', target: 'node20', write: false, logLevel: 'silent', plugins: [external] });
  const code = out.outputFiles[0]?.text;
  if (code === undefined) throw new Error('esbuild wrote nothing');
  // A directory of this process's own (mkdtemp: mode 0700, a random name), not a shared,
  // predictable path another local user could fill first; removed when the process exits.
  const dir = await mkdtemp(join(tmpdir(), 'weft-worker-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, `${basename(file, '.ts')}.mjs`);
  await writeFile(path, code, { mode: 0o600 });
  return pathToFileURL(path);
}
