// `weft fleet run --procs N|auto`, the parent's side: one child `weft fleet run` per slice of
// boxes (devices/fleet-procs.ts), their summaries added into one line, their box events passed
// through, their final states added into one `stopped` line. Ctrl-C or SIGTERM ends every child;
// a child that dies is printed as a `child-exit` line and makes the exit code 1.
import { fileURLToPath } from 'node:url';
import { FleetProcs, slices, type ChildExit, type FleetTotals, type Slice } from '../devices/index.ts';
import { untilStopped } from './box.ts';
import type { FleetFlags } from './fleet.ts';

const BIN = fileURLToPath(new URL('./bin.mjs', import.meta.url));

/** The child's command line: this fleet's flags for its slice, in one process. */
export function childArgs(f: FleetFlags, s: Slice, proc: number, procs: number): string[] {
  const a = ['fleet', 'run', '--count', String(s.count), '--first', String(s.first), '--cut', String(s.cut), '--procs', '1'];
  const add = (flag: string, v: string | number | undefined): void => void (v === undefined ? 0 : a.push(flag, String(v)));
  add('--mix', f.mix);
  add('--headend', f.headend);
  add('--carousel', f.carousel);
  add('--prefix', f.prefix);
  add('--master-key', f.masterKey);
  add('--trust', f.trust);
  add('--state-dir', f.stateDir);
  add('--keys', f.keys?.join(','));
  add('--key-gap', f.keyGap);
  add('--exit-on', f.exitOn);
  add('--exit-on-scene', f.exitOnScene);
  add('--timeout', f.timeout);
  add('--app', f.app);
  add('--report-interval', f.reportInterval);
  add('--rate', f.rate === undefined ? undefined : f.rate / procs); // the fleet's rate, split evenly
  add('--seed', f.seed + proc * 7919);
  add('--engine', f.engine);
  add('--pace', f.pace);
  add('--summary-every', f.summaryEvery);
  add('--interface', f.interface);
  add('--trace-rate', f.traceRate);
  if (f.events === true) a.push('--events');
  else if (Array.isArray(f.events)) a.push('--events', f.events.join(','));
  if (f.light === true) a.push('--light');
  return a;
}

export interface FleetLine {
  event: 'fleet';
  s: number;
  procs: number;
  alive: number;
  died: number;
  boxes: number;
  states: Record<string, number>;
  rssMb: number;
  cpuMs: number;
  channel: FleetTotals['channel'];
  boot: { n: number; p50: number | null; p95: number | null; max: number | null };
  /** [issue 19.5] With an arrival gate (`--pace`): how long boxes were held before they started, ms, and the fleet's boot capacity. */
  held?: { n: number; p50: number | null; p95: number | null; max: number | null };
  capacityPerS?: number | null;
  /** Mean time a booted box spent in each state before its first `up`, ms. */
  phases?: Record<string, number>;
  /** Boxes started per second: the boxes over the longest process's first-to-last start. */
  startedPerS?: number;
  /** [issue 19.5] Boots over the goal and the mean time each spent in each state, ms; verdicts by
   *  kind and phase; the processes' longest event-loop delay in their latest line, ms. */
  slow?: { n: number; phases: Record<string, number> };
  verdicts?: Record<string, number>;
  loopMaxMs?: number;
}

/** The parent's summary line: the children's latest summaries added up, boot times over all boxes. */
export function fleetLine(t: FleetTotals, s: number): FleetLine {
  const gate = t.held.length === 0 && t.capacityPerS === null ? {} : { held: spread(t.held), capacityPerS: t.capacityPerS };
  const n = t.booted.length;
  const phases = n === 0 ? {} : { phases: Object.fromEntries(Object.entries(t.phaseMs).map(([k, ms]) => [k, Math.round(ms / n)])) };
  const started = t.startSpanMs > 0 ? { startedPerS: Math.round((100 * t.boxes) / (t.startSpanMs / 1000)) / 100 } : {};
  const slow = t.slow === 0 ? {} : { slow: { n: t.slow, phases: Object.fromEntries(Object.entries(t.slowPhaseMs).map(([k, ms]) => [k, Math.round(ms / t.slow)])) } };
  const tail = { ...slow, ...(Object.keys(t.verdicts).length === 0 ? {} : { verdicts: t.verdicts }), ...(t.loopMaxMs > 0 ? { loopMaxMs: t.loopMaxMs } : {}) };
  return { event: 'fleet', s, procs: t.procs, alive: t.alive, died: t.died, boxes: t.boxes, states: t.states, rssMb: t.rssMb, cpuMs: t.cpuMs, channel: t.channel, boot: spread(t.booted), ...gate, ...phases, ...started, ...tail };
}

