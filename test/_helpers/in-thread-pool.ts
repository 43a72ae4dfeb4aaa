// An in-thread portion host for deterministic head-end tests: it speaks the worker protocol of
// headend/portions/portion-protocol.ts (start, env, snapshot, stop) on the main thread, one
// message per microtask, and runs plain functions instead of QuickJS modules. The real sandbox
// and worker threads stay in the integration tier (test/headend/node.test.ts and others).

import type { Envelope } from '../../runtime/index.ts';
import type { PortionPool } from '../../headend/portions/portions.ts';
import type { PooledWorker } from '../../headend/portions/worker-pool.ts';
import { PROBE, type FromWorker, type PortionSpec, type ToWorker } from '../../headend/portions/portion-protocol.ts';

/**
 * A module's request handler: the reply body, or a promise of it (answered when it settles, if
 * the instance still runs then: a stopped worker's channels are closed). Default: `{ echo: body,
 * n }` with a per-instance count.
 */
export type FakeModule = (body: unknown, env: Envelope, state: { n: number }, spec: PortionSpec) => unknown;

export interface InThreadPoolOptions {
  /** Handlers by module name; modules without one echo. */
  modules?: Record<string, FakeModule>;
  /** Most threads. Default 8. */
  max?: number;
}

const echo: FakeModule = (body, _env, state) => ({ n: ++state.n, echo: body });

/** A request of a critical module finished: its instance's probe counts it (the node's thread controller reads it). */
function countDone(spec: PortionSpec, module: string): void {
  const probe = spec.critical?.[module]?.probe;
  if (probe !== undefined) Atomics.add(new BigInt64Array(probe), PROBE.DONE, 1n);
}

export class InThreadPool implements PortionPool {
  readonly max: number;
  readonly #modules: Record<string, FakeModule>;
  #busy = 0;
  #nextId = 1;
  /** Instances started, by iid (their spec), across all threads; stopped ones are removed. */
  readonly instances = new Map<string, PortionSpec>();
  /** When set, every start waits for it before it runs (a slow worker: the start is in flight). */
  holdStarts: { wait: () => Promise<void> } | undefined;
  readonly #threads: FakeThread[] = [];

  constructor(options: InThreadPoolOptions = {}) {
    this.max = options.max ?? 8;
    this.#modules = options.modules ?? {};
  }

  get busy(): number {
    return this.#busy;
  }

  acquire(): Promise<PooledWorker> {
    if (this.#busy >= this.max) return Promise.reject(new Error(`all ${this.max} threads in use`));
    this.#busy++;
    const th = new FakeThread(this.#nextId++, this.#modules, this.instances, () => this.holdStarts);
    this.#threads.push(th);
    return Promise.resolve(th);
  }

  /** The thread running instance `iid` exits (a crash): its instances are gone, its exit is heard. */
  crash(iid: string): void {
    const th = this.#threads.find((x) => x.runs(iid));
    if (th === undefined) throw new Error(`no thread runs ${iid}`);
    this.#threads.splice(this.#threads.indexOf(th), 1);
    this.#busy = Math.max(0, this.#busy - 1);
    th.exit();
  }

  /** Messages of kind `t` the node's threads were sent (a test counts the round trips). */
  sent(t: ToWorker['t']): number {
    return this.#threads.reduce((n, th) => n + (th.posted.get(t) ?? 0), 0);
  }

  release(_w: PooledWorker): Promise<void> {
    this.#busy = Math.max(0, this.#busy - 1);
    return Promise.resolve();
  }
}

class FakeThread implements PooledWorker {
  readonly id: number;
  #handler: ((m: unknown) => void) | undefined;
  #exits: ((code: number) => void)[] = [];
  #states = new Map<string, Map<string, { n: number }>>();

  constructor(
    id: number,
    private readonly modules: Record<string, FakeModule>,
    private readonly instances: Map<string, PortionSpec>,
    private readonly held: () => { wait: () => Promise<void> } | undefined,
  ) {
    this.id = id;
  }

  post(msg: unknown): void {
    const m = msg as ToWorker;
    this.posted.set(m.t, (this.posted.get(m.t) ?? 0) + 1);
    const hold = m.t === 'start' ? this.held() : undefined;
    if (hold !== undefined) void hold.wait().then(() => this.#handle(m));
    else queueMicrotask(() => this.#handle(m));
  }

  onMessage(handler: (msg: unknown) => void): void {
    this.#handler = handler;
  }

  onExit(h: (code: number) => void): void {
    this.#exits.push(h);
  }

  runs(iid: string): boolean {
    return this.#states.has(iid);
  }

  exit(): void {
    for (const iid of this.#states.keys()) this.instances.delete(iid);
    this.#states.clear();
    this.#handler = undefined;
    for (const h of this.#exits) h(1);
  }

  #reply(m: FromWorker): void {
    this.#handler?.(m);
  }

  /** Messages this thread was sent, by kind (a test counts the round trips). */
  readonly posted = new Map<string, number>();

  #snap(iid: string): Record<string, Uint8Array> {
    const states: Record<string, Uint8Array> = {};
    for (const [mod, s] of this.#states.get(iid) ?? []) states[mod] = Uint8Array.of(s.n);
    return states;
  }

  #handle(m: ToWorker): void {
    switch (m.t) {
      case 'start': {
        const states = new Map<string, { n: number }>();
        for (const mod of m.spec.modules) {
          const saved = m.spec.states?.[mod];
          states.set(mod, { n: saved === undefined ? 0 : (saved[0] ?? 0) });
        }
        this.#states.set(m.spec.iid, states);
        this.instances.set(m.spec.iid, m.spec);
        return this.#reply({ t: 'started', iid: m.spec.iid, ok: true });
      }
      case 'env': {
        const state = this.#states.get(m.iid)?.get(m.module);
        if (state === undefined || (m.env.kind !== 'req' && m.env.kind !== 'ctl')) return;
        const spec = this.instances.get(m.iid) as PortionSpec;
        const body = (this.modules[m.module] ?? echo)(m.env.body, m.env, state, spec);
        const answer = (b: unknown): void => {
          if (!this.#states.has(m.iid)) return;
          countDone(spec, m.module); // as the worker's critical guard does when a request finishes
          const rep: Envelope = { v: 1, kind: m.env.kind === 'req' ? 'rep' : 'ack', id: 0, corr: m.env.id, src: { vaddr: m.env.dst.vaddr ?? '' }, dst: m.env.src, body: b };
          if (m.env.op !== undefined) rep.op = m.env.op;
          this.#reply({ t: 'out', iid: m.iid, env: rep });
        };
        if (body instanceof Promise) return void body.then(answer, () => undefined);
        return answer(body);
      }
      case 'envs':
        for (const d of m.list) this.#handle({ t: 'env', ...d });
        return;
      case 'snapshot':
        return this.#reply({ t: 'snapshot', rid: m.rid, states: this.#snap(m.iid) });
      case 'snapshots':
        return this.#reply({ t: 'snapshots', rid: m.rid, results: m.iids.map((iid) => (this.#states.has(iid) ? { states: this.#snap(iid), queued: 0 } : { error: `no instance ${iid}` })) });
      case 'stop':
        this.#states.delete(m.iid);
        this.instances.delete(m.iid);
        return this.#reply({ t: 'stopped', rid: m.rid });
    }
  }
}
