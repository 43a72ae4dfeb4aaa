// The CPU port on real hardware: guest work runs on the next microtask (never inside another
// module's host call) and its time is measured for the resource reports [c5]. The emulator's
// throttled CPU (devices/) implements the same port.

import type { Clock } from '../runtime/index.ts';
import type { Cpu } from './ports.ts';

/** Decaying busy-time meter: load() is the busy share over roughly the last `windowMs`. */
export class LoadMeter {
  #windowMs: number;
  #now: () => number;
  #busy = 0;
  #at: number;

  constructor(now: () => number, windowMs = 2000) {
    this.#now = now;
    this.#windowMs = windowMs;
    this.#at = now();
  }

  add(ms: number): void {
    this.#decay();
    this.#busy += ms;
  }

  load(): number {
    this.#decay();
    return Math.min(1, this.#busy / this.#windowMs);
  }

  #decay(): void {
    const now = this.#now();
    const dt = now - this.#at;
    this.#at = now;
    if (dt > 0) this.#busy *= Math.exp(-dt / this.#windowMs);
  }
}

export class HostCpu implements Cpu {
  #meter: LoadMeter;
  #now: () => number;

  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
    this.#meter = new LoadMeter(now);
  }

  run<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      queueMicrotask(() => {
        const t0 = this.#now();
        try {
          resolve(fn());
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
        } finally {
          this.#meter.add(this.#now() - t0);
        }
      });
    });
  }

  load(): number {
    return this.#meter.load();
  }

  now(): number {
    return this.#now();
  }
}

/** The clock a sandbox gets: its timer callbacks enter guest code through the CPU port. */
export function cpuClock(clock: Clock, cpu: Cpu): Clock {
  return {
    now: () => clock.now(),
    setTimeout: (fn, ms) => clock.setTimeout(() => void cpu.run(fn).catch(() => undefined), ms),
    clearTimeout: (h) => clock.clearTimeout(h),
  };
}
