// A fleet spread over child processes (`weft fleet run --procs N|auto`): starts one child per
// slice of boxes, reads their JSON lines, sums their summaries into one, passes every other line
// through, ends them all on stop(), and reports a child that exits on its own, never hiding it.
// The child is any command that prints the summary lines below (cli/fleet.ts does).

import type { RequestCounts } from '../loader/request-ledger.ts';
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { ArgumentError } from '../runtime/index.ts';
import type { Slice } from './fleet-plan.ts';
import type { ChannelCounts } from './fleet-watch.ts';

/** What a child prints about its part of the fleet, one JSON line every report interval. */
export interface ChildSummary {
  event: 'fleet';
  boxes: number;
  states: Record<string, number>;
  rssMb: number;
  /** CPU time of the child so far, ms (process.cpuUsage). */
  cpuMs: number;
  /** Channel counters summed over its boxes: dead-path verdicts on dial and on an established link. */
  channel: ChannelCounts;
  /** Boot times (a box's own start to its first `up`, ms) of boxes that came up since the last line. */
  booted: number[];
  /** Full boxes: what became of their requests [issue 13.8] (loader/request-ledger.ts). */
  requests?: RequestCounts | undefined;
  /** With an arrival gate (fleet-pace.ts): how long each box started since the last line was held, ms. */
  held?: number[] | undefined;
  /** With an arrival gate: the boots per second this process can afford (PaceStats). */
  capacityPerS?: number | null | undefined;
  /** Time its boxes spent in each state before their first `up`, ms, added up (FleetWatch.phaseMs). */
  phaseMs?: Record<string, number> | undefined;
  /** From its first box's start to its last's, ms (FleetWatch.startSpanMs). */
  startSpanMs?: number | undefined;
  /** [issue 19.5] Where slow boots and false verdicts come from: boots over the goal and their time
   *  by state (FleetWatch.slow, slowPhaseMs), verdicts by kind and phase (FleetWatch.verdicts), the
   *  process's longest event-loop delay since its last line, ms. */
  slow?: number | undefined;
  slowPhaseMs?: Record<string, number> | undefined;
  verdicts?: Record<string, number> | undefined;
  loopMaxMs?: number | undefined;
}

export interface ChildExit {
  proc: number;
  pid: number | undefined;
  code: number | null;
  signal: NodeJS.Signals | null;
  slice: Slice;
  /** Exited before the fleet was told to stop, without a script's verdict (0 or 3): a death. */
  died: boolean;
}

export interface FleetProcsOptions {
  slices: Slice[];
  /** argv (program first) of the child running one slice. */
  command: (slice: Slice, proc: number) => string[];
  /** A line a child printed that is not its summary (a box event, a message). */
  onLine?: (line: string, proc: number) => void;
  onExit?: (e: ChildExit) => void;
  env?: NodeJS.ProcessEnv;
}

export interface FleetTotals {
  procs: number;
  alive: number;
  died: number;
  boxes: number;
  states: Record<string, number>;
  rssMb: number;
  cpuMs: number;
  channel: ChildSummary['channel'];
  /** Every boot time reported so far, ms. */
  booted: number[];
  /** Every arrival-gate hold reported so far, ms (fleet-pace.ts). */
  held: number[];
  /** The children's boot capacities added up, boots/s (null: no child has a gate). */
  capacityPerS: number | null;
  /** Time boxes spent in each state before their first `up`, ms, added over the children. */
  phaseMs: Record<string, number>;
  /** The longest of the children's start spans, ms (they start together). */
  startSpanMs: number;
  /** Added over the children (ChildSummary); `loopMaxMs` the longest of their latest. */
  slow: number;
  slowPhaseMs: Record<string, number>;
  verdicts: Record<string, number>;
  loopMaxMs: number;
}

/** Exit codes a child ends with by itself on purpose: its script reached its goal, or timed out. */
const VERDICTS = new Set([0, 3]);
const KILL_AFTER_MS = 10_000;

export class FleetProcs {
  #children: { child: ChildProcess; slice: Slice; exited: Promise<ChildExit> }[] = [];
  #last = new Map<number, ChildSummary>();
  #booted: number[] = [];
  #held: number[] = [];
  #stopping = false;
  #died = 0;
  #alive = 0;

