// `weft lab arm64`: the firmware (built now from this checkout) on the arm64 Node under
// qemu-aarch64-static against a native embedded head-end on loopback, per profile: a native boot,
// a cold qemu boot (empty device storage) and warm ones (storage kept), with their boot phases.

import { copyFile, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { labLimits, profile as profileById } from '../profiles.ts';
import { bootOnce, type BootResult } from './boot.ts';
import { ensureArm64Kit, labCacheDir, type Arm64Kit } from './fetch.ts';
import { LabError, run } from './exec.ts';
import { ensureSnapshot, type FirmwareSnapshot } from './snapshot.ts';
import { withStage } from './stage.ts';

export interface Arm64LabOptions {
  profiles: string[];
  runs: number;
  /** Install missing Debian programs (root only). */
  install: boolean;
  cache?: string;
  timeoutMs?: number;
  /** Start the qemu boots from the firmware's V8 startup snapshot (snapshot.ts). Default true. */
  snapshot?: boolean;
  /** Also boot cold under qemu-user without the snapshot, as the baseline beside it. Default false. */
  baseline?: boolean;
  /** An older build's output folder (`node build.mjs --out <dir>`: its firmware/box.mjs and
   *  snapshot/box-snapshot.cjs), booted cold and warm beside this build, alternating (A/B). */
  against?: string;
  log: (line: string) => void;
}

export interface ProfileBoots {
  profile: string;
  native: BootResult;
  cold: BootResult[];
  warm: BootResult[];
  /** Cold qemu boots without the snapshot (only with `baseline`). */
  baseline: BootResult[];
  /** Cold and warm qemu boots of the `against` build (empty without it). */
  againstCold: BootResult[];
  againstWarm: BootResult[];
  /** qemu-user's CPU model: the profile's (labLimits). */
  cpu: string;
  /** The snapshot the qemu boots started from (undefined: they loaded box.mjs). */
  snapshot: FirmwareSnapshot | undefined;
}

export interface Arm64LabResult {
  kit: Arm64Kit;
  /** `node -e 0` under qemu-user, ms: the floor of any boot there. */
  qemuNodeMs: number;
  boots: ProfileBoots[];
}

const OPTION_KEYS = ['profiles', 'runs', 'install', 'cache', 'timeoutMs', 'snapshot', 'baseline', 'against', 'log'];
const AGAINST_FILES = ['firmware/box.mjs', 'snapshot/box-snapshot.cjs'];

export function checkArm64Options(o: Arm64LabOptions): void {
  const bad = Object.keys(o).filter((k) => !OPTION_KEYS.includes(k));
  if (bad.length > 0) throw new LabError('lab arm64', `unknown option "${bad[0]}"`);
  if (!Number.isInteger(o.runs) || o.runs < 1 || o.runs > 50) throw new LabError('lab arm64', '--runs must be an integer in 1..50');
  if (o.profiles.length === 0) throw new LabError('lab arm64', 'give at least one --profile');
  for (const p of o.profiles) profileById(p); // names the known ones when wrong
  const missing = AGAINST_FILES.find((f) => o.against !== undefined && !existsSync(join(o.against, f)));
  if (missing !== undefined) throw new LabError('lab arm64', `--against ${o.against}: no ${missing} there (give the --out folder of node build.mjs)`);
}

/** The stage's firmware folder with the `against` build's box.mjs, and its snapshot script beside it. */
async function againstFirmware(stageFirmware: string, work: string, against: string): Promise<string> {
  const dir = join(work, 'against');
  await mkdir(join(dir, 'snapshot'), { recursive: true });
  await mkdir(join(dir, 'firmware'), { recursive: true });
  for (const f of ['emscripten-module.wasm', 'profiles.json', 'trusted-keys.json']) await copyFile(join(stageFirmware, f), join(dir, 'firmware', f));
  for (const f of AGAINST_FILES) await copyFile(join(resolve(against), f), join(dir, f));
  return join(dir, 'firmware');
}

export async function runArm64Lab(o: Arm64LabOptions): Promise<Arm64LabResult> {
  checkArm64Options(o);
  const cache = o.cache ?? labCacheDir();
  const kit = await ensureArm64Kit({ install: o.install, log: o.log, cache });
  const t0 = performance.now();
  await run(kit.qemu, ['-L', kit.sysroot, kit.node, '-e', '0'], { step: 'arm64 node -e 0', timeoutMs: 60_000 });
  const qemuNodeMs = Math.round(performance.now() - t0);
  return withStage(async (stage) => {
    const boots: ProfileBoots[] = [];
    const timeoutMs = o.timeoutMs ?? 45_000;
    for (const id of o.profiles) {
      // qemu-user runs the profile's CPU model, and the snapshot is made for that model.
      const cpu = labLimits(profileById(id)).cpu;
      const snapshot = o.snapshot === false ? undefined : await ensureSnapshot({ firmware: stage.firmware, cache, arm64: kit, cpu, log: o.log });
      const qemu = { arm64: kit, cpu, ...(snapshot === undefined ? {} : { snapshot: snapshot.blob }) };
      const other = o.against === undefined ? undefined : await againstFirmware(stage.firmware, stage.work, o.against);
      const otherSnap = other === undefined || o.snapshot === false ? undefined : await ensureSnapshot({ firmware: other, cache, arm64: kit, cpu, log: o.log });
      const againstCold: BootResult[] = [];
      const againstWarm: BootResult[] = [];
      const native = await bootOnce(stage.spec(id, `lab-${id}-native`, { timeoutMs }));
      const cold: BootResult[] = [];
      const warm: BootResult[] = [];
      const baseline: BootResult[] = [];
      for (let i = 0; i < o.runs; i++) {
        const stateDir = join(stage.work, `state-${id}-${i}`);
        if (o.baseline === true) baseline.push(await bootOnce({ ...stage.spec(id, `lab-${id}-b${i}`, { stateDir: `${stateDir}-b`, timeoutMs }), arm64: kit, cpu }));
        // The other build first in every other run, so neither always boots on a machine the other just warmed.
        const ab = async (): Promise<void> => {
          if (other === undefined) return;
          const spec = { ...stage.spec(id, `lab-${id}-a${i}`, { stateDir: `${stateDir}-a`, timeoutMs }), firmware: other, arm64: kit, cpu, ...(otherSnap === undefined ? {} : { snapshot: otherSnap.blob }) };
          againstCold.push(await bootOnce(spec));
          againstWarm.push(await bootOnce(spec));
        };
        if (i % 2 === 0) await ab();
        cold.push(await bootOnce({ ...stage.spec(id, `lab-${id}-${i}`, { stateDir, timeoutMs }), ...qemu }));
        warm.push(await bootOnce({ ...stage.spec(id, `lab-${id}-${i}`, { stateDir, timeoutMs }), ...qemu }));
        if (i % 2 === 1) await ab();
      }
      boots.push({ profile: id, native, cold, warm, baseline, againstCold, againstWarm, cpu, snapshot });
      const show = (b: BootResult): string => (b.reached ? `${b.upMs}` : `${b.state}@${b.upMs}`);
      const base = (baseline.length === 0 ? '' : `, without the snapshot cold ${baseline.map(show).join('/')} ms`) + (other === undefined ? '' : `; --against: cold ${againstCold.map(show).join('/')} ms, warm ${againstWarm.map(show).join('/')} ms`);
      o.log(`lab: ${id}: native ${show(native)} ms, qemu cold ${cold.map(show).join('/')} ms, warm ${warm.map(show).join('/')} ms${base}`);
      for (const b of [native, ...cold, ...warm, ...baseline, ...againstCold, ...againstWarm]) for (const n of b.notes) o.log(`lab: ${id}:   ${n.slice(0, 200)}`);
    }
    return { kit, qemuNodeMs, boots };
  });
}

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : (s[Math.floor((s.length - 1) / 2)] as number);
};

