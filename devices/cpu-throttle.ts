// The emulated box CPU: guest work runs one job at a time, and after a job that took d ms of
// this host's CPU the box's CPU stays busy d x (1/cpuFactor - 1) ms more, so a box of factor 0.15
// gets about 15% of a core (counted from when the box's CPU was free, so a host that runs the
// next job late does not slow the box further; d is CPU time, not wall time, so a host whose
// cores are shared does not either). Sandbox deadlines see box time (host time / cpuFactor).

import { ArgumentError } from '../runtime/index.ts';
import { LoadMeter } from '../loader/index.ts';
import type { Cpu } from '../loader/index.ts';
import { JobCpu, processCpuMs, processJobCpu } from './job-cpu.ts';

export class ThrottledCpu implements Cpu {
  readonly factor: number;
  #now: () => number;
  #clock: JobCpu;
  #queue: (() => void)[] = [];
  #busyUntil = 0;
  #scheduled = false;
  #meter: LoadMeter;
  #stats = { jobs: 0, hostMs: 0, waitedMs: 0 };

  /** `cpuTime`: this process's CPU time, ms (default process.cpuUsage); a job costs the box what it cost the host's CPU.
   *  `clock`: the reading shared with other boxes (default: the process's, or one on `now` and `cpuTime`). */
  constructor(cpuFactor: number, now?: () => number, cpuTime?: () => number, clock?: JobCpu) {
    if (!(cpuFactor > 0 && cpuFactor <= 10)) throw new ArgumentError('ThrottledCpu: cpuFactor must be in (0, 10]', 'cpuFactor');
    this.factor = cpuFactor;
    // The boxes of a fleet process share one reading of the process's CPU (job-cpu.ts).
    this.#clock = clock ?? (now === undefined && cpuTime === undefined ? processJobCpu() : new JobCpu(now ?? (() => performance.now()), cpuTime ?? processCpuMs));
    this.#now = this.#clock.now;
    this.#meter = new LoadMeter(this.#now);
  }

  stats(): { jobs: number; hostMs: number; waitedMs: number; queued: number } {
    return { ...this.#stats, queued: this.#queue.length };
  }

  run<T>(fn: () => T): Promise<T> {
    const queuedAt = this.#now();
    return new Promise<T>((resolve, reject) => {
      this.#queue.push(() => {
        this.#stats.waitedMs += this.#now() - queuedAt;
        const t0 = this.#now();
        const c0 = this.#clock.begin(t0);
        try {
          resolve(fn());
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
        } finally {
          // The job's CPU time, at most its wall time (the process's CPU counts its other threads
          // too). Wall time alone counted the host's other processes: a fleet process descheduled
          // for 20 ms inside a 1 ms job made a 0.15 box busy 133 ms instead of 7, so at load 20 a
          // box's boot measured the machine's queue for its cores, not the box [issue 19.5].
          // Read as job-cpu.ts says: a short job is charged its wall time.
          const d = this.#clock.end(t0, c0);
          this.#stats.jobs++;
          this.#stats.hostMs += d;
          this.#meter.add(Math.min(d / this.factor, 1e6));
          // The box's CPU ran this job from when it was free (or the job came), not from when the
          // host got round to it: a late timer is the host's delay, not the box's busy time. Timed
          // from the host's run, a fleet process at load ~20 gave each box one job per turn of its
          // loop, and the box's queue grew past a new version's 30 s ready (bench rollout).
          if (this.factor < 1) this.#busyUntil = Math.max(this.#busyUntil, queuedAt) + d / this.factor;
        }
      });
      this.#schedule();
    });
  }

  load(): number {
    return this.#meter.load();
  }

  /** Box time for sandbox deadlines: a slow CPU makes the same work take longer. */
  now(): number {
    return this.#now() / this.factor;
  }

  #schedule(): void {
    if (this.#scheduled || this.#queue.length === 0) return;
    this.#scheduled = true;
    const wait = this.#busyUntil - this.#now();
    const go = (): void => {
      this.#scheduled = false;
      const job = this.#queue.shift();
      job?.();
      this.#schedule();
    };
    if (wait <= 0) queueMicrotask(go);
    else setTimeout(go, wait);
  }
}
