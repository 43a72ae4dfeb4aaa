// What a guest job cost this process's CPU, read cheaply enough for every job of every box in a
// fleet process. process.cpuUsage() is a getrusage(2) call: 2.5 us of CPU here, 19-26 us of wall
// time at load 20 (each call is a point where the kernel takes the core away; performance.now is
// 0.3-0.9 us), read before and after each job of each box [issue 19.5]. The CPU reading is
// there for one case, a process taken off its core inside a job, which made the job's wall time
// the machine's queue rather than its work (DECISIONS D72). So:
// - a job that took at most SHORT_MS of wall time is charged its wall time: it cannot have been
//   off its core longer than that, so the error is bounded by SHORT_MS, and no reading is needed
//   after it;
// - before a job the last reading is reused when it is at most FRESH_MS old (jobs of many boxes
//   run back to back in one turn of the loop), else read again;
// - a longer job is charged min(wall, CPU since that reading): at most FRESH_MS of CPU spent just
//   before the job is counted in it.
// The readings are shared by every box of the process (processJobCpu); tests give their own clocks.

/** Wall ms up to which a job is charged its wall time. */
export const SHORT_MS = 2;
/** Wall ms for which a CPU reading taken before a job stands for the job's start. */
export const FRESH_MS = 0.5;

/** User + system CPU time of this process, ms. */
export function processCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

export class JobCpu {
  readonly now: () => number;
  readonly #cpu: () => number;
  #readAt = Number.NEGATIVE_INFINITY;
  #value = 0;
  /** Readings of the CPU clock taken (each a system call in the process's own clock). */
  reads = 0;

  constructor(now: () => number, cpu: () => number) {
    this.now = now;
    this.#cpu = cpu;
  }

  /** At a job's start (`t0`, wall ms): the CPU reading that stands for it. */
  begin(t0: number): number {
    if (t0 - this.#readAt > FRESH_MS) this.#read(t0);
    return this.#value;
  }

  /** At a job's end: the CPU ms to charge for the job that began at `t0` with reading `c0`. */
  end(t0: number, c0: number): number {
    const t1 = this.now();
    const wall = Math.max(0, t1 - t0);
    if (wall <= SHORT_MS) return wall;
    this.#read(t1);
    // At most its wall time: the process's CPU counts its other threads too.
    return Math.max(0, Math.min(wall, this.#value - c0));
  }

  #read(at: number): void {
    this.reads++;
    this.#value = this.#cpu();
    this.#readAt = at;
  }
}

let shared: JobCpu | undefined;

/** The process's one JobCpu on performance.now and process.cpuUsage. */
export function processJobCpu(): JobCpu {
  shared ??= new JobCpu(() => performance.now(), processCpuMs);
  return shared;
}
