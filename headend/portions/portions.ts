// The node's side of its portion workers: starts instances on threads, delivers envelopes to
// them, takes snapshots, stops them, and adds threads on demand [c14, c20]. Which instance gets
// a request is decided here (least in flight), so the node spreads load across its threads.

import { availableParallelism } from 'node:os';
import { ArgumentError, fail, ok, positiveInt, rejectUnknown, type Envelope, type Result } from '../../runtime/index.ts';
import { threadNow, type FromWorker, type ModuleWaits, type PortionSpec, type SandboxLoad, type ToWorker } from './portion-protocol.ts';
import type { PooledWorker, WorkerPool } from './worker-pool.ts';
import { PER_THREAD, THREAD_MEMORY_BYTES, threadHasRoom, type ThreadLimits } from './thread-room.ts';
import { OpenRequests } from './open-requests.ts';
import { SnapshotBatcher } from './snapshot-batch.ts';
import { ThreadPost } from './thread-post.ts';

/** The threads portions run on: the WorkerPool live, an in-thread host in deterministic tests. */
export type PortionPool = Pick<WorkerPool, 'acquire' | 'release' | 'busy' | 'max'>;

export interface PortionManagerOptions {
  pool: PortionPool;
  /** Envelopes the modules send; the node routes them. */
  onOut: (env: Envelope, iid: string) => void;
  onFault?: (iid: string, module: string, error: string) => void;
  /** A module's weft.log / console line (bounded per module in the worker). */
  onLog?: (iid: string, module: string, level: 'debug' | 'info' | 'warn' | 'error', text: string) => void;
  /** Instances one thread hosts at most before another thread is used. Default 4,096 (thread-room.ts). */
  perThread?: number;
  /** Engine bytes (from a thread's load report) past which it takes no new instance. Default 256 MiB. */
  threadMemoryBytes?: number;
  /** Threads new instances are spread over from the start (their starts and requests use that
   *  many cores); more come only when these fill up. Default: the cores (availableParallelism). */
  spread?: number;
  /** Hears deliveries, envelopes out and stops (the checkpointer, checkpoint.ts) [issue 13.2]. */
  observer?: PortionObserver;
  /**
   * [c31] Requests an instance had not answered when it stopped (any stop: ended, moved, lost, its
   * thread gone), oldest first, once the stop is done: the node ends each at once (node/orphans.ts).
   */
  onOrphans?: (iid: string, requests: Envelope[]) => void;
}

/**
 * What the checkpointer sees of instances: an envelope delivered (the state may change), an
 * envelope out (it calls `send` now, or later: a sync module's reply waits for its checkpoint),
 * an instance gone.
 */
export interface PortionObserver {
  delivered(iid: string): void;
  out(iid: string, env: Envelope, send: (env: Envelope) => void): void;
  stopped(iid: string): void;
}

interface Thread {
  w: PooledWorker;
  /** What the node posts to it, the envelopes of one loop pass gathered (thread-post.ts). */
  out: ThreadPost;
  instances: Set<string>;
  /** Busy ms over the last load report, and envelopes delivered since. */
  busyMs: number;
  inflight: number;
  /** Critical-section waits of its instances, from the last load report [c24]. */
  waits: ModuleWaits[];
  /** The worker's sandbox figures from its last load report (warm sandbox hits among them). */
  sandbox: SandboxLoad | undefined;
}

interface Instance {
  iid: string;
  spec: PortionSpec;
  thread: Thread;
  /** Requests delivered and not yet answered (replies seen in onOut). */
  inflight: number;
  /** Those requests themselves, for the node to end when the instance stops. */
  open: OpenRequests;
}

export interface ThreadStats {
  id: number;
  instances: number;
  busyMs: number;
  inflight: number;
  /** From the worker's last load report (every 500 ms); undefined before the first. */
  sandbox?: SandboxLoad;
}

