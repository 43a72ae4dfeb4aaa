// Handle accounting: every QuickJS handle the host keeps beyond one call has an owner here, so
// disposal is exhaustive and tests can assert that nothing is left alive.

export interface Owned {
  readonly alive: boolean;
  dispose(): void;
}

export class HandleLedger {
  #held = new Set<Owned>();

  /** Take ownership; returns the handle for chaining. */
  hold<T extends Owned>(h: T): T {
    this.#held.add(h);
    return h;
  }

  /** Dispose one handle now and forget it. */
  release(h: Owned | undefined): void {
    if (h === undefined) return;
    this.#held.delete(h);
    if (h.alive) h.dispose();
  }

  /** Handles still held (alive ones only). */
  get live(): number {
    let n = 0;
    for (const h of this.#held) if (h.alive) n++;
    return n;
  }

  /** Dispose everything held; returns how many were still alive. */
  disposeAll(): number {
    let n = 0;
    for (const h of this.#held) {
      if (h.alive) {
        n++;
        h.dispose();
      }
    }
    this.#held.clear();
    return n;
  }
}