function spread(ms: readonly number[]): FleetLine['boot'] {
  const sorted = [...ms].sort((a, b) => a - b);
  const pct = (p: number): number | null => (sorted.length === 0 ? null : (sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number));
  return { n: sorted.length, p50: pct(50), p95: pct(95), max: sorted.at(-1) ?? null };
}

export async function runProcs(f: FleetFlags, procs: number): Promise<void> {
  const final: Record<string, number> = {};
  const requests: Record<string, number> = {}; // [13.8] the children's request fates, added up
  const fleet = new FleetProcs({
    slices: slices(f.count, procs, f.cut, f.first),
    command: (s, proc) => [process.execPath, BIN, ...childArgs(f, s, proc, procs)],
    onLine: (line) => {
      const stopped = stoppedLine(line);
      if (stopped === undefined) return console.log(line); // box events and anything else, as the child said it
      addCounts(final, stopped.states);
      addCounts(requests, stopped.requests);
    },
    onExit: (e) => reportExit(e),
  });
  const started = Date.now();
  const line = (): string => JSON.stringify(fleetLine(fleet.totals(), Math.round((Date.now() - started) / 1000)));
  const timer = setInterval(() => console.log(line()), f.summaryEvery * 1000);
  const signalled = untilStopped(f.seconds).then(() => 'stop' as const);
  const outcome = await Promise.race([fleet.exited(), signalled]);
  const exits = outcome === 'stop' ? await fleet.stop() : outcome;
  clearInterval(timer);
  console.log(line());
  console.log(JSON.stringify({ event: 'stopped', states: final, ...(Object.keys(requests).length === 0 ? {} : { requests }) }));
  process.exitCode = exitCode(exits, outcome === 'stop');
}

function reportExit(e: ChildExit): void {
  if (!e.died) return;
  const why = e.signal === null ? `exit code ${String(e.code)}` : `signal ${e.signal}`;
  console.log(JSON.stringify({ event: 'child-exit', proc: e.proc, pid: e.pid ?? null, code: e.code, signal: e.signal, first: e.slice.first, count: e.slice.count }));
  console.error(`weft fleet: process ${e.proc} (boxes ${e.slice.first}-${e.slice.first + e.slice.count - 1}) died: ${why}`);
}

/** 1 when a child died; else, when the children ended by themselves, the worst script verdict (3: timed out). */
export function exitCode(exits: ChildExit[], stopped: boolean): number {
  if (exits.some((e) => e.died)) return 1;
  if (stopped) return 0;
  return Math.max(0, ...exits.map((e) => e.code ?? 1));
}

/** A child's last line, `{"event":"stopped","states":{..},"requests"?:{..}}`, or undefined. */
export function stoppedLine(line: string): { states: unknown; requests: unknown } | undefined {
  if (!line.startsWith('{"event":"stopped"')) return undefined;
  try {
    const o = JSON.parse(line) as { event?: unknown; states?: unknown; requests?: unknown };
    return o.event === 'stopped' ? { states: o.states, requests: o.requests } : undefined;
  } catch {
    return undefined;
  }
}

/** Add the finite numbers of `from` (a child's counts) into `into`; anything else is ignored. */
function addCounts(into: Record<string, number>, from: unknown): void {
  if (from === null || typeof from !== 'object') return;
  for (const [k, n] of Object.entries(from)) if (typeof n === 'number' && Number.isFinite(n)) into[k] = (into[k] ?? 0) + n;
}