export class PortionManager {
  #pool: PortionPool;
  #onOut: PortionManagerOptions['onOut'];
  #onFault: NonNullable<PortionManagerOptions['onFault']>;
  #onLog: PortionManagerOptions['onLog'];
  #observer: PortionObserver | undefined;
  #onOrphans: PortionManagerOptions['onOrphans'];
  /** Instances whose stop is under way: their answers still close their open requests. */
  #stopping = new Map<string, Instance>();
  #closing = false;
  /** Open requests given up at an instance's bound (open-requests.ts). */
  #untracked = 0;
  #room: ThreadLimits;
  #spread: number;
  #threads: Thread[] = [];
  #instances = new Map<string, Instance>();
  /** Instances by session, in start order: a session's stop or switch finds its own without a scan. */
  #bySession = new Map<string, Set<string>>();
  #waiting = new Map<string, (r: Result<void, Error>) => void>();
  #rpc = new Map<number, (m: FromWorker) => void>();
  #rid = 1;
  /** Checkpoint snapshots asked for in one turn go to each thread as one message (snapshot-batch.ts). */
  readonly #batch = new SnapshotBatcher<Thread>((t, make) => this.#call(t, make));
  #growing: Promise<number> | undefined;

  constructor(o: PortionManagerOptions) {
    rejectUnknown('PortionManager', o, ['pool', 'onOut', 'onFault', 'onLog', 'perThread', 'threadMemoryBytes', 'spread', 'observer', 'onOrphans']);
    this.#pool = o.pool;
    this.#onOut = o.onOut;
    this.#onFault = o.onFault ?? (() => {});
    this.#onLog = o.onLog;
    // [issue 19] a thread per memory filled, not per 256 instances (thread-room.ts).
    this.#spread = positiveInt('PortionManager', 'spread', o.spread ?? availableParallelism(), 64);
    this.#room = { perThread: positiveInt('PortionManager', 'perThread', o.perThread ?? PER_THREAD), memoryBytes: positiveInt('PortionManager', 'threadMemoryBytes', o.threadMemoryBytes ?? THREAD_MEMORY_BYTES) };
    this.#observer = o.observer;
    this.#onOrphans = o.onOrphans;
  }

