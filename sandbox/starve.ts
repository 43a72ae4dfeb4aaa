// Was the host starved of CPU while a guest ran? A deadline is read on the wall clock, and on a
// loaded box or head-end the whole process can sit unscheduled while a healthy handler runs: the
// wall time passes, the guest's CPU time does not. Slow is not dead [issue 13.3]: when the CPU time
// since the event began is less than half of the wall time, or less than the deadline's span (a
// guest that got part of a core has not used its slice yet), the interrupt lets the guest go on,
// up to a cap, so a spinning guest (which uses the CPU) is still stopped on time.

/** This process's CPU time, ms (all threads: another busy thread makes the check stricter, never looser). */
export function processCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Wall ms for which begin() reuses the last CPU reading (see begin). */
const FRESH_MS = 1;

/** The last CPU reading and the wall time (performance.now) it was taken at. */
export interface CpuReading {
  value: number;
  at: number;
}

/** The last reading of processCpuMs on this thread, shared by the sandboxes that use it with
 *  performance.now: a cache of one process-wide counter, so a burst of sandbox starts (a head-end
 *  under setups) reads it once per millisecond, not once per sandbox [issue 19.2]. */
export const PROCESS_CPU_READING: CpuReading = { value: 0, at: -Infinity };

export class StarveCheck {
  readonly #cpu: (() => number) | undefined;
  readonly #last: CpuReading;
  #wall0 = 0;
  #cpu0 = 0;

  /** `cpu`: ms of CPU time; undefined turns the check off (a virtual clock has no CPU to compare).
   *  `last`: where the last reading is kept (shared by checks on the same CPU and wall clocks). */
  constructor(cpu: (() => number) | undefined, last: CpuReading = { value: 0, at: -Infinity }) {
    this.#cpu = cpu;
    this.#last = last;
  }

  /**
   * An event begins. Every module operation begins one and the CPU reading is a system call
   * (getrusage, 5-15 us on the project's machine: 8% of a module start), so a reading taken
   * under FRESH_MS of wall time ago stands in: it is at most that much CPU lower than now's,
   * which makes the check stricter (more CPU counted as the guest's), never looser [issue 19.2].
   */
  begin(wallNow: number): void {
    this.#wall0 = wallNow;
    if (this.#cpu === undefined) return;
    const last = this.#last;
    if (!(wallNow - last.at < FRESH_MS && wallNow >= last.at)) this.#take(wallNow);
    this.#cpu0 = last.value;
  }

  /**
   * True when the wall time since begin() is under `capMs` and the CPU time since then is under
   * half of it, or under `budgetMs`: the deadline's span in CPU time. A guest that got 60% of a
   * core on a loaded node has not used a 100 ms slice when 110 ms of wall time passed (66 ms of
   * CPU); it is stopped once its CPU reaches the span, which a spinning guest with the core to
   * itself does at the deadline, as before.
   */
  starved(wallNow: number, capMs: number, budgetMs = 0): boolean {
    if (this.#cpu === undefined) return false;
    const wall = wallNow - this.#wall0;
    return wall < capMs && this.#take(wallNow) - this.#cpu0 < Math.max(wall / 2, budgetMs);
  }

  #take(wallNow: number): number {
    const v = (this.#cpu as () => number)();
    this.#last.value = v;
    this.#last.at = wallNow;
    return v;
  }
}
