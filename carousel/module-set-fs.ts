// Reads a built app folder (dist/apps/<app>/: manifest.json, manifest.sig, one file per module)
// into a module set for the carousel. The only file-system code of the carousel; it never writes.

import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, join, relative, resolve, sep } from 'node:path';
import { ArgumentError, rejectUnknown } from '../runtime/index.ts';
import { CarouselError } from './errors.ts';
import { CAROUSEL_KINDS, type CarouselModule, type ModuleSet, checkModuleSet, isModuleKind, isTier, makeModule } from './module-set.ts';

export interface FromDirOptions {
  /** `carousel` (default): read only the kinds that go on the carousel; `all`: every module. */
  kinds?: 'carousel' | 'all';
  /** Refuse a manifest without manifest.sig (the box runs nothing unsigned). Default true. */
  requireSignature?: boolean;
  /** App id when the folder has no manifest. Default: the folder name, lower-cased. */
  appId?: string;
}

interface ManifestEntry {
  name?: unknown;
  kind?: unknown;
  tier?: unknown;
  file?: unknown;
  sha256?: unknown;
}

/**
 * The module set of a built app folder. With manifest.json: its modules (by `kinds`), plus the
 * manifest and its signature as boot-tier modules of kind manifest/signature, so a box can
 * verify the signed manifest before it runs anything. Without: every file as a boot-tier `data`
 * module. Throws CarouselError (where 'input') for a folder that does not hold together.
 */
export async function moduleSetFromDir(dir: string, options: FromDirOptions = {}): Promise<ModuleSet> {
  rejectUnknown('moduleSetFromDir', options, ['kinds', 'requireSignature', 'appId']);
  const kinds = options.kinds ?? 'carousel';
  if (kinds !== 'carousel' && kinds !== 'all') throw new ArgumentError("moduleSetFromDir: kinds must be 'carousel' or 'all'", 'kinds');
  const root = resolve(dir);
  const st = await stat(root).catch((cause: unknown) => {
    throw new CarouselError('input', `cannot read app folder ${dir}`, { cause });
  });
  if (!st.isDirectory()) throw new CarouselError('input', `${dir} is not a folder`);
  const manifestBytes = await readFile(join(root, 'manifest.json')).catch(() => undefined);
  if (manifestBytes === undefined) return plainFolder(root, options.appId);

  let manifest: { app?: unknown; appId?: unknown; version?: unknown; modules?: unknown };
  try {
    manifest = JSON.parse(new TextDecoder().decode(manifestBytes)) as typeof manifest;
  } catch (cause) {
    throw new CarouselError('input', 'manifest.json is not valid JSON', { cause });
  }
  const appId = manifest.app ?? manifest.appId;
  if (typeof appId !== 'string') throw new CarouselError('input', 'manifest.json lacks "app"');
  if (!Array.isArray(manifest.modules)) throw new CarouselError('input', 'manifest.json lacks a "modules" list');
  const modules: CarouselModule[] = [makeModule('manifest.json', 'manifest', 'boot', new Uint8Array(manifestBytes))];
  const sig = await readFile(join(root, 'manifest.sig')).catch(() => undefined);
  if (sig !== undefined) modules.push(makeModule('manifest.sig', 'signature', 'boot', new Uint8Array(sig)));
  else if (options.requireSignature ?? true) throw new CarouselError('input', 'manifest.sig is missing: boxes refuse an unsigned manifest');

  for (const raw of manifest.modules as ManifestEntry[]) {
    const { name, kind, tier, file, sha256 } = raw ?? {};
    if (typeof name !== 'string' || !isModuleKind(kind)) throw new CarouselError('input', `manifest module ${JSON.stringify(name)} needs a name and a known kind`);
    if (kinds === 'carousel' && !CAROUSEL_KINDS.includes(kind)) continue; // server and peer modules stay on the head-end
    const t = tier ?? 'boot';
    if (!isTier(t)) throw new CarouselError('input', `manifest module ${JSON.stringify(name)}: unknown tier ${JSON.stringify(tier)}`);
    const path = resolve(root, typeof file === 'string' ? file : `${name}.js`);
    if (!path.startsWith(root + sep)) throw new CarouselError('input', `manifest module ${JSON.stringify(name)}: file outside the app folder`);
    const bytes = await readFile(path).catch((cause: unknown) => {
      throw new CarouselError('input', `manifest module ${JSON.stringify(name)}: cannot read ${relative(root, path)}`, { cause });
    });
    const m = makeModule(name, kind, t, new Uint8Array(bytes));
    if (sha256 !== undefined && sha256 !== m.sha256) throw new CarouselError('input', `manifest module ${JSON.stringify(name)}: sha256 does not match ${relative(root, path)}`);
    modules.push(m);
  }
  return check({ appId, version: String(manifest.version ?? '0'), modules });
}

async function plainFolder(root: string, appId: string | undefined): Promise<ModuleSet> {
  const files = (await readdir(root, { recursive: true, withFileTypes: true })).filter((e) => e.isFile());
  const modules: CarouselModule[] = [];
  for (const f of files) {
    const path = join(f.parentPath ?? f.path, f.name);
    const name = relative(root, path).split(sep).join('/');
    modules.push(makeModule(name, 'data', 'boot', new Uint8Array(await readFile(path))));
  }
  modules.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const id = appId ?? (basename(root).toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+/, '') || 'app');
  return check({ appId: id, version: '0', modules });
}

function check(set: ModuleSet): ModuleSet {
  try {
    return checkModuleSet(set);
  } catch (cause) {
    throw new CarouselError('input', (cause as Error).message, { cause });
  }
}
