#!/usr/bin/env node
// build.mjs: esbuild artifacts from plain option objects, each with a metafile and an optional
// size budget. Today: every app under apps/ -> dist/apps/<app>/ (one minified ES2022 script per
// module, manifest.json, manifest.sig). A later artifact (the box firmware) adds itself to
// `artifacts` with a budget. Signs with .weft/keys/dev.jwk.json, made on first use.
//
//   node build.mjs [--app <name>]... [--out <dir>] [--keys <dir>] [--key <private.jwk.json>] [--quiet]

import * as esbuild from 'esbuild';
import { chmod, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';

const ROOT = dirname(fileURLToPath(import.meta.url));
const FLAGS = { '--app': 'apps', '--out': 'out', '--keys': 'keys', '--key': 'key', '--quiet': 'quiet' };
const SOURCE_MODULE_KEYS = ['name', 'kind', 'tier', 'entry', 'uses', 'needs'];

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

/** Read apps/<app>/app.json: the manifest without hashes, sizes and files, plus each entry. */
async function sourceManifest(appDir) {
  const file = join(appDir, 'app.json');
  const src = JSON.parse(await readFile(file, 'utf8'));
  for (const k of Object.keys(src)) if (!['app', 'version', 'modules'].includes(k)) throw new Error(`${file}: unknown key "${k}"`);
  if (!Array.isArray(src.modules)) throw new Error(`${file}: modules must be an array`);
  src.modules.forEach((m, i) => {
    for (const k of Object.keys(m)) if (![...SOURCE_MODULE_KEYS, 'budget'].includes(k)) throw new Error(`${file}: modules[${i}]: unknown key "${k}"`);
    if (typeof m.entry !== 'string' || !m.entry.endsWith('.ts')) throw new Error(`${file}: modules[${i}].entry must name a .ts file`);
  });
  return src;
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
      modules.push({ name: m.name, kind: m.kind, tier: m.tier, file, sha256: await tools.sha256Hex(bytes), size: bytes.length, uses: m.uses ?? [], needs: m.needs ?? {} });
      rows.push([src.app, m.name, m.kind, m.tier, bytes.length, gzipSync(bytes).length, m.budget ?? '']);
    }
    const manifestBytes = tools.encodeManifest({ app: src.app, version: src.version, modules });
    await writeFile(join(dir, 'manifest.json'), manifestBytes);
    await writeFile(join(dir, 'manifest.sig'), await tools.signManifest(manifestBytes, key));
    built.push({ app: src.app, version: src.version, dir, keyId: key.keyId, modules });
  }
  printSizes(rows, log);
  log(`signed with key ${key.keyId}; output in ${relative(process.cwd(), out) || '.'}`);
  return { keyId: key.keyId, apps: built };
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