/** The phases table the CLI prints: one row per profile and kind, one column per boot state. */
export function phasesTable(r: Arm64LabResult): string {
  const states = ['tuning', 'acquiring-boot', 'starting', 'connecting', 'session-setup', 'up', 'degraded'];
  const rows: string[][] = [['profile', 'boot', ...states, 'end', 'cpu ms', 'rss MB']];
  // ms from spawn, and the CPU used by then (ms) where /proc gave it.
  const at = (b: BootResult, s: string): string => {
    const p = b.phases.find((x) => x.state === s);
    return p === undefined ? '-' : [p.ms, p.cpuMs, p.mainCpuMs].filter((x) => x !== undefined).join('/');
  };
  for (const p of r.boots) {
    const kinds: [string, BootResult[]][] = [['native', [p.native]], ['qemu cold', p.cold], ['qemu warm', p.warm], ['qemu cold, no snapshot', p.baseline], ['against cold', p.againstCold], ['against warm', p.againstWarm]];
    for (const [kind, bs] of kinds) for (const b of bs) rows.push([p.profile, kind, ...states.map((s) => at(b, s)), b.reached ? 'ok' : b.state, String(b.cpuMs ?? '-'), String(b.rssMb)]);
  }
  const w = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length))) ?? [];
  const snaps = r.boots.map((p) => `${p.profile} (-cpu ${p.cpu}): ${p.snapshot === undefined ? 'box.mjs' : `snapshot${p.snapshot.built ? ` built now in ${p.snapshot.buildMs} ms` : ''}`}`);
  return [`arm64 node -e 0 under qemu-user: ${r.qemuNodeMs} ms; qemu boots: ${snaps.join(', ')}; boot phases in ms from spawn / CPU ms used by then / of which the main thread's:`, ...rows.map((row) => row.map((c, i) => c.padStart(w[i] ?? 0)).join('  '))].join('\n');
}
