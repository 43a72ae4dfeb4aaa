// A portion worker thread: hosts server-portion instances, each an AppSandbox (one QuickJS
// runtime, one context per module) with a Channel per module. It verifies what it is given
// before evaluating it, and talks to the main thread only through portion-protocol messages.

import { parentPort, workerData } from 'node:worker_threads';
import { Channel, type Clock, Codes, RemoteError, formatVaddr, type Envelope } from '../../runtime/index.ts';
import type { VerifiedModule } from '../../runtime/app/index.ts';
import { AppEngines, AppSandbox, channelHandlers, type Engine, isEngineTrap, LagMeter, MemoryStore, type ModuleSandbox, namesTypedArrays, type ServiceHandler, type WarmRuntime } from '../../sandbox/index.ts';
import { FairQueue } from './fair-queue.ts';
import { LoadSweep } from './load-sweep.ts';
import { CriticalGuard } from './portion-guard.ts';
import { WorkerWarmth } from './worker-warm.ts';
import { SERVICE_CLIENT, SERVICES_NAME, type EnvDelivery, type FromWorker, type ModuleWaits, type PortionSpec, type SnapshotResult, type ToWorker } from './portion-protocol.ts';
import { threadCpu } from './thread-cpu.ts';
import { appKey, verified } from './verified-apps.ts';

interface Instance {
  spec: PortionSpec;
  sandbox: AppSandbox;
  engine: Engine;
  channels: Map<string, Channel>;
  /** Critical modules' guards [c20-c23]. */
  guards: Map<string, CriticalGuard>;
  /** Arrival on the node of the envelope being received now (read by the guard wrappers). */
  arrival: number;
}

const port = parentPort;
if (port === null) throw new Error('portion-worker must run in a worker thread');
const post = (m: FromWorker): void => port.postMessage(m);
// One engine per app on this thread (not per session: an engine starts at 16 MiB), dropped when
// the app's last instance here stops or set aside after a memory fault, so a memory bomb's
// WebAssembly memory goes back to the OS and never starves another app.
// From the pool's data: each app's engine cap (default 512 MiB; its engines together twice that,
// D120), and for benches that compare against the old behaviour, the slice and the schedule
// ('fifo': in arrival order, at once).
const tuning = ((workerData as { data?: unknown } | null)?.data ?? {}) as { engineMemoryBytes?: unknown; appMemoryBytes?: unknown; sliceMs?: unknown; schedule?: unknown; warmPerBuild?: unknown; sweepBatch?: unknown };
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined);
const engines = new AppEngines({ maxMemoryBytes: num(tuning.engineMemoryBytes) ?? 512 * 1024 * 1024, ...(num(tuning.appMemoryBytes) === undefined ? {} : { maxAppBytes: num(tuning.appMemoryBytes) }) });
// [issue 19.3] Warm app sandboxes per app build (0 turns them off, for before/after benches).
const warmth = new WorkerWarmth(engines, tuning.warmPerBuild === 0 ? 0 : (num(tuning.warmPerBuild) ?? 2));
const instances = new Map<string, Instance>();
let busyMs = 0;
let served = 0;

// [DECISIONS D17] Neighbour isolation by a short CPU slice per event, not a thread per app: one event of
// a module (its handler and every promise job it causes) holds this thread for at most
// SLICE_MS plus the measured lag, and the next envelope run is the one of the app that used the
// least CPU lately, so a spinning app's backlog waits behind its neighbours.
const SLICE_MS = num(tuning.sliceMs) ?? 100;
const FIFO = tuning.schedule === 'fifo';
const unrefClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (h) => clearTimeout(h as Parameters<typeof clearTimeout>[0]),
};
const lag = new LagMeter({ clock: unrefClock });
lag.start();
// This thread's CPU, not the process's: a deadline passed while this thread waited for a core is
// not the guest's, however busy the node's other threads were (thread-cpu.ts). Its file stays open
// for this thread's life: Node closes it when the thread exits (thread-cpu.ts says how).
const cpu = threadCpu({ keep: true });
const fair = new FairQueue<EnvDelivery>({ now: () => performance.now() });
/** Envelopes waiting in the fair queue per instance: a checkpoint's snapshot does not cover them. */
const queuedOf = new Map<string, number>();
let turnArmed = false;

