// Issue 19 builds 2-3: a node adds a portion thread when a thread's engines fill up, not every
// 256 instances. A server portion of the guide costs ~150 KB of QuickJS heap, so 256 of them held
// ~40 MB of a 512 MiB engine, and bench -- headend booted a thread (~176 ms of CPU, cold code, an
// empty warm pool) every 256 setups: 9 threads for 2,200 sessions on 2 cores.
// Deterministic: the threads are fakes that answer `start` at once; load reports are posted by hand.

import test from 'ava';
import { PortionManager, type PortionPool } from '../../headend/portions/portions.ts';
import { threadHasRoom } from '../../headend/portions/thread-room.ts';
import type { PooledWorker } from '../../headend/portions/worker-pool.ts';
import type { FromWorker, PortionSpec, SandboxLoad, ToWorker } from '../../headend/portions/portion-protocol.ts';

class FakeThread implements PooledWorker {
  #handler: ((m: unknown) => void) | undefined;
  constructor(readonly id: number) {}
  post(msg: unknown): void {
    const m = msg as ToWorker;
    if (m.t === 'start') queueMicrotask(() => this.say({ t: 'started', iid: m.spec.iid, ok: true }));
    if (m.t === 'stop') queueMicrotask(() => this.say({ t: 'stopped', rid: m.rid }));
  }
  say(m: FromWorker): void {
    this.#handler?.(m);
  }
  onMessage(handler: (msg: unknown) => void): void {
    this.#handler = handler;
  }
  onExit(): void {}
}

class FakePool implements PortionPool {
  readonly max = 16;
  readonly threads: FakeThread[] = [];
  get busy(): number {
    return this.threads.length;
  }
  acquire(): Promise<PooledWorker> {
    const t = new FakeThread(this.threads.length + 1);
    this.threads.push(t);
    return Promise.resolve(t);
  }
  release(): Promise<void> {
    return Promise.resolve();
  }
}

const spec = (i: number): PortionSpec => ({ iid: `p${i}`, node: 'n1', app: 'guide', session: `s${i}`, modules: ['search'], manifest: new Uint8Array(), signature: new Uint8Array(), sources: {}, trusted: [], services: [] });
const load = (engineBytes: number): FromWorker => ({ t: 'load', busyMs: 0, served: 0, inflight: 0, sandbox: { engineBytes } as SandboxLoad });

test('1,000 small instances stay on one thread: no thread boots per 256 setups (failed before: 4 threads)', async (t) => {
  const pool = new FakePool();
  const pm = new PortionManager({ pool, onOut: () => {}, spread: 1 });
  for (let i = 0; i < 1000; i++) t.true((await pm.start(spec(i))).ok);
  t.is(pm.threads, 1);
  t.is(pool.threads.length, 1);
});

test('instances spread over `spread` threads from the start (the cores), and no further while those have room', async (t) => {
  const pool = new FakePool();
  const pm = new PortionManager({ pool, onOut: () => {}, spread: 2 });
  const starts = [];
  for (let i = 0; i < 600; i++) starts.push(pm.start(spec(i)));
  t.true((await Promise.all(starts)).every((r) => r.ok), 'a burst of starts shares the threads as they come');
  t.is(pm.threads, 2);
  const n = pm.threadStats().map((s) => s.instances);
  t.is((n[0] ?? 0) + (n[1] ?? 0), 600);
  for (let i = 600; i < 1000; i++) t.true((await pm.start(spec(i))).ok);
  t.deepEqual(pm.threadStats().map((s) => s.instances), [500, 500], 'each start to the thread with fewer instances');
});

test('a thread whose engines reported the memory budget takes no new instance: the next start adds a thread', async (t) => {
  const pool = new FakePool();
  const pm = new PortionManager({ pool, onOut: () => {}, threadMemoryBytes: 64 << 20, spread: 1 });
  t.true((await pm.start(spec(0))).ok);
  pool.threads[0]?.say(load(63 << 20));
  t.true((await pm.start(spec(1))).ok);
  t.is(pm.threads, 1, 'under the budget: same thread');
  pool.threads[0]?.say(load(64 << 20));
  t.true((await pm.start(spec(2))).ok);
  t.is(pm.threads, 2, 'at the budget: a new thread');
  t.deepEqual(pm.threadStats().map((s) => s.instances), [2, 1]);
  // The full thread's instances stop and its engines give memory back: it takes starts again.
  await pm.stop('p0');
  pool.threads[0]?.say(load(8 << 20));
  t.true((await pm.start(spec(3))).ok);
  t.deepEqual(pm.threadStats().map((s) => s.instances), [2, 1], 'the least loaded thread with room');
});

test('the instance cap still bounds a thread, and every thread full shares the least loaded one', async (t) => {
  const pool = new FakePool();
  const pm = new PortionManager({ pool, onOut: () => {}, perThread: 2, spread: 1 });
  for (let i = 0; i < 5; i++) t.true((await pm.start(spec(i))).ok);
  t.deepEqual(pm.threadStats().map((s) => s.instances), [2, 2, 1]);
});

test('threadHasRoom: pure, by count and by reported engine bytes', (t) => {
  const limits = { perThread: 10, memoryBytes: 100 };
  t.true(threadHasRoom({ instances: 0, engineBytes: undefined }, limits), 'no report yet: room by count');
  t.true(threadHasRoom({ instances: 9, engineBytes: 99 }, limits));
  t.false(threadHasRoom({ instances: 10, engineBytes: 0 }, limits));
  t.false(threadHasRoom({ instances: 1, engineBytes: 100 }, limits));
});

test('PortionManager options are checked by name', (t) => {
  const pool = new FakePool();
  t.throws(() => new PortionManager({ pool, onOut: () => {}, threadMemoryBytes: 0 }), { message: /threadMemoryBytes/ });
  t.throws(() => new PortionManager({ pool, onOut: () => {}, perThread: 1.5 }), { message: /perThread/ });
  t.throws(() => new PortionManager({ pool, onOut: () => {}, spread: 0 }), { message: /spread/ });
  t.throws(() => new PortionManager({ pool, onOut: () => {}, perTread: 4 } as never), { message: /perTread/ });
});

test("ofSession: a session's instances in start order, without the stopped ones (the node's index for session stops and switches)", async (t) => {
  const pool = new FakePool();
  const pm = new PortionManager({ pool, onOut: () => {}, spread: 1 });
  const of = (i: number, session: string): PortionSpec => ({ ...spec(i), session });
  for (const [i, s] of [[1, 'a'], [2, 'b'], [3, 'a'], [4, 'c']] as const) t.true((await pm.start(of(i, s))).ok);
  t.deepEqual(pm.ofSession('a'), ['p1', 'p3']);
  t.deepEqual(pm.ofSession('none'), []);
  await pm.stop('p1');
  t.deepEqual(pm.ofSession('a'), ['p3']);
  await pm.stop('p3');
  t.deepEqual(pm.ofSession('a'), []);
  t.deepEqual(pm.ofSession('b'), ['p2']);
});
