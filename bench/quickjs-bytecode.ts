// bench/quickjs-bytecode: what a head-end setup would save by compiling a server module once per
// app build and running its bytecode in each session's context, instead of compiling its source
// in every context (issue 19.3: the setup goals need ~10% less CPU per setup). quickjs-emscripten
// exports no bytecode runner, so the two ways are measured on a QuickJS build of our own
// (bench/quickjs-bytecode/README.md); quickjs-emscripten's build of the same modules runs beside.
//   npm run bench -- quickjs-bytecode [--iterations 2000] [--rounds 3]
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
// @ts-expect-error build.mjs is plain JavaScript without types
import { build } from '../build.mjs';
import { run } from '../devices/lab/exec.ts';
import { ensurePrograms, labCacheDir } from '../devices/lab/fetch.ts';
import { loadEngine } from '../sandbox/index.ts';
import { result, table } from './_report.ts';

const { values: flags } = parseArgs({ options: { iterations: { type: 'string', default: '2000' }, rounds: { type: 'string', default: '3' } }, strict: true });
const N = Number(flags.iterations);
const ROUNDS = Number(flags.rounds);
if (!(N >= 10 && ROUNDS >= 1)) throw new Error('--iterations must be >= 10 and --rounds >= 1');

const log = (s: string): void => console.error(s);
const cache = join(labCacheDir(), 'quickjs');
const PROBE = new URL('./quickjs-bytecode/probe.c', import.meta.url).pathname;
const SOURCES = ['quickjs.c', 'libregexp.c', 'libunicode.c', 'cutils.c', 'dtoa.c'];

/** QuickJS's source from Debian's archive (trixie: bookworm has none), with a private apt state. */
async function quickjsSource(): Promise<string> {
  const found = await unpacked();
  if (found !== undefined) return found;
  const apt = join(cache, 'apt');
  for (const d of ['lists/partial', 'archives/partial']) await mkdir(join(apt, d), { recursive: true });
  await writeFile(join(apt, 'sources.list'), 'deb-src http://deb.debian.org/debian trixie main\n');
  await writeFile(join(apt, 'status'), '');
  const o = [`-oDir::Etc::SourceList=${join(apt, 'sources.list')}`, '-oDir::Etc::SourceParts=/dev/null', `-oDir::State::Lists=${join(apt, 'lists')}`, `-oDir::Cache=${apt}`, `-oDir::State::status=${join(apt, 'status')}`];
  log('quickjs-bytecode: fetching QuickJS source from Debian (private apt state)');
  await run('apt-get', [...o, 'update', '-qq'], { timeoutMs: 300_000, step: 'apt-get update (deb-src, private)' });
  await run('apt-get', [...o, 'source', '--download-only', 'quickjs'], { cwd: cache, timeoutMs: 300_000, step: 'apt-get source quickjs' });
  const orig = (await readdir(cache)).find((f) => /^quickjs_.*\.orig\.tar\.xz$/.test(f));
  if (orig === undefined) throw new Error('apt-get source quickjs left no .orig.tar.xz');
  await run('tar', ['xf', orig], { cwd: cache, step: 'tar xf' });
  const src = await unpacked();
  if (src === undefined) throw new Error(`${orig} unpacked to no folder with quickjs.c in ${cache}`);
  return src;
}

async function unpacked(): Promise<string | undefined> {
  const dir = existsSync(cache) ? (await readdir(cache)).find((d) => d.startsWith('quickjs-') && existsSync(join(cache, d, 'quickjs.c'))) : undefined;
  return dir === undefined ? undefined : join(cache, dir);
}

/** The probe built with Debian's emscripten; rebuilt when probe.c is newer. */
async function probe(): Promise<string> {
  const emcc = (await ensurePrograms({ emcc: 'emscripten', tar: 'tar', xz: 'xz-utils' }, { install: true, log })).emcc as string;
  const src = await quickjsSource();
  const out = join(cache, 'build', 'probe.cjs');
  if (existsSync(out) && statSync(out).mtimeMs > statSync(PROBE).mtimeMs) return out;
  await mkdir(join(cache, 'build'), { recursive: true });
  const version = readFileSync(join(src, 'VERSION'), 'utf8').trim();
  log(`quickjs-bytecode: building QuickJS ${version} with emcc`);
  const settings = ['MODULARIZE=1', 'ALLOW_MEMORY_GROWTH=1', 'INITIAL_MEMORY=33554432', 'ENVIRONMENT=node', 'EXPORTED_RUNTIME_METHODS=["HEAPU8"]', 'EXPORTED_FUNCTIONS=["_malloc","_free"]'].flatMap((s) => ['-s', s]);
  // Debian's emcc finds acorn (its JS optimizer's parser) in Debian's node folder, not in ours.
  await run(emcc, ['-O2', '-D_GNU_SOURCE', `-DCONFIG_VERSION="${version}"`, `-I${src}`, PROBE, ...SOURCES.map((f) => join(src, f)), ...settings, '-o', out], { env: { ...process.env, NODE_PATH: '/usr/share/nodejs' }, timeoutMs: 600_000, step: 'emcc' });
  return out;
}

