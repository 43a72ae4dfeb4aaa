// An app's source description (apps/<app>/app.json) read and checked for build.mjs, and its
// modules typechecked with the TypeScript compiler before esbuild (which strips types without
// checking them) bundles them. Plain Node plus the typescript package; no other state.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

const MODULE_KEYS = ['name', 'kind', 'tier', 'entry', 'uses', 'needs', 'critical', 'durability', 'scope', 'budget'];
const CAROUSEL_KINDS = ['client', 'mutable']; // the kinds that can travel to a box
const SIZE = /^(\d+(?:\.\d+)?)\s*([kmg]i?b?|b)?$/i;
const UNIT = { '': 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3 };

/** A byte budget: a whole number of bytes, or a size string (`"4k"` is 4096, `"1.5MiB"`). */
export function parseBudget(v, at) {
  if (typeof v === 'number' && Number.isInteger(v) && v > 0) return v;
  const m = typeof v === 'string' ? SIZE.exec(v.trim()) : null;
  const unit = m === null ? undefined : UNIT[(m[2] ?? '').toLowerCase()];
  if (m === null || unit === undefined) throw new Error(`${at}: budget ${JSON.stringify(v)} is not a size (bytes as a number, or a string like "4k", "512KiB", "1.5M")`);
  const bytes = Math.floor(Number(m[1]) * unit);
  if (!(bytes > 0)) throw new Error(`${at}: budget must be more than 0 bytes`);
  return bytes;
}

/** Read apps/<app>/app.json: the manifest without hashes, sizes and files, plus each entry. */
export async function sourceManifest(appDir) {
  const file = join(appDir, 'app.json');
  const src = JSON.parse(await readFile(file, 'utf8'));
  for (const k of Object.keys(src)) if (!['app', 'version', 'modules'].includes(k)) throw new Error(`${file}: unknown key "${k}"`);
  if (!Array.isArray(src.modules)) throw new Error(`${file}: modules must be an array`);
  src.modules = src.modules.map((m, i) => checkSourceModule(m, `${file}: modules[${i}]`));
  return src;
}

function checkSourceModule(m, at) {
  for (const k of Object.keys(m)) if (!MODULE_KEYS.includes(k)) throw new Error(`${at}: unknown key "${k}" (known: ${MODULE_KEYS.join(', ')})`);
  if (typeof m.entry !== 'string' || !m.entry.endsWith('.ts')) throw new Error(`${at}.entry must name a .ts file`);
  const out = { ...m };
  // A tier says which carousel cycle carries a module; server and peer modules never travel.
  if (CAROUSEL_KINDS.includes(m.kind)) {
    if (m.tier === undefined) throw new Error(`${at}.tier: a ${m.kind} module goes on the carousel; say when: "boot", "fallback-1" or "fallback-2"`);
  } else {
    if (m.tier !== undefined) throw new Error(`${at}.tier: a ${m.kind} module runs only on the head-end and never goes on the carousel; remove "tier"`);
    out.tier = 'boot'; // the signed manifest's field; ignored for head-end kinds
  }
  if (m.budget !== undefined) out.budget = parseBudget(m.budget, `${at}.budget`);
  return out;
}

/**
 * Typecheck an app's module entries (and what they import) with the project's compiler options.
 * Returns one line per error, `file:line:col message`; empty when clean.
 */
export async function typecheckApp(appDir, entries, tsconfigPath) {
  const ts = (await import('typescript')).default;
  const cfg = ts.readConfigFile(tsconfigPath, ts.sys.readFile);
  const parsed = ts.parseJsonConfigFileContent(cfg.config, ts.sys, join(tsconfigPath, '..'));
  // Type packages resolve from the project, wherever the app's folder is.
  const typeRoots = [join(tsconfigPath, '..', 'node_modules', '@types')];
  const program = ts.createProgram(entries.map((e) => join(appDir, e)), { ...parsed.options, typeRoots, noEmit: true });
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const text = ts.flattenDiagnosticMessageText(d.messageText, ' ');
    if (d.file === undefined || d.start === undefined) return text;
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
    return `${d.file.fileName}:${line + 1}:${character + 1} ${text}`;
  });
}
