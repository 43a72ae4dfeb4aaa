// The SQLite registry's writes of one turn in one transaction (issue 19 build 3): async writes
// queue here and commit together at the end of the turn (setImmediate), each in a savepoint, so
// a write that throws rolls back alone. The contract is one transaction's: a write's promise
// settles only after the commit that holds it. Knows nothing of SQL; registry-sqlite.ts runs it.

import type { RegistryChange } from './registry.ts';

/** A write: its answer and the change to log and tell (undefined: nothing changed). */
export type WriteFn<T> = () => [T, RegistryChange | undefined];

export interface WriteBatchHost {
  /** Run `body` in one IMMEDIATE transaction and commit; throws when it cannot commit. */
  transaction(body: () => void): void;
  /** One write inside the open transaction, as a savepoint (rolled back alone when it throws). */
  savepoint<T>(fn: WriteFn<T>): [T, RegistryChange | undefined];
  /** One write as a transaction of its own (the fallback when a batch cannot commit). */
  alone<T>(fn: WriteFn<T>): [T, RegistryChange | undefined];
  /** Tell the watchers of a committed change. */
  emit(change: RegistryChange): void;
  /** When the queued writes commit. Default: setImmediate (after this turn's I/O callbacks). */
  defer?: (run: () => void) => void;
}

interface Queued {
  fn: WriteFn<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

type Outcome = { ok: true; value: unknown; change: RegistryChange | undefined } | { ok: false; error: unknown };

/** Writes per transaction at most: a burst commits in slices, not one unbounded transaction. */
export const MAX_BATCH = 256;

export interface WriteStats {
  writes: number;
  commits: number;
  /** Batches that could not commit (e.g. busy past the timeout) and ran write by write. */
  fallbacks: number;
}

export class WriteBatch {
  readonly #host: WriteBatchHost;
  readonly #defer: (run: () => void) => void;
  #queue: Queued[] = [];
  #armed = false;
  /** Set by ask() for the one write its call makes (join() takes it). */
  #asked: { resolve: (v: unknown) => void; reject: (e: unknown) => void } | undefined;
  readonly stats: WriteStats = { writes: 0, commits: 0, fallbacks: 0 };

  constructor(host: WriteBatchHost) {
    this.#host = host;
    this.#defer = host.defer ?? ((run) => void setImmediate(run));
  }

  get pending(): number {
    return this.#queue.length;
  }

  /** Run `call` now (its argument checks: a throw rejects); the write it makes through the
   *  registry's #write joins this batch (join()), and the promise answers after the commit. */
  ask<T>(call: () => T, open: () => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#asked = { resolve: resolve as (v: unknown) => void, reject };
      try {
        open();
        const out = call();
        if (this.#asked !== undefined) resolve(out); // it wrote nothing
      } catch (e) {
        reject(e as Error);
      } finally {
        this.#asked = undefined;
      }
    });
  }

  /** The write an ask() is making: queued (true), or false when no ask() is running. */
  join<T>(fn: WriteFn<T>): boolean {
    const a = this.#asked;
    if (a === undefined) return false;
    this.#asked = undefined;
    this.add(fn, a.resolve, a.reject);
    return true;
  }

  /** Queue a write for this turn's transaction. */
  add<T>(fn: WriteFn<T>, resolve: (v: T) => void, reject: (e: unknown) => void): void {
    this.#queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
    if (this.#queue.length >= MAX_BATCH) return this.flush();
    if (this.#armed) return;
    this.#armed = true;
    this.#defer(() => {
      this.#armed = false;
      this.flush();
    });
  }

  /** Commit what is queued now (a read, a synchronous write or close comes after it). */
  flush(): void {
    const items = this.#queue;
    if (items.length === 0) return;
    this.#queue = [];
    this.stats.writes += items.length;
    let out: Outcome[] = [];
    try {
      this.#host.transaction(() => {
        out = items.map((q) => this.#run(() => this.#host.savepoint(q.fn)));
      });
      this.stats.commits++;
    } catch {
      // Nothing of the batch committed: each write alone, as before batching.
      this.stats.fallbacks++;
      out = items.map((q) => this.#run(() => this.#host.alone(q.fn)));
      this.stats.commits += out.filter((o) => o.ok).length;
    }
    for (const [i, q] of items.entries()) {
      const o = out[i] as Outcome;
      if (!o.ok) {
        q.reject(o.error);
        continue;
      }
      if (o.change !== undefined) this.#host.emit(o.change);
      q.resolve(o.value);
    }
  }

  #run(write: () => [unknown, RegistryChange | undefined]): Outcome {
    try {
      const [value, change] = write();
      return { ok: true, value, change };
    } catch (error) {
      return { ok: false, error };
    }
  }
}
