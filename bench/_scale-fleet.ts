// bench/scale's handles on its processes: a `weft fleet run` (its summary lines read as they
// come, waited on by condition, never by sleeping), the measuring probe, a process's RSS, and
// `--pin`'s placement of the node and the fleet on CPUs of their own.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cpus } from 'node:os';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { fleetLine, type FleetLine } from '../cli/fleet-procs.ts';
import { parseSummary } from '../devices/index.ts';

const BIN = fileURLToPath(new URL('../cli/bin.mjs', import.meta.url));
const PROBE = fileURLToPath(new URL('./_scale-probe.ts', import.meta.url));

export interface RunningFleet {
  /** The latest summary line (the parent's, all processes added up). */
  last(): FleetLine | undefined;
  /** Resolve with the first summary line (from now on) that satisfies `pred`; reject after `ms` or when the fleet exits. */
  until(pred: (l: FleetLine) => boolean, ms: number, what: string): Promise<FleetLine>;
  /** Call `fn` with every summary line from now on; the returned function stops it. */
  onLine(fn: (l: FleetLine) => void): () => void;
  /** SIGTERM the fleet (it ends its children) and wait for it. */
  stop(): Promise<void>;
  readonly child: ChildProcess;
}

/**
 * `profDir`: the fleet process writes a V8 CPU profile there when it exits (`--procs 1` only: children are not profiled).
 * `cpus`: run the fleet (and its children) on these CPUs only (`taskset -c`), e.g. apart from the node's.
 */
export function startFleetCli(args: string[], profDir?: string, cpus?: string): RunningFleet {
  const prof = profDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', profDir];
  const cmd = [process.execPath, ...prof, BIN, 'fleet', 'run', ...args];
  const child = cpus === undefined ? spawn(cmd[0] as string, cmd.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] }) : spawn('taskset', ['-c', cpus, ...cmd], { stdio: ['ignore', 'pipe', 'inherit'] });
  let last: FleetLine | undefined;
  const booted: number[] = []; // a fleet in one process prints its own line: boot times come as deltas
  const held: number[] = []; // and so do its arrival gate's holds
  const waiters = new Set<(l: FleetLine | undefined) => void>();
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    if (!line.startsWith('{"event":"fleet"')) return;
    const one = parseSummary(line);
    if (one !== undefined) booted.push(...one.booted);
    if (one !== undefined) held.push(...(one.held ?? []));
    const l = one === undefined ? (JSON.parse(line) as FleetLine) : fleetLine({ ...one, procs: 1, alive: 1, died: 0, booted, held, capacityPerS: one.capacityPerS ?? null, phaseMs: one.phaseMs ?? {}, startSpanMs: one.startSpanMs ?? 0, slow: one.slow ?? 0, slowPhaseMs: one.slowPhaseMs ?? {}, verdicts: one.verdicts ?? {}, loopMaxMs: one.loopMaxMs ?? 0 }, 0);
    last = l;
    for (const w of [...waiters]) w(l);
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  void exited.then(() => {
    for (const w of [...waiters]) w(undefined);
  });
  return {
    child,
    last: () => last,
    onLine: (fn) => {
      const w = (l: FleetLine | undefined): void => void (l === undefined ? waiters.delete(w) : fn(l));
      waiters.add(w);
      return () => void waiters.delete(w);
    },
    until: (pred, ms, what) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(w);
          reject(new Error(`fleet: ${what} not reached within ${ms / 1000} s (last: ${JSON.stringify(last)})`));
        }, ms);
        const w = (l: FleetLine | undefined): void => {
          if (l !== undefined && !pred(l)) return;
          clearTimeout(timer);
          waiters.delete(w);
          if (l === undefined) reject(new Error(`fleet exited before ${what} (last: ${JSON.stringify(last)})`));
          else resolve(l);
        };
        waiters.add(w);
      }),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Run the probe (bench/_scale-probe.ts) to its one JSON line. */
export function probe(args: string[]): Promise<Record<string, number>> {
  const child = spawn(process.execPath, ['--import', 'tsx', PROBE, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) =>
    child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop() as string) as Record<string, number>) : reject(new Error(`probe --mode ${args[args.indexOf('--mode') + 1] ?? '?'} failed (exit ${String(code)}; its own line above says why)`)))),
  );
}

/** Resident memory of a process, bytes (Linux /proc). */
export function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? 0 : Number(m[1]) * 1024;
}

/** Wait for the event loop to turn over a few times and the GC to have had a chance. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
  (globalThis as { gc?: () => void }).gc?.();
}

/** `--pin`: this process and every thread it has on CPU 0 (the threads it starts later inherit it). */
export function pinSelf(): void {
  if (cpus().length < 2) throw new Error('--pin needs two CPUs or more: the node on one, the fleet on the rest');
  execFileSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
  console.log(`pinned: the node, its broker and probes on CPU 0, the light fleet on CPUs 1-${cpus().length - 1}`);
}