interface Probe {
  HEAPU8: Uint8Array;
  _malloc(n: number): number;
  _p_rt(): number;
  _p_ctx(rt: number): number;
  _p_ctx_free(ctx: number): void;
  _p_script(ctx: number, src: number, len: number): number;
  _p_source(ctx: number, src: number, len: number): number;
  _p_compile(ctx: number, src: number, len: number): number;
  _p_out_len(): number;
  _p_bytecode(ctx: number, buf: number, len: number): number;
}

await build({ quiet: true }); // dist/apps/guide: the modules a setup starts
const PRE = 'globalThis.weft = { on() {}, request() {}, address() {} };';
const MODULES = ['epg', 'search'].map((m) => readFileSync(new URL(`../dist/apps/guide/${m}.js`, import.meta.url), 'utf8'));
const enc = new TextEncoder();

const file = await probe();
const init = createRequire(import.meta.url)(file) as (o: { wasmBinary: Uint8Array }) => Promise<Probe>;
const M = await init({ wasmBinary: readFileSync(file.replace(/\.cjs$/, '.wasm')) });
const put = (s: string): [number, number] => {
  const b = enc.encode(s);
  const p = M._malloc(b.length + 1);
  M.HEAPU8.set(b, p);
  M.HEAPU8[p + b.length] = 0;
  return [p, b.length];
};
const rt = M._p_rt();
const pre = put(PRE);
const mods = MODULES.map(put);
const c0 = M._p_ctx(rt);
M._p_script(c0, ...pre);
const bytecode = mods.map(([p, n]): [number, number] => {
  const b = M._p_compile(c0, p, n);
  if (b === 0) throw new Error('the probe could not compile a module');
  return [b, M._p_out_len()];
});

/** Microseconds per context: made, `weft` stubbed, both modules evaluated (source or bytecode), freed. */
function own(kind: 'context' | 'source' | 'bytecode'): number {
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const ctx = M._p_ctx(rt);
    if (kind !== 'context') {
      if (M._p_script(ctx, ...pre) !== 0) throw new Error('the stub failed');
      for (let j = 0; j < mods.length; j++) {
        const r = kind === 'source' ? M._p_source(ctx, ...(mods[j] as [number, number])) : M._p_bytecode(ctx, ...(bytecode[j] as [number, number]));
        if (r !== 0) throw new Error(`module ${j} from ${kind} failed (${r})`);
      }
    }
    M._p_ctx_free(ctx);
  }
  return ((performance.now() - t0) / N) * 1000;
}

const engine = await loadEngine();
const qrt = engine.quickjs.newRuntime();
/** The same on quickjs-emscripten (the engine the sandbox runs): source only. */
function baseline(kind: 'context' | 'source'): number {
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const ctx = qrt.newContext();
    if (kind === 'source') {
      ctx.unwrapResult(ctx.evalCode(PRE, 'pre.js')).dispose();
      for (const s of MODULES) ctx.unwrapResult(ctx.evalCode(s, 'm.js', { type: 'module', strict: true })).dispose();
    }
    ctx.dispose();
  }
  return ((performance.now() - t0) / N) * 1000;
}

const rows: Record<string, number>[] = [];
for (let r = 0; r < ROUNDS; r++) {
  const [c, s, b, qc, qs] = [own('context'), own('source'), own('bytecode'), baseline('context'), baseline('source')];
  rows.push({ round: r + 1, own_context_us: c, own_modules_source_us: s - c, own_modules_bytecode_us: b - c, qjs_emscripten_context_us: qc, qjs_emscripten_modules_source_us: qs - qc });
}
table(`two server modules of the guide app (${MODULES.map((m) => m.length).join(' + ')} bytes of source), per context, ${N} contexts a round`, rows);
const median = (k: string): number => (rows.map((x) => x[k] as number).sort((a, b) => a - b)[Math.floor(rows.length / 2)] as number);
const src = median('own_modules_source_us');
const bc = median('own_modules_bytecode_us');
result('quickjs-bytecode', {
  modules_source_us: src,
  modules_bytecode_us: bc,
  bytecode_ratio_vs_source: bc / src,
  saved_us_per_setup: src - bc,
  qjs_emscripten_modules_source_us: median('qjs_emscripten_modules_source_us'),
  source_bytes: MODULES.reduce((n, m) => n + m.length, 0),
  bytecode_bytes: bytecode.reduce((n, [, len]) => n + len, 0),
});
qrt.dispose();