  constructor(o: FleetProcsOptions) {
    if (!Array.isArray(o.slices) || o.slices.length === 0) throw new ArgumentError('FleetProcs: at least one slice', 'slices');
    o.slices.forEach((slice, proc) => {
      const [program, ...args] = o.command(slice, proc);
      if (program === undefined) throw new ArgumentError('FleetProcs: command is empty', 'command');
      const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'inherit'], env: o.env ?? process.env });
      this.#alive++;
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => this.#line(line, proc, o.onLine));
      const exited = new Promise<ChildExit>((resolve) => {
        let over = false;
        const done = (code: number | null, signal: NodeJS.Signals | null): void => {
          if (over) return;
          over = true;
          this.#alive--;
          const died = !this.#stopping && !(code !== null && VERDICTS.has(code));
          if (died) this.#died++;
          const e: ChildExit = { proc, pid: child.pid, code, signal, slice, died };
          o.onExit?.(e);
          resolve(e);
        };
        child.once('exit', done);
        child.once('error', () => {
          if (child.pid === undefined) done(127, null); // could not start: no exit event will come
        });
      });
      this.#children.push({ child, slice, exited });
    });
  }

  /** Resolves when every child has exited (by itself, or after stop()). */
  exited(): Promise<ChildExit[]> {
    return Promise.all(this.#children.map((c) => c.exited));
  }

  /** SIGTERM to every child still running; SIGKILL to any still there after 10 s. */
  async stop(): Promise<ChildExit[]> {
    this.#stopping = true;
    for (const { child } of this.#children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const kill = setTimeout(() => {
      for (const { child } of this.#children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }, KILL_AFTER_MS);
    kill.unref();
    const out = await this.exited();
    clearTimeout(kill);
    return out;
  }

  /** The children's latest summaries added up, and every boot time reported so far. */
  totals(): FleetTotals {
    const t: FleetTotals = { procs: this.#children.length, alive: this.#alive, died: this.#died, boxes: 0, states: {}, rssMb: 0, cpuMs: 0, channel: { deadPaths: 0, deadLinks: 0, failures: 0, downs: 0, lateAdopted: 0, deadPathsUndone: 0, lateBusy: 0 }, booted: this.#booted, held: this.#held, capacityPerS: null, phaseMs: {}, startSpanMs: 0, slow: 0, slowPhaseMs: {}, verdicts: {}, loopMaxMs: 0 };
    for (const s of this.#last.values()) {
      t.boxes += s.boxes;
      t.rssMb += s.rssMb;
      t.cpuMs += s.cpuMs;
      for (const [k, n] of Object.entries(s.states)) t.states[k] = (t.states[k] ?? 0) + n;
      for (const k of ['deadPaths', 'deadLinks', 'failures', 'downs', 'lateAdopted', 'deadPathsUndone', 'lateBusy'] as const) t.channel[k] += s.channel[k];
      if (typeof s.capacityPerS === 'number') t.capacityPerS = (t.capacityPerS ?? 0) + s.capacityPerS;
      addTo(t.phaseMs, s.phaseMs);
      t.startSpanMs = Math.max(t.startSpanMs, s.startSpanMs ?? 0);
      t.slow += s.slow ?? 0;
      addTo(t.slowPhaseMs, s.slowPhaseMs);
      addTo(t.verdicts, s.verdicts);
      t.loopMaxMs = Math.max(t.loopMaxMs, s.loopMaxMs ?? 0);
    }
    return t;
  }

  #line(line: string, proc: number, onLine: FleetProcsOptions['onLine']): void {
    const s = parseSummary(line);
    if (s === undefined) return onLine?.(line, proc);
    this.#last.set(proc, s);
    for (const ms of s.booted) this.#booted.push(ms);
    for (const ms of s.held ?? []) this.#held.push(ms);
  }
}

function addTo(into: Record<string, number>, from: Record<string, number> | undefined): void {
  for (const [k, n] of Object.entries(from ?? {})) into[k] = (into[k] ?? 0) + n;
}

/** A child's summary line, or undefined for any other line (checked: a child is another program). */
export function parseSummary(line: string): ChildSummary | undefined {
  if (!line.startsWith('{"event":"fleet"')) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  const o = v as Partial<ChildSummary>;
  const num = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
  if (o.event !== 'fleet' || !num(o.boxes) || !num(o.rssMb) || !num(o.cpuMs)) return undefined;
  if (o.states === null || typeof o.states !== 'object' || !Object.values(o.states).every(num)) return undefined;
  const c = o.channel;
  if (c === undefined || c === null || ![c.deadPaths, c.deadLinks, c.failures, c.downs].every(num)) return undefined;
  // [13.4, 19] late adoptions and late busy answers: absent from a fleet older than them (0), a number otherwise.
  const late = { lateAdopted: c.lateAdopted ?? 0, deadPathsUndone: c.deadPathsUndone ?? 0, lateBusy: c.lateBusy ?? 0 };
  if (!num(late.lateAdopted) || !num(late.deadPathsUndone) || !num(late.lateBusy)) return undefined;
  if (!Array.isArray(o.booted) || !o.booted.every(num)) return undefined;
  // [issue 19.5] the arrival gate's holds and capacity: absent without a gate.
  if (o.held !== undefined && !(Array.isArray(o.held) && o.held.every(num))) return undefined;
  if (o.capacityPerS !== undefined && o.capacityPerS !== null && !num(o.capacityPerS)) return undefined;
  const counts = (x: unknown): boolean => x === undefined || (x !== null && typeof x === 'object' && !Array.isArray(x) && Object.values(x).every(num));
  if (![o.phaseMs, o.slowPhaseMs, o.verdicts].every(counts)) return undefined;
  if (![o.startSpanMs, o.slow, o.loopMaxMs].every((x) => x === undefined || num(x))) return undefined;
  const gate = { ...(o.startSpanMs === undefined ? {} : { startSpanMs: o.startSpanMs }), ...(o.held === undefined ? {} : { held: o.held }), ...(o.capacityPerS === undefined ? {} : { capacityPerS: o.capacityPerS }), ...(o.phaseMs === undefined ? {} : { phaseMs: o.phaseMs }) };
  const tail = { ...(o.slow === undefined ? {} : { slow: o.slow }), ...(o.slowPhaseMs === undefined ? {} : { slowPhaseMs: o.slowPhaseMs }), ...(o.verdicts === undefined ? {} : { verdicts: o.verdicts }), ...(o.loopMaxMs === undefined ? {} : { loopMaxMs: o.loopMaxMs }) };
  return { event: 'fleet', boxes: o.boxes, states: o.states, rssMb: o.rssMb, cpuMs: o.cpuMs, channel: { ...c, ...late }, booted: o.booted, ...gate, ...tail };
}