async function start(spec: PortionSpec): Promise<void> {
  const key = appKey(spec);
  const app = await verified(spec, key);
  if (!app.ok) {
    post({ t: 'started', iid: spec.iid, ok: false, error: app.error.message });
    return;
  }
  const channels = new Map<string, Channel>();
  // weft.services.request(name, {op, ...args}) becomes a request to the node's service host
  // [c34-c36], sent from the instance's own service address so the host knows app and session.
  const servicesAddr = { vaddr: formatVaddr({ app: 'headend', session: spec.node, module: SERVICES_NAME }) };
  const svc = new Channel({
    self: { vaddr: formatVaddr({ app: spec.app, session: spec.session, module: SERVICE_CLIENT }) },
    write: (env: Envelope) => post({ t: 'out', iid: spec.iid, env }),
  });
  channels.set(SERVICE_CLIENT, svc);
  const services: Record<string, ServiceHandler> = {};
  for (const name of spec.services) {
    // weft.services.request('epg', { op: 'listings', day: 0 }) -> op svc.epg.listings, args { day: 0 }
    // The sandbox's deadline for the call, not the Channel's 5 s default: a loaded head-end
    // answered the guide's search after 5 s (cluster-processes under test:stress).
    services[name] = (body, timeoutMs) => {
      const { op, ...args } = (body ?? {}) as { op?: unknown };
      if (typeof op !== 'string') return Promise.reject(new RemoteError(Codes.BAD_REQUEST, `services.request('${name}', body): body.op must name the method`));
      return svc.request(servicesAddr, args, { op: `svc.${name}.${op}`, timeoutMs });
    };
  }
  // A warm runtime carries its engine lease; a cold start takes one.
  const build = WorkerWarmth.build(key, spec.modules.length);
  let warm = warmth.take(build);
  let engine = warm?.engine ?? (await engines.acquire(spec.app));
  // Judged again in the stretch that makes the sandbox: a burst's acquires all resolve first (D120).
  while (!engines.hasRoom(engine)) {
    warm?.dispose();
    warm = undefined;
    engines.release(engine);
    engine = await engines.acquire(spec.app);
  }
  let sandbox: AppSandbox;
  try {
    sandbox = newSandbox(spec, engine, services, warm);
  } catch (e) {
    const error = engineFault(engine, spec.app, e);
    svc.close();
    warm?.dispose();
    engines.release(engine);
    post({ t: 'started', iid: spec.iid, ok: false, error });
    return;
  }
  const inst: Instance = { spec, sandbox, engine, channels, guards: new Map(), arrival: 0 };
  const refuse = (error: string): void => {
    for (const ch of channels.values()) ch.close();
    sandbox.destroy();
    engines.release(engine);
    post({ t: 'started', iid: spec.iid, ok: false, error });
  };
  let r: string | undefined;
  try {
    r = loadModules(inst, app.value.modules);
  } catch (e) {
    r = engineFault(engine, spec.app, e);
  }
  if (r !== undefined) return refuse(r);
  instances.set(spec.iid, inst);
  post({ t: 'started', iid: spec.iid, ok: true });
  // After the reply, off the setup's path; lean contexts when no module of the build names a typed array.
  const lean = spec.modules.every((m) => !namesTypedArrays(app.value.modules.get(m)?.source ?? 'Uint8Array'));
  warmth.refillSoon(build, spec.app, spec.modules.length, lean);
}

function newSandbox(spec: PortionSpec, engine: Engine, services: Record<string, ServiceHandler>, warm: WarmRuntime | undefined): AppSandbox {
  return new AppSandbox(engine, {
    ...(warm === undefined ? {} : { warm }),
    app: spec.app,
    side: 'headend',
    session: spec.session,
    ...(spec.session === '*' ? { storage: appStorage(spec.states?.[APP_STORAGE]) } : {}),
    limits: { sliceMs: SLICE_MS, ...(spec.memoryBytes === undefined ? {} : { memoryBytes: spec.memoryBytes }), ...(spec.deadlineMs === undefined ? {} : { deadlineMs: spec.deadlineMs }) },
    lag,
    cpu,
    services,
    log: (module, level, text) => post({ t: 'log', iid: spec.iid, module, level, text }),
    onFault: (err) => {
      if (err.fault === 'memory' || err.fault === 'engine') retire(engine);
      post({ t: 'fault', iid: spec.iid, module: err.where, error: err.message });
    },
  });
}

/** Only QuickJS failing throws out of a sandbox: a trap or an abort leaves the engine unusable,
 *  so the app's next start gets a fresh one (wave 20: a start on an engine that had aborted
 *  was handed the same engine again, and failed with out-of-bounds accesses). */
function engineFault(engine: Engine, app: string, e: unknown): string {
  const error = `${app}: the portion instance failed: ${e instanceof Error ? e.message : String(e)}`.slice(0, 300);
  if (isEngineTrap(e)) {
    engine.fail(error);
    retire(engine);
  }
  return error;
}

/** An engine set aside (a memory fault, or QuickJS failed): its warm runtimes go with it. */
function retire(engine: Engine): void {
  engines.retire(engine);
  warmth.retired(engine);
}

