// This thread's CPU time, for the sandbox's starvation check on a portion thread (sandbox/starve.ts).
// The default check reads the process's CPU time, all threads together: on a head-end node the
// main thread (the embedded broker, the node's routing) and the other portion threads keep the
// process busy while this thread sits in the run queue, so a healthy handler whose thread got no
// CPU was judged spinning and stopped at its deadline, or its event's promise jobs called a
// microtask storm that stops the whole app runtime (an app-wide `epg` of every session). Seen on
// a loaded 2-core machine in bench rollout (issue 15/19, wave 11). Linux gives each thread's time
// on a CPU in /proc/thread-self/schedstat (nanoseconds, first field). With `keep` the file is
// opened once and re-read in place: a read at offset 0 gives fresh figures, and the descriptor
// names the thread that opened it. Opening and closing it per reading cost ~2% of a loaded node's
// CPU (wave 19). A kept descriptor does not outlive a portion thread the pool terminates: Node
// closes the raw descriptors a worker opened when it exits (the Worker option `trackUnmanagedFds`,
// on by default; the pool leaves it on, test/headend/worker-pool-fds.test.ts). Elsewhere, or if the
// file cannot be read, the process's CPU time as before (stricter, never looser), counted in
// `threadCpuStats`.
import { closeSync, openSync, readSync } from 'node:fs';
import { rejectUnknown } from '../../runtime/index.ts';
import { processCpuMs } from '../../sandbox/starve.ts'; // the fallback: the sandbox's own process-wide reading

/** Wall ms for which a reading stands in for the next (as sandbox/starve.ts's FRESH_MS): a
 *  reading at most this old is at most this much CPU lower than now's, which makes the check
 *  stricter, never looser. Spares a read per event to a thread serving many small requests. */
const FRESH_MS = 1;

export interface ThreadCpuStats {
  /** Readings of this thread's own CPU time. */
  reads: number;
  /** Readings answered from the process's CPU time instead (no schedstat here, or it failed). */
  fallbacks: number;
}

export interface ThreadCpu {
  /** ms of CPU this thread has had (or the process, on the fallback). */
  (): number;
  readonly stats: ThreadCpuStats;
  /** The descriptor kept open (`keep`); closed with this thread (see above), or by the caller. */
  readonly fd: number | undefined;
}

/** Parse schedstat's first field (ns on a CPU) to ms; NaN when the text is not that. */
export function schedstatMs(text: string): number {
  const end = text.indexOf(' ');
  const ns = Number(end < 0 ? NaN : text.slice(0, end));
  return Number.isFinite(ns) && ns >= 0 ? ns / 1e6 : NaN;
}

export interface ThreadCpuOptions {
  /** Hold the file open for this thread's life (see above). */
  keep?: boolean;
  /** For tests: the schedstat file and the wall clock. */
  path?: string;
  now?: () => number;
}

/** A CPU clock for the calling thread: call it on the thread it measures (a worker makes its own). */
export function threadCpu(o: ThreadCpuOptions = {}): ThreadCpu {
  rejectUnknown('threadCpu', o, ['keep', 'path', 'now']);
  const { keep = false, path = '/proc/thread-self/schedstat', now = () => performance.now() } = o;
  const stats: ThreadCpuStats = { reads: 0, fallbacks: 0 };
  const buf = Buffer.alloc(128);
  let broken = false;
  let last = { value: 0, at: -Infinity };
  let kept: number | undefined;
  if (keep) {
    try {
      kept = openSync(path, 'r');
    } catch {
      broken = true; // no such file (not Linux, no schedstats): the fallback from now on
    }
  }
  const readOwn = (): number => {
    if (broken) return NaN;
    let fd = kept;
    try {
      fd ??= openSync(path, 'r');
      const n = readSync(fd, buf, 0, buf.length, 0);
      return schedstatMs(buf.toString('latin1', 0, n));
    } catch {
      broken = true;
      return NaN;
    } finally {
      if (fd !== undefined && fd !== kept) closeSync(fd);
    }
  };
  const read = (): number => {
    const at = now();
    if (at - last.at < FRESH_MS && at >= last.at) return last.value;
    const own = readOwn();
    if (Number.isFinite(own)) stats.reads++;
    else stats.fallbacks++;
    last = { value: Number.isFinite(own) ? own : processCpuMs(), at };
    return last.value;
  };
  return Object.assign(read, { stats, fd: kept });
}
