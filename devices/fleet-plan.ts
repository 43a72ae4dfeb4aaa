// How a fleet is spread (pure): how many processes `weft fleet run --procs auto` uses for N
// boxes, which boxes each gets, and when each box arrives. No processes or timers here.

import { ArgumentError, positiveInt } from '../runtime/index.ts';

export interface ProcPlanInput {
  boxes: number;
  /** Cores of this machine (os.availableParallelism()). */
  cores: number;
  /** The hard limit on open files per process (RLIMIT_NOFILE), which cannot be raised here. */
  openFiles: number;
  /** Light boxes hold one TCP socket each; full boxes with a shaped return path hold three (socket, relay in, relay out). */
  light: boolean;
}

/** File descriptors a process needs besides its boxes (node itself, the carousel, stdio, the relay's listeners). */
export const FD_RESERVE = 200;
/** Fewest boxes worth a process of their own: below this one process does it with less overhead. */
export const MIN_BOXES_PER_PROC = { full: 250, light: 2000 } as const;

export function fdsPerBox(light: boolean): number {
  return light ? 1 : 4; // full: MQTT socket, the return path's listener, accepted and upstream sockets
}

/**
 * Processes for a fleet: enough that no process passes its open-files limit, and up to one per
 * core once there are enough boxes to be worth it (each process has one event loop, one carousel
 * demux, one shared engine). Never more processes than boxes.
 */
export function planProcs(i: ProcPlanInput): number {
  const boxes = positiveInt('planProcs', 'boxes', i.boxes);
  const cores = positiveInt('planProcs', 'cores', i.cores);
  const perProc = Math.floor((i.openFiles - FD_RESERVE) / fdsPerBox(i.light));
  if (!(perProc >= 1)) throw new ArgumentError(`planProcs: an open-files limit of ${i.openFiles} leaves no room for a box`, 'openFiles');
  const byFiles = Math.ceil(boxes / perProc);
  const byCores = Math.min(cores, Math.ceil(boxes / MIN_BOXES_PER_PROC[i.light ? 'light' : 'full']));
  return Math.min(boxes, Math.max(1, byFiles, byCores));
}

/** Boxes a process may hold under the open-files limit. */
export function boxesPerProcLimit(openFiles: number, light: boolean): number {
  return Math.max(0, Math.floor((openFiles - FD_RESERVE) / fdsPerBox(light)));
}

export interface Slice {
  /** Number of the first box (ids are `<prefix>-<first + i>`). */
  first: number;
  count: number;
  /** Boxes of this slice whose return channel is cut. */
  cut: number;
}

/** `count` boxes numbered from `first` split over `procs` processes as evenly as possible. */
export function slices(count: number, procs: number, cut = 0, first = 1): Slice[] {
  const out: Slice[] = [];
  let next = first;
  let cutLeft = cut;
  for (let p = 0; p < procs; p++) {
    const n = Math.floor(count / procs) + (p < count % procs ? 1 : 0);
    const c = Math.min(cutLeft, Math.ceil(cut / procs), n);
    cutLeft -= c;
    out.push({ first: next, count: n, cut: c });
    next += n;
  }
  return out;
}

/**
 * Start offsets (ms) of `count` boxes arriving as a Poisson process at `perS` per second: the
 * jittered arrivals of a plant powering up, not a lock-step stampede. Seeded for replay.
 */
export function arrivals(count: number, perS: number, random: () => number): number[] {
  if (!(perS > 0) || !Number.isFinite(perS)) throw new ArgumentError('arrivals: the rate must be a positive number per second', 'rate');
  const out: number[] = [];
  let t = 0;
  for (let i = 0; i < count; i++) {
    out.push(t);
    t += (-Math.log(1 - random()) / perS) * 1000;
  }
  return out;
}

/** RLIMIT_NOFILE's hard limit from /proc/self/limits text (Linux); undefined when not found. */
export function parseOpenFilesLimit(limits: string): number | undefined {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(limits);
  if (m === null) return undefined;
  const hard = m[2] === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(m[2]);
  return Number.isFinite(hard) && hard > 0 ? hard : undefined;
}