// [issue 16] An app-wide instance's weft.storage is the app's: it goes into its snapshots (under a
// key no module can have) and comes back when the instance is restored elsewhere.
const APP_STORAGE = '_storage';

function appStorage(saved: Uint8Array | undefined): MemoryStore {
  const store = new MemoryStore();
  if (saved === undefined) return store;
  const o = JSON.parse(Buffer.from(saved).toString('utf8')) as Record<string, unknown>;
  for (const [k, v] of Object.entries(o)) if (typeof v === 'string') store.set(k, v);
  return store;
}

/** Load, restore and start the instance's modules; the refusal text when one fails. */
function loadModules(inst: Instance, verifiedModules: ReadonlyMap<string, VerifiedModule>): string | undefined {
  const { spec, sandbox, channels } = inst;
  for (const name of spec.modules) {
    const mod = verifiedModules.get(name);
    if (mod === undefined) continue;
    const self = { vaddr: formatVaddr({ app: spec.app, session: spec.session, module: name }) };
    const ref: { m?: ModuleSandbox } = {};
    const handlers = channelHandlers(() => ref.m);
    const critical = spec.critical?.[name];
    const guard = critical === undefined ? undefined : new CriticalGuard(critical);
    if (guard !== undefined) inst.guards.set(name, guard);
    const ch = new Channel({
      self,
      write: (env: Envelope) => post({ t: 'out', iid: spec.iid, env }),
      ...(guard === undefined ? handlers : guarded(inst, guard, handlers)),
    });
    channels.set(name, ch);
    const loaded = sandbox.load(mod, { link: ch });
    if (!loaded.ok) return loaded.error.message;
    ref.m = loaded.value;
    const state = spec.states?.[name];
    if (state !== undefined) {
      const r = ref.m.restore(state);
      if (!r.ok) return r.error.message;
    }
  }
  for (const m of sandbox.modules()) {
    const r = m.start();
    if (!r.ok) return r.error.message;
  }
  return undefined;
}

// [c20-c24] every request and message to a critical module waits its turn and the lock, timed
// from its arrival on the node; the reply goes out when the handler is done and the lock is free.
function guarded(inst: Instance, guard: CriticalGuard, h: ReturnType<typeof channelHandlers>): ReturnType<typeof channelHandlers> {
  return {
    onRequest: (env) => guard.run(inst.arrival, () => h.onRequest(env)),
    onMessage: (env) => {
      guard.run(inst.arrival, () => h.onMessage(env)).catch(() => undefined);
    },
  };
}

function deliver(d: EnvDelivery): void {
  const inst = instances.get(d.iid);
  if (inst === undefined || !inst.channels.has(d.module)) return;
  if (FIFO) return run(d, undefined);
  // Shed past the app's bound: a request then fails at the node's request deadline (counted).
  if (fair.push(inst.spec.app, d)) {
    queuedOf.set(d.iid, (queuedOf.get(d.iid) ?? 0) + 1);
    armTurn();
  }
}

function armTurn(): void {
  if (turnArmed) return;
  turnArmed = true;
  // One envelope per turn of the event loop: envelopes that arrived meanwhile get their place.
  setImmediate(turn);
}

function turn(): void {
  turnArmed = false;
  runNext();
  if (fair.size > 0) armTurn();
}

/** Before a snapshot or stop, what arrived first runs first (as when delivery was immediate). */
function flush(): void {
  while (runNext());
}

function runNext(): boolean {
  const next = fair.take();
  if (next === undefined) return false;
  const left = (queuedOf.get(next.item.iid) ?? 1) - 1;
  if (left > 0) queuedOf.set(next.item.iid, left);
  else queuedOf.delete(next.item.iid);
  run(next.item, next.app);
  return true;
}

function run(d: EnvDelivery, app: string | undefined): void {
  const inst = instances.get(d.iid);
  const ch = inst?.channels.get(d.module);
  if (inst !== undefined && ch !== undefined) {
    inst.arrival = d.at;
    const t0 = performance.now();
    try {
      ch.receive(d.env);
    } catch (e) {
      // Only a broken engine throws out of a sandbox: the instance is lost, the thread goes on.
      post({ t: 'fault', iid: d.iid, module: `${inst.spec.app}/${d.module}`, error: engineFault(inst.engine, inst.spec.app, e) });
    } finally {
      const ms = performance.now() - t0;
      if (app !== undefined) fair.charge(app, ms);
      busyMs += ms;
      served++;
    }
  }
}

function snapshot(rid: number, iid: string, queued?: number): void {
  const r = take(iid, queued);
  post('error' in r ? { t: 'snapshot', rid, error: r.error } : { t: 'snapshot', rid, states: r.states, ...(queued === undefined ? {} : { queued }) });
}