  /** Open requests given up at an instance's bound; their callers' deadlines end them. */
  get untracked(): number {
    let n = this.#untracked;
    for (const i of this.#instances.values()) n += i.open.untracked;
    return n;
  }

  get threads(): number {
    return this.#threads.length;
  }

  threadStats(): ThreadStats[] {
    return this.#threads.map((t) => ({ id: t.w.id, instances: t.instances.size, busyMs: t.busyMs, inflight: t.inflight, ...(t.sandbox === undefined ? {} : { sandbox: t.sandbox }) }));
  }

  has(iid: string): boolean {
    return this.#instances.has(iid);
  }

  /** Requests and control messages delivered to the instance and not answered yet. */
  inflightOf(iid: string): number {
    return this.#instances.get(iid)?.inflight ?? 0;
  }

  /** The session's instances here, in start order (none: empty). */
  ofSession(session: string): readonly string[] {
    const s = this.#bySession.get(session);
    return s === undefined ? [] : [...s];
  }

  spec(iid: string): PortionSpec | undefined {
    return this.#instances.get(iid)?.spec;
  }

  /** Add a thread now (pre-warmed by the pool) [c20]. */
  async addThread(): Promise<number> {
    const w = await this.#pool.acquire();
    const t: Thread = { w, out: new ThreadPost(w), instances: new Set(), busyMs: 0, inflight: 0, waits: [], sandbox: undefined };
    w.onMessage((m) => this.#fromWorker(t, m as FromWorker));
    w.onExit(() => this.#lost(t));
    this.#threads.push(t);
    return w.id;
  }

  /** Start an instance on a given thread, or the least loaded one. */
  async start(spec: PortionSpec, threadId?: number): Promise<Result<void, Error>> {
    if (this.#instances.has(spec.iid)) throw new ArgumentError(`instance ${spec.iid} exists`, 'iid');
    let t = threadId === undefined ? this.#pick() : this.#threads.find((x) => x.w.id === threadId);
    while (t === undefined) {
      if (this.#pool.busy >= this.#pool.max) {
        // Every thread the pool may have is in use: share the least loaded one.
        t = this.#leastLoaded(true);
        if (t !== undefined) break;
      }
      // One thread grows at a time: a burst of starts shares the new thread instead of each taking one.
      this.#growing ??= this.addThread().finally(() => (this.#growing = undefined));
      await this.#growing;
      t = this.#pick();
    }
    const done = new Promise<Result<void, Error>>((resolve) => this.#waiting.set(spec.iid, resolve));
    const inst: Instance = { iid: spec.iid, spec, thread: t, inflight: 0, open: new OpenRequests() };
    this.#add(inst);
    t.instances.add(spec.iid);
    this.#post(t, { t: 'start', spec });
    const r = await done;
    // Stopped meanwhile: the thread stopped what it started (wave 20), so it is not running.
    if (this.#instances.get(spec.iid) !== inst) return r.ok ? fail(new Error(`${spec.iid} was stopped while it started`)) : r;
    if (!r.ok) {
      this.#drop(spec.iid);
      t.instances.delete(spec.iid);
    }
    return r;
  }

  /** Start an instance on a thread of its own, taken now from the pool (pre-warmed) [c20]. */
  async startOnNewThread(spec: PortionSpec): Promise<Result<void, Error>> {
    if (this.#pool.busy >= this.#pool.max) return fail(new Error(`all ${this.#pool.max} worker threads in use`));
    let id: number;
    try {
      id = await this.addThread();
    } catch (e) {
      return fail(e as Error);
    }
    const r = await this.start(spec, id);
    if (!r.ok) await this.#releaseIfIdle(id);
    return r;
  }

  /** Room for more threads in the pool. */
  get threadsLeft(): number {
    return Math.max(0, this.#pool.max - this.#pool.busy);
  }

  /** The last critical-section wait reports of an instance's modules (worker load reports). */
  waitsOf(iid: string): ModuleWaits[] {
    return this.#instances.get(iid)?.thread.waits.filter((w) => w.iid === iid) ?? [];
  }

  deliver(iid: string, module: string, env: Envelope): boolean {
    const inst = this.#instances.get(iid);
    if (inst === undefined) return false;
    if (env.kind === 'req' || env.kind === 'ctl') {
      inst.inflight++;
      inst.thread.inflight++;
      inst.open.add(env);
    }
    // [c24] the arrival on the node, where the request's wait for a critical section starts.
    inst.thread.out.env({ iid, module, env, at: threadNow() });
    this.#observer?.delivered(iid);
    return true;
  }

  /** Of several instances, the one with the fewest requests in flight [c14]. */
  pick(iids: readonly string[]): string | undefined {
    let best: Instance | undefined;
    for (const id of iids) {
      const i = this.#instances.get(id);
      if (i !== undefined && (best === undefined || i.inflight < best.inflight)) best = i;
    }
    return best?.iid;
  }

  /**
   * A checkpoint's snapshot [issue 13.2]: the worker's fair order is kept (nothing queued is run
   * first); `queued` says how many envelopes of the instance wait and are not in the states.
   */
  checkpointSnapshot(iid: string): Promise<Result<{ states: Record<string, Uint8Array>; queued: number }, Error>> {
    const inst = this.#instances.get(iid);
    return inst === undefined ? Promise.resolve(fail(new Error(`no instance ${iid}`))) : this.#batch.take(inst.thread, iid);
  }

  async snapshot(iid: string): Promise<Result<Record<string, Uint8Array>, Error>> {
    const inst = this.#instances.get(iid);
    if (inst === undefined) return fail(new Error(`no instance ${iid}`));
    const m = await this.#call(inst.thread, (rid) => ({ t: 'snapshot', rid, iid }));
    if (m.t !== 'snapshot' || m.states === undefined) return fail(new Error(m.t === 'snapshot' ? (m.error ?? 'snapshot failed') : 'snapshot failed'));
    return ok(m.states);
  }

  /** Stop an instance; with `releaseThread`, a thread left with no instance goes back (never the last). */
  async stop(iid: string, releaseThread = false): Promise<void> {
    const inst = this.#instances.get(iid);
    if (inst === undefined) return;
    this.#drop(iid);
    inst.thread.instances.delete(iid);
    this.#observer?.stopped(iid);
    // Until the worker says stopped, what it answers (queued envelopes run first) closes requests.
    this.#stopping.set(iid, inst);
    try {
      await this.#call(inst.thread, (rid) => ({ t: 'stop', rid, iid }));
    } finally {
      this.#stopping.delete(iid);
    }
    inst.thread.inflight = Math.max(0, inst.thread.inflight - inst.inflight);
    this.#orphaned(inst);
    if (releaseThread) await this.#releaseIfIdle(inst.thread.w.id);
  }

  // [c31] Nothing is left waiting in a stopped instance: the node ends what it had not answered.
  #orphaned(inst: Instance): void {
    this.#untracked += inst.open.untracked;
    const left = inst.open.take();
    if (left.length > 0 && !this.#closing) this.#onOrphans?.(inst.iid, left);
  }

  async #releaseIfIdle(id: number): Promise<void> {
    const t = this.#threads.find((x) => x.w.id === id);
    if (t === undefined || t.instances.size > 0 || this.#threads.length <= 1) return;
    this.#threads = this.#threads.filter((x) => x !== t);
    await this.#pool.release(t.w);
  }

  async close(): Promise<void> {
    this.#closing = true;
    for (const iid of [...this.#instances.keys()]) await this.stop(iid);
    for (const t of this.#threads) await this.#pool.release(t.w);
    this.#threads = [];
  }

  // While fewer threads than `spread`, a start finds no thread with instances (one grows), so
  // starts and requests use the cores; an empty thread is taken first.
  #pick(): Thread | undefined {
    const t = this.#leastLoaded();
    return t !== undefined && t.instances.size > 0 && this.#threads.length < this.#spread && this.#pool.busy < this.#pool.max ? undefined : t;
  }

  #leastLoaded(overcommit = false): Thread | undefined {
    let best: Thread | undefined;
    for (const t of this.#threads) {
      if (!overcommit && !threadHasRoom({ instances: t.instances.size, engineBytes: t.sandbox?.engineBytes }, this.#room)) continue;
      if (best === undefined || t.instances.size < best.instances.size) best = t;
    }
    return best;
  }

  #post(t: Thread, m: ToWorker): void {
    t.out.post(m);
  }

  #call(t: Thread, make: (rid: number) => ToWorker): Promise<FromWorker> {
    const rid = this.#rid++;
    return new Promise((resolve) => {
      this.#rpc.set(rid, resolve);
      this.#post(t, make(rid));
    });
  }

  #fromWorker(t: Thread, m: FromWorker): void {
    switch (m.t) {
      case 'out': {
        const inst = this.#instances.get(m.iid) ?? this.#stopping.get(m.iid);
        if (inst !== undefined && (m.env.kind === 'rep' || m.env.kind === 'err' || m.env.kind === 'ack')) {
          inst.open.answered(m.env);
          if (inst.inflight > 0) {
            inst.inflight--;
            t.inflight = Math.max(0, t.inflight - 1);
          }
        }
        if (this.#observer === undefined) this.#onOut(m.env, m.iid);
        else this.#observer.out(m.iid, m.env, (e) => this.#onOut(e, m.iid));
        return;
      }
      case 'started': {
        const w = this.#waiting.get(m.iid);
        this.#waiting.delete(m.iid);
        w?.(m.ok ? ok(undefined) : fail(new Error(m.error)));
        return;
      }
      case 'snapshot':
      case 'snapshots':
      case 'stopped': {
        const r = this.#rpc.get(m.rid);
        this.#rpc.delete(m.rid);
        r?.(m);
        return;
      }
      case 'fault':
        this.#onFault(m.iid, m.module, m.error);
        return;
      case 'log':
        this.#onLog?.(m.iid, m.module, m.level, m.text);
        return;
      case 'load':
        t.busyMs = m.busyMs;
        t.waits = m.waits ?? [];
        t.sandbox = m.sandbox;
        return;
      case 'ready':
        return;
    }
  }

  #add(inst: Instance): void {
    this.#instances.set(inst.iid, inst);
    const s = this.#bySession.get(inst.spec.session);
    if (s === undefined) this.#bySession.set(inst.spec.session, new Set([inst.iid]));
    else s.add(inst.iid);
  }

  #drop(iid: string): void {
    const inst = this.#instances.get(iid);
    if (inst === undefined) return;
    this.#instances.delete(iid);
    const s = this.#bySession.get(inst.spec.session);
    s?.delete(iid);
    if (s?.size === 0) this.#bySession.delete(inst.spec.session);
  }

  #lost(t: Thread): void {
    this.#threads = this.#threads.filter((x) => x !== t);
    for (const iid of t.instances) {
      const inst = this.#instances.get(iid);
      this.#drop(iid);
      this.#observer?.stopped(iid);
      this.#onFault(iid, '', 'worker thread exited');
      if (inst !== undefined) this.#orphaned(inst);
    }
  }
}
