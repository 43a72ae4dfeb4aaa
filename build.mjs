#!/usr/bin/env node
// build.mjs: esbuild artifacts from plain option objects, each with a metafile and an optional
// size budget. Every app under apps/ -> dist/apps/<app>/ (one minified ES2022 script per
// module, manifest.json, manifest.sig); the box firmware -> dist/firmware/ (budget enforced).
// Signs with .weft/keys/dev.jwk.json, made on first use.
//
//   node build.mjs [--app <name>]... [--out <dir>] [--keys <dir>] [--key <private.jwk.json>] [--no-firmware] [--quiet]

import * as esbuild from 'esbuild';
import { chmod, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { sourceManifest, typecheckApp } from './scripts/app-source.mjs';
import { compactFfi } from './scripts/firmware-ffi.mjs';

const ROOT = dirname(fileURLToPath(import.meta.url));
const FLAGS = { '--app': 'apps', '--out': 'out', '--keys': 'keys', '--key': 'key', '--quiet': 'quiet', '--no-firmware': 'noFirmware' };

/** One esbuild artifact: plain options, and what to do with the output. */
function moduleArtifact(app, mod, appDir) {
  return {
    name: `${app}/${mod.name}`,
    budget: mod.budget, // bytes; undefined = no budget
    options: {
      entryPoints: [join(appDir, mod.entry)],
      bundle: true,
      format: 'esm', // exports (snapshot/restore) stay; the sandbox evaluates each file as a module
      target: 'es2022',
      platform: 'neutral',
      minify: true,
      treeShaking: true,
      legalComments: 'none',
      charset: 'utf8',
      metafile: true,
      write: false,
      outfile: `${mod.name}.js`,
      logLevel: 'silent',
    },
  };
}

/** runtime/app (manifest, signing) bundled for Node so the build signs with the code that verifies. */
async function appTools() {
  const r = await esbuild.build({
    stdin: {
      contents: ["export * from './runtime/app/manifest.ts';", "export * from './runtime/app/signing.ts';", "export { sha256Hex } from './runtime/app/bytes.ts';"].join('\n'),
      resolveDir: ROOT,
      loader: 'ts',
    },
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    write: false,
    logLevel: 'silent',
  });
  const code = r.outputFiles[0].text;
  return import(`data:text/javascript;base64,${Buffer.from(code).toString('base64')}`);
}

/** The signing key: --key, or the dev key in <keys>/dev.jwk.json (generated when missing). */
async function signingKey(tools, keysDir, keyFile, log) {
  if (keyFile !== undefined) return tools.importSigningKey(JSON.parse(await readFile(keyFile, 'utf8')));
  const priv = join(keysDir, 'dev.jwk.json');
  if (existsSync(priv)) return tools.importSigningKey(JSON.parse(await readFile(priv, 'utf8')));
  await mkdir(keysDir, { recursive: true });
  const { key, jwk } = await tools.generateSigningKey();
  await writeFile(priv, `${JSON.stringify(jwk)}\n`, { mode: 0o600 });
  await chmod(priv, 0o600);
  const pub = tools.trustedKeyToJson(await tools.trustedKey(key.publicKey, 'dev'));
  await writeFile(join(keysDir, 'dev.pub.json'), `${JSON.stringify(pub, null, 2)}\n`);
  log(`generated a dev signing key ${key.keyId} in ${relative(process.cwd(), keysDir) || '.'} (gitignored; for sideloading only)`);
  return key;
}

async function runArtifact(a) {
  const r = await esbuild.build(a.options);
  const out = r.outputFiles.find((f) => f.path.endsWith('.js'));
  const bytes = out.contents;
  if (a.budget !== undefined && bytes.length > a.budget) throw new Error(`${a.name}: ${bytes.length} bytes is over its budget of ${a.budget}`);
  return { bytes, metafile: r.metafile };
}

export async function build(opts = {}) {
  const out = resolve(opts.out ?? join(ROOT, 'dist'));
  const keysDir = resolve(opts.keys ?? join(ROOT, '.weft', 'keys'));
  const log = opts.quiet ? () => {} : (s) => console.log(s);
  const tools = await appTools();
  const key = await signingKey(tools, keysDir, opts.key, log);
  const appsRoot = join(ROOT, 'apps');
  const all = (await readdir(appsRoot, { withFileTypes: true })).filter((d) => d.isDirectory() && existsSync(join(appsRoot, d.name, 'app.json'))).map((d) => d.name);
  const wanted = opts.apps?.length ? opts.apps : all;
  for (const a of wanted) if (!all.includes(a)) throw new Error(`no app "${a}" under apps/ (have: ${all.join(', ')})`);
  const rows = [];
  const built = [];
  for (const name of wanted) {
    const appDir = join(appsRoot, name);
    const src = await sourceManifest(appDir);
    const typeErrors = await typecheckApp(appDir, src.modules.map((m) => m.entry), join(ROOT, 'tsconfig.json'));
    if (typeErrors.length > 0) throw new Error(`${src.app}: the modules do not typecheck:\n  ${typeErrors.slice(0, 20).join('\n  ')}`);
    const dir = join(out, 'apps', src.app);
    await rm(dir, { recursive: true, force: true });
    await mkdir(join(out, 'meta', src.app), { recursive: true });
    await mkdir(dir, { recursive: true });
    const modules = [];
    for (const m of src.modules) {
      const { bytes, metafile } = await runArtifact(moduleArtifact(src.app, m, appDir));
      const file = `${m.name}.js`;
      await writeFile(join(dir, file), bytes);
      await writeFile(join(out, 'meta', src.app, `${m.name}.meta.json`), JSON.stringify(metafile));
      modules.push({ name: m.name, kind: m.kind, tier: m.tier, file, sha256: await tools.sha256Hex(bytes), size: bytes.length, uses: m.uses ?? [], needs: m.needs ?? {}, ...(m.critical === undefined ? {} : { critical: m.critical }), ...(m.durability === undefined ? {} : { durability: m.durability }), ...(m.scope === undefined ? {} : { scope: m.scope }) });
      rows.push([src.app, m.name, m.kind, ['server', 'peer'].includes(m.kind) ? '-' : m.tier, bytes.length, gzipSync(bytes).length, m.budget ?? '']);
    }
    const manifestBytes = tools.encodeManifest({ app: src.app, version: src.version, modules });
    await writeFile(join(dir, 'manifest.json'), manifestBytes);
    await writeFile(join(dir, 'manifest.sig'), await tools.signManifest(manifestBytes, key));
    built.push({ app: src.app, version: src.version, dir, keyId: key.keyId, modules });
  }
  printSizes(rows, log);
  log(`signed with key ${key.keyId}; output in ${relative(process.cwd(), out) || '.'}`);
  const firmware = opts.firmware === false ? undefined : await buildFirmware(join(out, 'firmware'), tools, key, log);
  return { keyId: key.keyId, apps: built, firmware };
}

// ---- the box firmware (owned by loader/): dist/firmware/box.mjs, one minified bundle of loader +
// sandbox + runtime + transport + carousel + packages, the QuickJS wasm beside it, the device
// profiles and the trusted key as data. Runs with plain `node box.mjs` from that folder alone.
// Bytes of JS, the wasm excluded. Back at the issue's 250 KB since the box speaks MQTT with its
// own 3.1.1 client (transport/mqtt-lite.ts, ~8 KB) instead of mqtt.js + mqtt-packet (~90 KB with
// what they pull in): 249 KB then (docs/BOX.md, "Firmware"; docs/DECISIONS.md). The build prints
// what each package and folder brings; look there first when this budget is hit.
export const FIRMWARE_BUDGET = 250 * 1024;

// Packages whose Node entry pulls in what a box never uses. mqtt.js is the head-end's client:
// the box speaks MQTT with transport/mqtt-lite.ts (the dialer passes it), so the firmware gets a
// stub in its place that fails loudly if anything ever reaches for it.
const FIRMWARE_STUBS = {
  mqtt: "export class MqttClient { constructor() { throw new Error('mqtt.js is not in the firmware (the box uses transport/mqtt-lite.ts)'); } }",
};
const firmwarePlugin = {
  name: 'weft-firmware',
  setup(b) {
    const pkg = (p) => join(ROOT, 'node_modules', p);
    b.onResolve({ filter: /^mqtt$/ }, () => ({ path: 'mqtt', namespace: 'weft-stub' }));
    // The box's CBOR is runtime/cbor-lite.ts: byte-identical to cbor-x for what Weft encodes, ~22 KB less.
    b.onResolve({ filter: /^cbor-x$/ }, () => ({ path: join(ROOT, 'runtime', 'cbor-lite.ts') }));
    b.onResolve({ filter: /^@jitl\/quickjs-wasmfile-(debug-sync|debug-asyncify|release-asyncify)$/ }, (a) => ({ path: a.path, namespace: 'weft-absent' }));
    // QuickJS's FFI table as a string and a loop, the same cwrap calls (~4.7 KB less; scripts/firmware-ffi.mjs, D95).
    b.onLoad({ filter: /[\\/]@jitl[\\/]quickjs-wasmfile-release-sync[\\/]dist[\\/]ffi\.mjs$/ }, async (a) => ({ contents: compactFfi(await readFile(a.path, 'utf8'), a.path), loader: 'js' }));
    b.onLoad({ filter: /.*/, namespace: 'weft-stub' }, (a) => ({ contents: FIRMWARE_STUBS[a.path], loader: 'js' }));
    b.onLoad({ filter: /.*/, namespace: 'weft-absent' }, (a) => ({ contents: `const no = () => { throw new Error('${a.path} is not in the firmware'); }; export default { type: 'sync', importFFI: no, importModuleLoader: no };`, loader: 'js' }));
  },
};

/** Compile-time facts of the firmware build (transport/mqtt.ts reads `globalThis.WEFT_FIRMWARE`). */
const FIRMWARE_DEFINE = { 'globalThis.WEFT_FIRMWARE': 'true' };

async function buildFirmware(dir, tools, key, log) {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const r = await esbuild.build({
    entryPoints: [join(ROOT, 'loader', 'main.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    minify: true,
    treeShaking: true,
    legalComments: 'none',
    charset: 'utf8',
    metafile: true,
    write: false,
    outfile: join(dir, 'box.mjs'),
    banner: { js: "import{createRequire as __weftRequire}from'node:module';const require=__weftRequire(import.meta.url);" },
    // The box always brings its own MQTT client (transport/mqtt-lite.ts): the mqtt.js default path
    // of the shared transport is dead code here, and this lets esbuild drop it.
    define: FIRMWARE_DEFINE,
    plugins: [firmwarePlugin],
    logLevel: 'silent',
  });
  const bytes = r.outputFiles[0].contents;
  const wasm = join(ROOT, 'node_modules', '@jitl', 'quickjs-wasmfile-release-sync', 'dist', 'emscripten-module.wasm');
  await writeFile(join(dir, 'box.mjs'), bytes);
  // Beside the firmware folder, not in it: a box image is that folder alone and runs box.mjs.
  await mkdir(join(dir, '..', 'snapshot'), { recursive: true });
  await writeFile(join(dir, '..', 'snapshot', SNAPSHOT_ENTRY), eagerSnapshotScript(await snapshotBundle()));
  await writeFile(join(dir, 'emscripten-module.wasm'), await readFile(wasm));
  await writeFile(join(dir, 'profiles.json'), `${JSON.stringify(await profilesData(), null, 2)}\n`);
  await writeFile(join(dir, 'trusted-keys.json'), `${JSON.stringify([tools.trustedKeyToJson(await tools.trustedKey(key.publicKey, 'dev'))], null, 2)}\n`);
  await mkdir(join(dir, '..', 'meta'), { recursive: true });
  await writeFile(join(dir, '..', 'meta', 'firmware.meta.json'), JSON.stringify(r.metafile));
  const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
  const parts = {};
  for (const [file, i] of Object.entries(Object.values(r.metafile.outputs)[0].inputs)) {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file);
    const part = m ? m[1] : file.split('/')[0];
    parts[part] = (parts[part] ?? 0) + i.bytesInOutput;
  }
  log(`firmware/box.mjs  ${kb(bytes.length)} of JS (gzip ${kb(gzipSync(bytes).length)}), budget ${kb(FIRMWARE_BUDGET)}; wasm ${kb((await readFile(wasm)).length)}`);
  // What each package (node_modules) and each Weft folder brings, from the metafile.
  for (const [p, n] of Object.entries(parts).sort((a, b) => b[1] - a[1])) log(`  ${p.padEnd(38)}${kb(n).padStart(9)}  ${((100 * n) / bytes.length).toFixed(1).padStart(5)}%`);
  if (bytes.length > FIRMWARE_BUDGET) throw new Error(`firmware/box.mjs: ${bytes.length} bytes is over its budget of ${FIRMWARE_BUDGET}`);
  return { dir, bytes: bytes.length, budget: FIRMWARE_BUDGET };
}

// The same firmware as one CommonJS script for a V8 startup snapshot (`node --build-snapshot`
// takes only that), dist/snapshot/box-snapshot.cjs: loader/snapshot-entry.ts runs main() when the
// snapshot is started. No budget
// of its own (box.mjs's holds for the code); it is not shipped to boxes that run box.mjs. The
// snapshot blob itself is per architecture and Node build, so it is made where it runs (the lab
// makes it under qemu-user once per firmware: devices/lab/snapshot.ts).
export const SNAPSHOT_ENTRY = 'box-snapshot.cjs';

// node:tls cannot be in a startup snapshot (Node 20 aborts: "Unknown external reference"); the
// box needs it only to dial mqtts://, so the snapshot gets it when it dials.
const snapshotPlugin = {
  name: 'weft-snapshot',
  setup(b) {
    b.onResolve({ filter: /^node:tls$/ }, () => ({ path: 'node:tls', namespace: 'weft-lazy' }));
    b.onLoad({ filter: /.*/, namespace: 'weft-lazy' }, () => ({ contents: "module.exports = { connect: (...a) => process.getBuiltinModule('node:tls').connect(...a) };", loader: 'js' }));
  },
};

async function snapshotBundle() {
  const r = await esbuild.build({
    entryPoints: [join(ROOT, 'loader', 'snapshot-entry.ts')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    minify: true,
    treeShaking: true,
    legalComments: 'none',
    charset: 'utf8',
    write: false,
    // Evaluated when the snapshot is built, run where the firmware is: the entry sets the URL then.
    // WebAssembly is absent while a snapshot is built (Node 20) and present when it runs, so code
    // that takes `globalThis.WebAssembly` at load (sandbox/engine.ts) gets a stand-in that looks
    // the real one up on each use.
    define: { ...FIRMWARE_DEFINE, 'import.meta.url': 'globalThis.__weftImportMetaUrl', 'globalThis.WebAssembly': '__weftWasm' },
    banner: { js: 'var __weftWasm=new Proxy({},{get:(_,k)=>globalThis.WebAssembly[k]});' },
    // A snapshot has no dynamic import() (quickjs-emscripten imports node:module): require it.
    supported: { 'dynamic-import': false },
    plugins: [firmwarePlugin, snapshotPlugin],
    logLevel: 'silent',
  });
  return r.outputFiles[0].contents;
}

/**
 * The snapshot script: the bundle compiled eagerly, every function of it to bytecode, so the
 * snapshot holds the bytecode and a box compiles none of its own functions as it boots (issue 18
 * build 6: under TCG each first call paid a parse and a compile; a warm boot spent ~0.2-0.3 s of
 * its ~2.2 s of CPU so). V8 compiles Function-constructor code lazily unless --no-lazy-eval; the flag
 * is set back before the snapshot is made, so the box runs with the firmware's flags alone (a
 * snapshot built under other flags is refused) and code it compiles later is lazy as before.
 */
export function eagerSnapshotScript(bundle) {
  const text = typeof bundle === 'string' ? bundle : new TextDecoder().decode(bundle);
  return `'use strict';
const v8 = require('node:v8');
let body;
v8.setFlagsFromString('--no-lazy-eval');
try {
  body = new Function('require', ${JSON.stringify(`${text}\n//# sourceURL=${SNAPSHOT_ENTRY}`)});
} finally {
  v8.setFlagsFromString('--lazy-eval');
}
body(require);
`;
}

/** devices/profiles.ts as data, for boxes that read their profile from a file. */
async function profilesData() {
  const r = await esbuild.build({ entryPoints: [join(ROOT, 'devices', 'profiles.ts')], bundle: true, format: 'esm', platform: 'neutral', write: false, logLevel: 'silent' });
  const mod = await import(`data:text/javascript;base64,${Buffer.from(r.outputFiles[0].text).toString('base64')}`);
  return mod.PROFILES;
}

function printSizes(rows, log) {
  const head = ['app', 'module', 'kind', 'tier', 'bytes', 'gzip', 'budget'];
  const cells = [head, ...rows.map((r) => r.map(String))];
  const w = head.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  for (const r of cells) log(r.map((c, i) => (i >= 4 ? c.padStart(w[i]) : c.padEnd(w[i]))).join('  '));
}

function parseArgs(argv) {
  const o = { apps: [] };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const key = FLAGS[flag];
    if (key === undefined) throw new Error(`unknown option ${flag} (known: ${Object.keys(FLAGS).join(', ')})`);
    if (key === 'quiet') o.quiet = true;
    else if (key === 'noFirmware') o.firmware = false;
    else {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new Error(`${flag} needs a value`);
      if (key === 'apps') o.apps.push(v);
      else o[key] = v;
    }
  }
  return o;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  try {
    await build(parseArgs(process.argv.slice(2)));
  } catch (e) {
    console.error(`build failed: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  }
}
