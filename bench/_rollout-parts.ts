// Where the rollout bench's time goes (issue 15 time goals): from each box's events (probation,
// session, module started, committed) and the head-end's decisions, the parts of a wave: the
// carousel (wave on air -> box took the version), the box's restart until its modules ran, the
// re-pairing of its session, its probation, and report + decision (the quorum-th commit -> the
// head-end's promotion). Pure: the bench feeds it timestamps (ms, performance.now()).
import { percentile } from './_report.ts';

export interface BoxMarks {
  /** When the box took each version (probation began), its first session and last module start after that, its commit. */
  took: Map<string, number>;
  session: Map<string, number>;
  ready: Map<string, number>;
  committed: Map<string, number>;
}

export const newMarks = (): BoxMarks => ({ took: new Map(), session: new Map(), ready: new Map(), committed: new Map() });

/** Note one box event line (the fleet's `--events`) at `at`; `running` is the version the box runs now. */
export function noteEvent(m: BoxMarks, l: Record<string, unknown>, at: number, running: string | undefined): void {
  if (l.kind === 'probation' && typeof l.version === 'string') {
    if (l.outcome === 'probation') m.took.set(l.version, at);
    if (l.outcome === 'committed' && !m.committed.has(l.version)) m.committed.set(l.version, at);
    return;
  }
  if (running === undefined || !m.took.has(running) || m.committed.has(running)) return;
  if (l.kind === 'session' && !m.session.has(running)) m.session.set(running, at);
  if (l.kind === 'module' && l.action === 'started') m.ready.set(running, at);
}

export interface WavePart {
  wave: number;
  boxes: number;
  /** Seconds, median / p95 over the wave's boxes. */
  carousel_s: string;
  restart_ready_s: string;
  repair_s: string;
  probation_s: string;
  /** The quorum-th commit of the wave -> the head-end's decision (report latency + decision). */
  report_decide_s: number;
}

const s = (ms: number): number => Math.round(ms / 10) / 100;
const mp = (xs: number[]): string => (xs.length === 0 ? '-' : `${s(percentile(xs, 50))} / ${s(percentile(xs, 95))}`);

/**
 * The parts of each wave of `version`: `starts[w]` is when wave w went on air, `decided[w]` when
 * the head-end promoted it (or made it live); `waveOf(box)` is the box's first wave; `heard(box)`:
 * the head-end hears its reports (a return channel), so it counts towards the quorum.
 */
export function waveParts(version: string, marks: Map<string, BoxMarks>, waveOf: (box: string) => number | undefined, starts: number[], decided: number[], quorum: number, heard: (box: string) => boolean): WavePart[] {
  const out: WavePart[] = [];
  for (let w = 0; w < starts.length; w++) {
    const start = starts[w] as number;
    const ids = [...marks.keys()].filter((b) => waveOf(b) === w && marks.get(b)?.took.has(version) === true);
    const get = (b: string) => marks.get(b) as BoxMarks;
    const carousel = ids.map((b) => (get(b).took.get(version) as number) - start);
    const ready = ids.filter((b) => get(b).ready.has(version)).map((b) => (get(b).ready.get(version) as number) - (get(b).took.get(version) as number));
    const repair = ids.filter((b) => get(b).session.has(version)).map((b) => (get(b).session.get(version) as number) - (get(b).took.get(version) as number));
    const probation = ids.filter((b) => get(b).ready.has(version) && get(b).committed.has(version)).map((b) => (get(b).committed.get(version) as number) - (get(b).ready.get(version) as number));
    const counted = ids.filter(heard);
    const commits = counted.map((b) => get(b).committed.get(version)).filter((x): x is number => x !== undefined).sort((a, b) => a - b);
    const qth = commits[Math.max(0, Math.ceil(quorum * counted.length) - 1)];
    const d = decided[w];
    out.push({ wave: w, boxes: ids.length, carousel_s: mp(carousel), restart_ready_s: mp(ready), repair_s: mp(repair), probation_s: mp(probation), report_decide_s: qth === undefined || d === undefined ? NaN : s(d - qth) });
  }
  return out;
}

/** Cumulative request fates of a fleet (loader/request-ledger.ts counts), as its summary prints them. */
export type Fates = Record<string, number>;

export interface RequestWindow {
  /** Sent, answered (first try / after going again), failed, of those ended overdue: during the window. */
  sent: number;
  ok: number;
  retried: number;
  failed: number;
  overdue: number;
  /** Sent and not yet ended when the window opened, and when it closed (both >= 0). */
  inFlightStart: number;
  inFlight: number;
}

const FATES = ['sent', 'ok', 'retried', 'failed', 'overdue'] as const;
const inFlightOf = (c: Fates): number => (c.sent ?? 0) - (c.ok ?? 0) - (c.retried ?? 0) - (c.failed ?? 0);

/**
 * The requests of a window between two summaries of the same fleet. In flight is counted at each
 * end from the cumulative counts, not from the window's changes: a request sent before the window
 * and answered in it is counted answered but not sent, so "sent - ended" over the window went
 * below 0 (the lead's 1,000-box run printed -33). inFlightStart + sent = ok + retried + failed + inFlight.
 */
export function requestWindow(before: Fates, after: Fates): RequestWindow {
  const d = {} as Record<(typeof FATES)[number], number>;
  for (const k of FATES) {
    d[k] = (after[k] ?? 0) - (before[k] ?? 0);
    if (d[k] < 0) throw new RangeError(`requestWindow: ${k} went from ${before[k] ?? 0} to ${after[k] ?? 0}: counts are cumulative, so these are not one fleet's`);
  }
  return { ...d, inFlightStart: inFlightOf(before), inFlight: inFlightOf(after) };
}

/** CPU seconds (user + system) of a process so far, from /proc (Linux); NaN elsewhere. */
export async function cpuSecondsOf(pid: number | undefined): Promise<number> {
  if (pid === undefined) return NaN;
  try {
    const { readFile } = await import('node:fs/promises');
    const stat = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
    return (Number(stat[11]) + Number(stat[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return NaN;
  }
}
