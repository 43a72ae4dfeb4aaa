// A TypeScript worker entry bundled once per process into one plain ES module (esbuild, which tsx
// already brings), so a new worker thread loads one module instead of registering tsx and
// transpiling the tree through the loader thread: ~400 ms of CPU per thread before, ~145 after
// (issue 19.3; a node adds a thread when one fills up: thread-room.ts). Packages stay outside the
// bundle, imported by absolute file URL, so the module needs no directory of its own: it is a
// data: URL held in memory, and a process that dies without its exit handlers (SIGKILL, a crash,
// a signal it does not handle) leaves no file behind (a temporary file per start did, D116).

import { basename } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// Bundles by entry: a cache of immutable modules for the life of the process (as Node caches
// modules), so every pool of a process shares them.
const bundles = new Map<string, Promise<URL | undefined>>();

/**
 * The bundled form of a `.ts` worker entry (a data: URL), or undefined when it cannot be made
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
  // Stack traces name the entry (`weft:portion-worker.mjs:12:5`), not the whole URL.
  const named = `${code}\n//# sourceURL=weft:${basename(file, '.ts')}.mjs\n`;
  return new URL(`data:text/javascript;base64,${Buffer.from(named).toString('base64')}`);
}
