// A pool of worker threads for one node [c14, c20]: threads are started ahead of need (spares)
// so adding a thread under load costs a message, not a 100+ ms start. It knows nothing of what
// runs inside; callers exchange structured-clone messages with each worker.

import { Worker } from 'node:worker_threads';
import { ArgumentError, ChannelClosedError, rejectUnknown } from '../../runtime/index.ts';
import { bundledEntry } from './worker-bundle.ts';

export interface WorkerPoolOptions {
  /** Module the worker runs (file URL; .ts is supported through tsx). */
  entry: URL;
  /** Idle threads kept started and ready. Default 1. */
  spare?: number;
  /** Most threads (in use + spare). Default 8. */
  max?: number;
  /** Extra data handed to every worker (structured clone). */
  data?: unknown;
  /** Resource limits per worker (V8 heap, MB). */
  maxOldGenerationSizeMb?: number;
  /** Start a .ts entry from one bundled module (worker-bundle.ts) instead of through tsx. Default
   *  true; threads asked for before the bundle is ready, or when it cannot be made, use tsx. */
  bundle?: boolean;
}

export interface PooledWorker {
  readonly id: number;
  post(msg: unknown, transfer?: ArrayBuffer[]): void;
  /** Replace the message handler. Messages before the first handler are queued. */
  onMessage(handler: (msg: unknown) => void): void;
  onExit(handler: (code: number, error?: Error) => void): void;
}

interface Slot {
  id: number;
  worker: Worker;
  ready: Promise<void>;
  handler: ((msg: unknown) => void) | undefined;
  queued: unknown[];
  exitHandlers: ((code: number, error?: Error) => void)[];
  error: Error | undefined;
}

const BOOT = new URL('./worker-boot.mjs', import.meta.url);

export class WorkerPool {
  readonly entry: URL;
  #spareTarget: number;
  #max: number;
  #data: unknown;
  #heapMb: number | undefined;
  #spare: Slot[] = [];
  #busy = new Map<number, Slot>();
  #nextId = 1;
  #closed = false;
  #started = 0;
  /** The bundled entry once made (undefined: not yet, or none), and the wait for it. */
  #bundled: URL | undefined;
  #bundling: Promise<void>;

  constructor(options: WorkerPoolOptions) {
    rejectUnknown('WorkerPool', options, ['entry', 'spare', 'max', 'data', 'maxOldGenerationSizeMb', 'bundle']);
    if (!(options.entry instanceof URL)) throw new ArgumentError('WorkerPool: entry must be a file URL', 'entry');
    this.entry = options.entry;
    this.#spareTarget = options.spare ?? 1;
    this.#max = options.max ?? 8;
    this.#data = options.data;
    this.#heapMb = options.maxOldGenerationSizeMb;
    if (this.#spareTarget < 0 || this.#max < 1) throw new ArgumentError('WorkerPool: spare >= 0 and max >= 1', 'max');
    this.#bundling = options.bundle === false ? Promise.resolve() : bundledEntry(this.entry).then((u) => void (this.#bundled = u));
  }

  /** Threads start from the bundled entry (worker-bundle.ts), not through tsx. */
  get bundled(): boolean {
    return this.#bundled !== undefined;
  }

  /** Most threads (in use + spare). */
  get max(): number {
    return this.#max;
  }

  /** Threads in use. */
  get busy(): number {
    return this.#busy.size;
  }

  /** Threads started and idle. */
  get spare(): number {
    return this.#spare.length;
  }

  /** Threads started since the pool began (for statistics). */
  get started(): number {
    return this.#started;
  }

  /** Start the spare threads and wait until they are ready. */
  async warm(): Promise<void> {
    await this.#bundling;
    this.#refill();
    await Promise.all(this.#spare.map((s) => s.ready));
  }

  /** Take a ready thread (a spare when there is one) and start a replacement spare. */
  async acquire(): Promise<PooledWorker> {
    if (this.#closed) throw new ChannelClosedError('worker pool closed');
    if (this.#spare.length === 0) await this.#bundling;
    if (this.#closed) throw new ChannelClosedError('worker pool closed');
    let slot = this.#spare.shift();
    if (slot === undefined) {
      if (this.#busy.size >= this.#max) throw new ArgumentError(`WorkerPool: all ${this.#max} threads in use`, 'max');
      slot = this.#start();
    }
    this.#busy.set(slot.id, slot);
    this.#refill();
    await slot.ready;
    return this.#handle(slot);
  }

  /** Stop one thread (its work must have been moved or stopped first). */
  async release(w: PooledWorker): Promise<void> {
    const slot = this.#busy.get(w.id);
    if (slot === undefined) return;
    this.#busy.delete(w.id);
    await slot.worker.terminate();
  }

  async close(): Promise<void> {
    this.#closed = true;
    const all = [...this.#spare, ...this.#busy.values()];
    this.#spare = [];
    this.#busy.clear();
    await Promise.all(all.map((s) => s.worker.terminate()));
  }

  #refill(): void {
    while (!this.#closed && this.#spare.length < this.#spareTarget && this.#spare.length + this.#busy.size < this.#max) {
      this.#spare.push(this.#start());
    }
  }

  #start(): Slot {
    const id = this.#nextId++;
    this.#started++;
    const worker = new Worker(BOOT, {
      workerData: { entry: (this.#bundled ?? this.entry).href, workerId: id, data: this.#data },
      ...(this.#heapMb === undefined ? {} : { resourceLimits: { maxOldGenerationSizeMb: this.#heapMb } }),
    });
    const slot: Slot = { id, worker, ready: Promise.resolve(), handler: undefined, queued: [], exitHandlers: [], error: undefined };
    slot.ready = new Promise<void>((resolve, reject) => {
      const onFirst = (msg: unknown): void => {
        if ((msg as { t?: unknown } | null)?.t === 'ready') {
          resolve();
          return;
        }
        if (slot.handler !== undefined) slot.handler(msg);
        else slot.queued.push(msg);
      };
      worker.on('message', onFirst);
      worker.once('error', (e) => {
        slot.error = e;
        reject(e);
      });
    });
    slot.ready.catch(() => {}); // observed by acquire(); a spare that dies is dropped below
    worker.once('exit', (code) => {
      this.#spare = this.#spare.filter((s) => s !== slot);
      this.#busy.delete(id);
      for (const h of slot.exitHandlers) h(code, slot.error);
    });
    worker.unref();
    return slot;
  }

  #handle(slot: Slot): PooledWorker {
    return {
      id: slot.id,
      post: (msg, transfer) => slot.worker.postMessage(msg, transfer),
      onMessage: (handler) => {
        slot.handler = handler;
        const q = slot.queued;
        slot.queued = [];
        for (const m of q) handler(m);
      },
      onExit: (h) => void slot.exitHandlers.push(h),
    };
  }
}
