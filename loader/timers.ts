// Named one-shot timers on an injected clock (the box's report, grace and retry timers): arming
// one again replaces it; clearAll() at shutdown. Nothing else.

import type { Clock, TimerHandle } from '../runtime/index.ts';

export class NamedTimers<K extends string> {
  #clock: Clock;
  #timers = new Map<K, TimerHandle>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  arm(name: K, ms: number, fn: () => void): void {
    this.clear(name);
    this.#timers.set(
      name,
      this.#clock.setTimeout(() => {
        this.#timers.delete(name);
        fn();
      }, ms),
    );
  }

  clear(name: K): void {
    const t = this.#timers.get(name);
    if (t !== undefined) this.#clock.clearTimeout(t);
    this.#timers.delete(name);
  }

  clearAll(): void {
    for (const k of [...this.#timers.keys()]) this.clear(k);
  }
}
