// One firmware boot, timed: `node box.mjs` natively or under qemu-aarch64-static, from spawn to
// the state it should reach, with the time each boot state was entered (the phases). Runs the
// real firmware image; knows nothing of how the head-end was started.

import { readFileSync } from 'node:fs';
import { FIRMWARE_NODE_FLAGS } from '../../loader/memory.ts';
import type { Arm64Kit } from './fetch.ts';
import { memoryCgroup } from './cgroup.ts';
import { LabError, spawnLines, type Line } from './exec.ts';

export interface BootSpec {
  /** The firmware folder (dist/firmware: box.mjs, profiles.json, trusted-keys.json). */
  firmware: string;
  profile: string;
  boxId: string;
  password: string | undefined;
  headend: string | undefined;
  carousel: string;
  stateDir?: string;
  /** The boot state that ends the boot (`up`; `degraded` for a box without a return channel). */
  until: string;
  /** Under qemu-user when given, natively otherwise. */
  arm64?: Arm64Kit;
  /** qemu-user's CPU model (`-cpu`, the profile's: labLimits); qemu's default (`max`) when absent. */
  cpu?: string;
  /** Start from this V8 startup snapshot of the firmware (snapshot.ts), not by loading box.mjs. */
  snapshot?: string;
  /** Run inside a memory cgroup of this many bytes (root; cgroup.ts). */
  cgroupBytes?: number;
  timeoutMs: number;
  now: () => number;
}

export interface BootPhase {
  state: string;
  /** ms from spawn, on the lab's clock. */
  ms: number;
  /**
   * CPU time (user + system) the boot had used when the lab read the line, ms (/proc, 10 ms
   * ticks; under qemu-user the emulator's): where a boot's work goes, whatever the machine's load.
   */
  cpuMs?: number;
  /**
   * Of `cpuMs`, the main thread's (/proc/<pid>/task/<pid>): the thread the boot's steps run on.
   * The rest is V8's worker compiling QuickJS's wasm beside it (issue 18.6), and GC helpers.
   */
  mainCpuMs?: number;
}

/** utime + stime of a /proc/<pid>/stat text, in clock ticks; undefined when malformed. */
export function statCpuTicks(stat: string): number | undefined {
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const user = Number(f[11]);
  const sys = Number(f[12]);
  return Number.isInteger(user) && Number.isInteger(sys) ? user + sys : undefined;
}

const TICK_MS = 10; // USER_HZ is 100 on Linux
/** CPU time (user + system) of a running process so far (`mainThread`: of its main thread), ms; undefined when it is gone. */
export function procCpuMs(pid: number | undefined, mainThread = false): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const t = statCpuTicks(readFileSync(mainThread ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, 'utf8'));
    return t === undefined ? undefined : t * TICK_MS;
  } catch {
    return undefined; // gone, or no /proc
  }
}

export interface BootResult {
  /** Whether the box reached `until` before the deadline. */
  reached: boolean;
  /** The state it was in when it exited (`until`, or where it stood at the deadline). */
  state: string;
  /** ms from spawn to `until` (or to the deadline when not reached). */
  upMs: number;
  phases: BootPhase[];
  /** The firmware's RSS at exit (/proc VmRSS; under qemu-user it includes the emulator). */
  rssMb: number;
  /** The firmware's CPU time (user + system) at exit, ms: steadier than wall time on a shared machine. */
  cpuMs: number | undefined;
  /** Modules running at exit. */
  running: string[];
  /** What went wrong on the way (module faults, dead-path verdicts, refusals, errors), one line each. */
  notes: string[];
}

/**
 * How much slower QEMU's TCG runs the firmware than the arm64 device it stands for: `node -e 0`
 * costs ~1.05 s of CPU under qemu-user here against ~0.08 s natively (13x the host), and a
 * Cortex-A53 is about 4x slower than this host, so an emulated box is ~3x slower than a real
 * one. Passed as `--cpu-scale` so the sandbox's deadlines stretch with it: unscaled, the guide's
 * ui evaluation (1.3-1.5 s under TCG) overran its 1 s start deadline and was restarted, a fault
 * no device would see (docs/LAB.md, "Boot under emulation").
 */
export const EMULATION_CPU_SCALE = 3;

/** The command line that runs the firmware (natively, or the arm64 Node under qemu-user), with the firmware's Node flags. */
export function firmwareCommand(spec: Pick<BootSpec, 'arm64' | 'snapshot' | 'cpu'>, boxArgs: string[]): { cmd: string; args: string[] } {
  // From a snapshot, box.mjs is not loaded: it names the firmware's folder (snapshot-entry.ts).
  const node = [...FIRMWARE_NODE_FLAGS, ...(spec.snapshot === undefined ? [] : ['--snapshot-blob', spec.snapshot]), 'box.mjs', ...boxArgs];
  if (spec.arm64 === undefined) return { cmd: process.execPath, args: node };
  const scale = ['--cpu-scale', String(EMULATION_CPU_SCALE)];
  const cpu = spec.cpu === undefined ? [] : ['-cpu', spec.cpu];
  return { cmd: spec.arm64.qemu, args: [...cpu, '-L', spec.arm64.sysroot, spec.arm64.node, ...node, ...scale] };
}

