// A portion worker's warm app sandboxes (issue 19.3): before a setup arrives, each app build this
// thread has started keeps a few QuickJS runtimes with their contexts made (sandbox/warm-pool.ts);
// a start takes one, and the refill runs after the reply, one runtime per event-loop turn, so
// envelopes queued meanwhile are not held behind it.

import { type AppEngines, type Engine, WarmPool, type WarmPoolStats, type WarmRuntime } from '../../sandbox/index.ts';

export class WorkerWarmth {
  readonly #pool: WarmPool;
  readonly #refilling = new Set<string>();

  constructor(engines: AppEngines, perBuild: number) {
    this.#pool = new WarmPool({ engines, perBuild });
  }

  /** The pool key of an instance: its verified app build and how many modules it loads. */
  static build(appKey: string, modules: number): string {
    return `${modules}\u0001${appKey}`;
  }

  /** A warm runtime for this build, or undefined (a cold start; counted as a miss). */
  take(build: string): WarmRuntime | undefined {
    return this.#pool.take(build);
  }

  /** Top the build up after the start was answered: one runtime per turn until it is full
   *  (`lean` contexts when none of the build's modules names a typed array, D63). */
  refillSoon(build: string, app: string, modules: number, lean = false): void {
    if (this.#refilling.has(build) || !this.#pool.wants(build)) return;
    this.#refilling.add(build);
    const step = (): void => {
      void this.#pool.refillOne(build, app, modules, lean).then((more) => {
        if (more) setImmediate(step);
        else this.#refilling.delete(build);
      });
    };
    setImmediate(step);
  }

  /** An engine set aside after a memory fault: free its warm runtimes so it can go. */
  retired(engine: Engine): void {
    this.#pool.discardEngine(engine);
  }

  stats(): WarmPoolStats {
    return this.#pool.stats();
  }
}