/** The states of an instance's server and mutable modules (and an app-wide one's storage). */
function take(iid: string, queued = 0): SnapshotResult {
  const inst = instances.get(iid);
  if (inst === undefined) return { error: `no instance ${iid}` };
  const states: Record<string, Uint8Array> = {};
  for (const m of inst.sandbox.modules()) {
    if (m.entry.kind !== 'mutable' && m.entry.kind !== 'server') continue;
    const r = m.snapshot();
    if (r.ok) states[m.name] = r.value;
  }
  if (inst.spec.session === '*') {
    const st = inst.sandbox.storage;
    states[APP_STORAGE] = new Uint8Array(Buffer.from(JSON.stringify(Object.fromEntries(st.keys().map((k) => [k, st.get(k)]))), 'utf8'));
  }
  return { states, queued };
}

function stop(rid: number, iid: string): void {
  const inst = instances.get(iid);
  if (inst !== undefined) {
    for (const ch of inst.channels.values()) ch.close();
    inst.sandbox.destroy();
    engines.release(inst.engine);
    instances.delete(iid);
  }
  post({ t: 'stopped', rid });
}

/** Starts not yet answered, by instance: a stop that overtakes one waits for its answer, then
 *  stops what it started (wave 20: it was answered at once and the instance ran on, unowned). */
const starting = new Map<string, Promise<void>>();

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'start': {
      const iid = m.spec.iid;
      const p = start(m.spec).catch((e: unknown) => post({ t: 'started', iid, ok: false, error: (e as Error).message }));
      starting.set(iid, p);
      void p.finally(() => starting.get(iid) === p && starting.delete(iid));
      return;
    }
    case 'env':
      deliver({ iid: m.iid, module: m.module, env: m.env, at: m.at });
      return;
    case 'envs':
      for (const d of m.list) deliver(d);
      return;
    case 'snapshot':
      // A checkpoint (flush: false) leaves the queue in its fair order: envelopes still waiting
      // were not answered, so the snapshot need not cover them; the node re-marks the instance.
      if (m.flush === false) return snapshot(m.rid, m.iid, queuedOf.get(m.iid) ?? 0);
      flush();
      snapshot(m.rid, m.iid);
      return;
    case 'snapshots':
      // [wave 17] A checkpoint round's snapshots of this thread's instances, in one message each way.
      post({ t: 'snapshots', rid: m.rid, results: m.iids.map((iid) => take(iid, queuedOf.get(iid) ?? 0)) });
      return;
    case 'stop': {
      flush();
      const pending = starting.get(m.iid);
      if (pending === undefined) stop(m.rid, m.iid);
      else void pending.then(() => stop(m.rid, m.iid));
      return;
    }
  }
});

// [19.6] The load report's pass over the instances, SWEEP_BATCH per turn: a request that arrives
// meanwhile waits behind one batch, not behind every instance on the thread (load-sweep.ts).
const SWEEP_BATCH = num(tuning.sweepBatch) ?? 256;
let pass = { inflight: 0, slices: 0, waits: [] as ModuleWaits[] };
const sweep: LoadSweep<Instance> = new LoadSweep<Instance>({
  items: () => instances.values(),
  batch: SWEEP_BATCH,
  defer: (fn) => void setImmediate(fn).unref(),
  visit: (i) => {
    for (const ch of i.channels.values()) pass.inflight += ch.pending;
    if (i.guards.size > 0)
      for (const [module, g] of i.guards) {
        pass.waits.push({ iid: i.spec.iid, module, ...g.snapshot() });
        busyMs += g.cpuMs;
        g.cpuMs = 0;
      }
    pass.slices += i.sandbox.slices;
  },
  done: () => {
    const { inflight, slices, waits } = pass;
    const w = warmth.stats();
    const sandbox = { ...fair.stats(), ...engines.stats(), engineBytes: engines.memoryBytes(), lagMs: Math.round(lag.value()), slices, warm: w.warm, warmHits: w.hits, warmMisses: w.misses, sweep: { ...sweep.stats }, threadCpu: { ...cpu.stats } };
    post({ t: 'load', busyMs, served, inflight, sandbox, ...(waits.length === 0 ? {} : { waits }) });
    busyMs = 0;
  },
  onError: (e) => post({ t: 'log', iid: '', module: '', level: 'error', text: `load report: ${(e as Error).message}` }),
});
setInterval(() => {
  if (sweep.running) return void sweep.start(); // counted as overlapped: the pass under way reports
  pass = { inflight: 0, slices: 0, waits: [] };
  sweep.start();
}, 500).unref();

post({ t: 'ready' });
