// Batched registry calls of the SQLite adapter: the async calls made in one event-loop turn run
// in one IMMEDIATE transaction (one commit instead of one per call), each call inside a savepoint
// of its own so a failing call rolls back only itself. Order is kept; owns no schema.

/** The part of a better-sqlite3 Database used here (the adapter alone imports the package). */
export interface TransactionalDb {
  transaction<F extends () => unknown>(fn: F): { (): ReturnType<F>; immediate(): ReturnType<F> };
}

interface Op {
  fn: () => unknown;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export interface BatchStats {
  /** Transactions committed for batched calls, and the calls they carried. */
  batches: number;
  calls: number;
}

export class SqliteBatch {
  #db: TransactionalDb;
  #ops: Op[] = [];
  #scheduled: NodeJS.Immediate | undefined;
  /** Changes made by the running batch, told to `after` once it committed. */
  #deferred: (() => void)[] | undefined;
  readonly stats: BatchStats = { batches: 0, calls: 0 };

  constructor(db: TransactionalDb) {
    this.#db = db;
  }

  /** Whether a batch is running now (a write then joins it instead of committing alone). */
  get running(): boolean {
    return this.#deferred !== undefined;
  }

  /** Run `fn` in the next batch; resolves with its value or rejects with its throw. */
  run<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#ops.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      this.#scheduled ??= setImmediate(this.flush);
    });
  }

  /** Inside a running batch: call `tell` after the commit (listeners must not see uncommitted rows). */
  afterCommit(tell: () => void): void {
    (this.#deferred as (() => void)[]).push(tell);
  }

  /** Run every queued call now (also before a synchronous call, so calls keep their order). */
  flush = (): void => {
    if (this.#scheduled !== undefined) clearImmediate(this.#scheduled);
    this.#scheduled = undefined;
    const ops = this.#ops;
    if (ops.length === 0 || this.#deferred !== undefined) return;
    this.#ops = [];
    const deferred: (() => void)[] = [];
    const out: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    this.#deferred = deferred;
    try {
      this.#db
        .transaction(() => {
          for (const op of ops) {
            try {
              out.push({ ok: true, value: this.#db.transaction(op.fn)() }); // nested: a savepoint
            } catch (error) {
              out.push({ ok: false, error });
            }
          }
        })
        .immediate();
    } catch (error) {
      // The commit itself failed: nothing of the batch holds.
      this.#deferred = undefined;
      for (const op of ops) op.reject(error);
      return;
    }
    this.#deferred = undefined;
    this.stats.batches++;
    this.stats.calls += ops.length;
    for (const tell of deferred) tell();
    ops.forEach((op, i) => {
      const r = out[i] as (typeof out)[number];
      if (r.ok) op.resolve(r.value);
      else op.reject(r.error);
    });
  };

  /** Fail every queued call (the registry closed). */
  abort(err: Error): void {
    if (this.#scheduled !== undefined) clearImmediate(this.#scheduled);
    this.#scheduled = undefined;
    const ops = this.#ops;
    this.#ops = [];
    for (const op of ops) op.reject(err);
  }
}