export function boxArgs(s: Omit<BootSpec, 'until' | 'timeoutMs' | 'now' | 'arm64' | 'firmware' | 'snapshot' | 'cpu'>): string[] {
  return [
    '--device', s.profile,
    '--carousel', s.carousel,
    '--id', s.boxId,
    ...(s.headend === undefined ? [] : ['--headend', s.headend]),
    ...(s.stateDir === undefined ? [] : ['--state-dir', s.stateDir]),
  ];
}

/** What a firmware line says went wrong, or undefined. */
export function noteOf(o: Record<string, unknown>): string | undefined {
  if (o.kind === 'module' && o.action === 'fault') return `fault ${String(o.module)}: ${String(o.detail)}`;
  if (o.kind === 'dial' && o.ok === false) return `dial ${String(o.attempt)}${o.deadPath === true ? ' (dead-path verdict)' : ''}: ${String(o.error)}`;
  if (o.kind === 'refused' || o.kind === 'error') return `${o.kind}: ${String(o.message)}`;
  return undefined;
}

/** Boot once to `until` (or to the deadline, then stop it) and exit; rejects with a LabError when the firmware dies. */
export async function bootOnce(spec: BootSpec): Promise<BootResult> {
  const fw = firmwareCommand(spec, [...boxArgs(spec), '--exit-on', spec.until]);
  const group = spec.cgroupBytes === undefined ? undefined : await memoryCgroup(spec.cgroupBytes);
  const { cmd, args } = group === undefined ? fw : group.wrap(fw.cmd, fw.args);
  const t0 = spec.now();
  const env = { PATH: process.env.PATH ?? '', ...(spec.password === undefined ? {} : { WEFT_BOX_PASSWORD: spec.password }) };
  // The CPU at each state line, read as it arrives (the firmware itself, not a cgroup wrapper).
  const cpuAt = new Map<Line, [number, number | undefined]>();
  const onLine = (l: Line): void => {
    const ms = group === undefined && l.o.kind === 'state' ? procCpuMs(child.child.pid) : undefined;
    if (ms !== undefined) cpuAt.set(l, [ms, procCpuMs(child.child.pid, true)]);
  };
  const child = spawnLines(cmd, args, { cwd: spec.firmware, env, now: spec.now, onLine });
  const what = `${spec.arm64 === undefined ? 'native' : 'arm64'} boot of ${spec.profile}${group === undefined ? '' : ` in ${Math.round((spec.cgroupBytes ?? 0) / 2 ** 20)} MiB`}`;
  try {
    const isExit = (o: Record<string, unknown>): boolean => o.kind === 'exit';
    const exit = await child.waitFor(isExit, spec.timeoutMs, what).catch(async (e: unknown) => {
      if (child.lines.length === 0) throw e; // never started: nothing to report but the failure
      child.child.kill('SIGTERM'); // the firmware prints where it stood, then exits
      return child.waitFor(isExit, 10_000, `${what} (stopping)`);
    });
    const code = await child.exited;
    if (code !== 0) throw new LabError(what, `the firmware exited with ${code}${group?.oomKilled() === true ? ' (OOM-killed)' : ''}: ${child.stderr().slice(-300)}`);
    const cpu = (l: Line): Partial<BootPhase> => {
      const [all, main] = cpuAt.get(l) ?? [];
      return all === undefined ? {} : { cpuMs: all, ...(main === undefined ? {} : { mainCpuMs: main }) };
    };
    const phases = child.lines.filter((l: Line) => l.o.kind === 'state').map((l) => ({ state: String(l.o.to), ms: Math.round(l.atMs - t0), ...cpu(l) }));
    const state = String(exit.o.state);
    const reached = state === spec.until;
    const notes = child.lines.map((l) => noteOf(l.o)).filter((n): n is string => n !== undefined);
    const running = Array.isArray(exit.o.running) ? exit.o.running.map(String) : [];
    const up = reached ? phases.find((p) => p.state === spec.until)?.ms : undefined;
    return { reached, state, upMs: up ?? Math.round(exit.atMs - t0), phases, rssMb: Number(exit.o.rssMb), cpuMs: typeof exit.o.cpuMs === 'number' ? exit.o.cpuMs : undefined, running, notes };
  } catch (e) {
    if (group?.oomKilled() === true) throw new LabError(what, 'OOM-killed', { cause: e });
    throw e;
  } finally {
    await child.stop();
    await group?.remove();
  }
}
