// A real portion worker thread (headend/portions/portion-worker.ts) driven through its port
// protocol, with apps signed by a throwaway key: the head-end's sandbox as an attacker meets it.
// Waits on messages, never on time.

import { encodeManifest, generateSigningKey, type ModuleEntry, sha256Hex, signManifest, trustedKey, trustedKeyToJson, utf8 } from '../../runtime/app/index.ts';
import type { Envelope } from '../../runtime/index.ts';
import type { EnvDelivery, FromWorker, PortionSpec } from '../../headend/portions/portion-protocol.ts';
import { type PooledWorker, WorkerPool } from '../../headend/portions/worker-pool.ts';

const ENTRY = new URL('../../headend/portions/portion-worker.ts', import.meta.url);

export type AppSpec = Omit<PortionSpec, 'iid' | 'session'>;

/** A signed app of server modules, ready to start as portions. */
export async function serverApp(app: string, modules: Record<string, string>): Promise<AppSpec> {
  const { key } = await generateSigningKey();
  const sources: Record<string, Uint8Array> = {};
  const entries: ModuleEntry[] = [];
  for (const [name, src] of Object.entries(modules)) {
    const b = utf8(src);
    sources[name] = b;
    entries.push({ name, kind: 'server', tier: 'boot', file: `${name}.js`, sha256: await sha256Hex(b), size: b.length, uses: [], needs: {} });
  }
  const manifest = encodeManifest({ app, version: '1.0.0', modules: entries });
  return {
    node: 'n1',
    app,
    modules: Object.keys(modules),
    manifest,
    signature: await signManifest(manifest, key),
    sources,
    trusted: [trustedKeyToJson(await trustedKey(key.publicKey))],
    services: [],
    deadlineMs: 1000, // the node's default (docs/DECISIONS.md D7)
  };
}

export class WorkerUnderTest {
  readonly seen: FromWorker[] = [];
  #pool: WorkerPool;
  #w: PooledWorker;
  #waiters = new Set<() => void>();
  #id = 1;

  private constructor(pool: WorkerPool, w: PooledWorker) {
    this.#pool = pool;
    this.#w = w;
    w.onMessage((m) => {
      this.seen.push(m as FromWorker);
      for (const f of [...this.#waiters]) f();
    });
  }

  /** `data`: the worker's tuning (engineMemoryBytes, appMemoryBytes, warm sandboxes per build, and for benches sliceMs and schedule). */
  static async start(data: { engineMemoryBytes?: number; appMemoryBytes?: number; sliceMs?: number; schedule?: 'fair' | 'fifo'; warmPerBuild?: number; sweepBatch?: number } = {}): Promise<WorkerUnderTest> {
    const pool = new WorkerPool({ entry: ENTRY, spare: 0, max: 1, data: { engineMemoryBytes: 64 << 20, ...data } });
    // The pool unrefs its threads: hold the test's event loop open until close().
    const keepAlive = setInterval(() => {}, 60_000);
    const w = new WorkerUnderTest(pool, await pool.acquire());
    w.#keepAlive = keepAlive;
    return w;
  }

  #keepAlive: ReturnType<typeof setInterval> | undefined;

  /** Resolve with the first message (from now on, or already seen after `from`) matching. */
  next<T extends FromWorker>(pred: (m: FromWorker) => m is T, from = 0): Promise<T> {
    return new Promise((resolve) => {
      const check = (): void => {
        const hit = this.seen.slice(from).find(pred);
        if (hit === undefined) return;
        this.#waiters.delete(check);
        resolve(hit);
      };
      this.#waiters.add(check);
      check();
    });
  }

  async startPortion(spec: AppSpec, session: string): Promise<FromWorker & { t: 'started' }> {
    const iid = `${spec.app}.${session}`;
    const from = this.seen.length;
    this.#w.post({ t: 'start', spec: { ...spec, iid, session } });
    return this.next((m): m is FromWorker & { t: 'started' } => m.t === 'started' && m.iid === iid, from);
  }

  /** Post a request envelope to a module of an instance; returns its message id. */
  request(app: string, session: string, module: string, body: unknown): number {
    const d = this.#delivery(app, session, module, body);
    this.#w.post({ t: 'env', ...d });
    return d.env.id;
  }

  /** Several requests in one `envs` message, as the node sends a turn's envelopes (thread-post.ts); their ids in order. */
  requests(app: string, list: { session: string; module: string; body: unknown }[]): number[] {
    const ds = list.map((r) => this.#delivery(app, r.session, r.module, r.body));
    this.#w.post({ t: 'envs', list: ds });
    return ds.map((d) => d.env.id);
  }

  #delivery(app: string, session: string, module: string, body: unknown): EnvDelivery {
    const env: Envelope = { v: 1, kind: 'req', id: this.#id++, src: { queue: 'tester' }, dst: { vaddr: `weft://${app}/${session}/${module}` }, deadline: Date.now() + 60_000, body };
    return { iid: `${app}.${session}`, module, env, at: performance.timeOrigin + performance.now() };
  }

  /** The answer (rep or err) to request `id`. */
  answer(id: number): Promise<Envelope> {
    return this.next((m): m is FromWorker & { t: 'out' } => m.t === 'out' && m.env.corr === id && (m.env.kind === 'rep' || m.env.kind === 'err')).then((m) => m.env);
  }

  async stopPortion(app: string, session: string): Promise<void> {
    const rid = this.#id++;
    this.#w.post({ t: 'stop', rid, iid: `${app}.${session}` });
    await this.next((m): m is FromWorker & { t: 'stopped' } => m.t === 'stopped' && m.rid === rid);
  }

  /** A snapshot of an instance; `flush: false` is a checkpoint's (queued envelopes stay queued). */
  async snapshot(app: string, session: string, flush?: false): Promise<FromWorker & { t: 'snapshot' }> {
    const rid = this.#id++;
    this.#w.post({ t: 'snapshot', rid, iid: `${app}.${session}`, ...(flush === undefined ? {} : { flush }) });
    return this.next((m): m is FromWorker & { t: 'snapshot' } => m.t === 'snapshot' && m.rid === rid);
  }

  /** Checkpoint snapshots of several instances of `app` in one message (a checkpoint round's batch). */
  async snapshots(app: string, sessions: string[]): Promise<FromWorker & { t: 'snapshots' }> {
    const rid = this.#id++;
    this.#w.post({ t: 'snapshots', rid, iids: sessions.map((s) => `${app}.${s}`) });
    return this.next((m): m is FromWorker & { t: 'snapshots' } => m.t === 'snapshots' && m.rid === rid);
  }

  /** The next load report posted after now (every 500 ms). */
  load(): Promise<FromWorker & { t: 'load' }> {
    return this.next((m): m is FromWorker & { t: 'load' } => m.t === 'load', this.seen.length);
  }

  close(): Promise<void> {
    clearInterval(this.#keepAlive);
    return this.#pool.close();
  }
}
