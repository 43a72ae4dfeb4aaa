// One app's sandbox: one QuickJS runtime (memory and stack limits from the device profile), one
// context per module, the deadline interrupt and the watchdog, the promise-job pump, per-app
// storage. Box and head-end run the same module artifacts in it; `side` says which one this is.

import type { QuickJSContext, QuickJSRuntime } from 'quickjs-emscripten';
import { ArgumentError, type Clock, fail, formatVaddr, ok, rejectUnknown, type Result, systemClock } from '../runtime/index.ts';
import { type ModuleEntry, servicesUsed, StateCodec, type VerifiedModule } from '../runtime/app/index.ts';
import type { AppCore, EntryRun, JobOrigin, Retiring } from './app-core.ts';
import type { Engine } from './engine.ts';
import type { LagSource } from './lag.ts';
import { PROCESS_CPU_READING, StarveCheck, processCpuMs } from './starve.ts';
import { SandboxError } from './errors.ts';
import type { Capabilities } from './host-api.ts';
import { resolveLimits, type SandboxLimits } from './limits.ts';
import type { ServiceHandler } from './link.ts';
import { admitModule } from './admit.ts';
import { classify, describeThrown } from './marshal.ts';
import { ModuleSandbox } from './module.ts';
import { AppStorage, type KeyValueStore, MemoryStore } from './storage.ts';
import { OPTION_KEYS, type AppSandboxOptions, type LoadOptions } from './app-options.ts';
import { disposePrepared, isWarmRuntime, namesTypedArrays, type PreparedContext, prepareContext } from './warm.ts';

export type { AppSandboxOptions, LoadOptions } from './app-options.ts';

export class AppSandbox implements AppCore {
  readonly app: string;
  readonly side: 'box' | 'headend';
  readonly session: string;
  readonly limits: Readonly<SandboxLimits>;
  readonly clock: Clock;
  #storage: AppStorage | undefined;
  #store: KeyValueStore | undefined;
  #state: StateCodec | undefined;
  readonly device: unknown;
  readonly ui: ((scene: unknown, module: string) => void) | undefined;
  readonly log: ((module: string, level: 'debug' | 'info' | 'warn' | 'error', text: string) => void) | undefined;
  readonly services: Readonly<Record<string, ServiceHandler>> | undefined;
  #now: () => number;
  #starve: StarveCheck;
  #engine: Engine;
  #onFault: ((err: SandboxError) => void) | undefined;
  #rt: QuickJSRuntime;
  /** Contexts prepared ahead (a warm runtime's), for the next modules loaded. */
  #spare: PreparedContext[];
  #modules = new Map<string, ModuleSandbox>();
  #zombies: QuickJSContext[] = [];
  #deadline = Infinity;
  #lag: LagSource | undefined;
  /** When the module operation now running began, and the lag granted to it (its slice). */
  #eventStart = 0;
  #eventLag = 0;
  #abort: (() => boolean) | undefined;
  #interrupted = false;
  #depth = 0;
  #pumping = false;
  /** Module operations on the stack: the runtime is freed only when none is (their handles first). */
  #ops = 0;
  #destroyed = false;
  #freed = false;
  #entries = 0;
  #nextEntry: (() => void) | undefined;
  #stats = { faults: 0, interruptedJobs: 0, jobs: 0, storms: 0, engineFailures: 0, slices: 0, lagMs: 0 };

  constructor(engine: Engine, options: AppSandboxOptions) {
    rejectUnknown('AppSandbox', options, OPTION_KEYS);
    if (typeof options.app !== 'string' || options.app.length === 0) throw new ArgumentError('AppSandbox: app is required', 'app');
    if (options.side !== 'box' && options.side !== 'headend') throw new ArgumentError('AppSandbox: side must be box or headend', 'side');
    if (options.side === 'box' && options.services !== undefined) throw new ArgumentError('AppSandbox: services exist on the head-end only', 'services');
    this.app = options.app;
    this.side = options.side;
    this.session = options.session ?? '*';
    try {
      formatVaddr({ app: this.app, session: this.session, module: 'probe' }); // [c33] both must fit a virtual address
    } catch (e) {
      throw new ArgumentError(`AppSandbox: ${(e as Error).message}`, 'session');
    }
    this.limits = resolveLimits('AppSandbox', options.limits);
    this.clock = options.clock ?? systemClock;
    this.#now = options.now ?? (() => performance.now());
    // The default CPU and wall clocks are the thread's own: their last reading is shared.
    this.#starve = options.cpu === undefined && options.now === undefined ? new StarveCheck(processCpuMs, PROCESS_CPU_READING) : new StarveCheck(options.cpu);
    this.#store = options.storage;
    this.device = options.device === undefined ? {} : (JSON.parse(JSON.stringify(options.device)) as unknown);
    this.ui = options.ui;
    this.log = options.log;
    this.services = options.services === undefined ? undefined : Object.freeze({ ...options.services });
    this.#onFault = options.onFault;
    this.#lag = options.lag;
    this.#engine = engine;
    if (options.warm !== undefined && (!isWarmRuntime(options.warm) || options.warm.engine !== engine)) throw new ArgumentError('AppSandbox: warm must be a WarmRuntime of the same engine', 'warm');
    const adopted = options.warm?.adopt(); // once: a warm runtime is never shared by two sandboxes
    this.#rt = adopted?.rt ?? engine.newRuntime(); // a broken engine refuses with SandboxError 'engine'
    this.#spare = adopted?.contexts ?? [];
    this.#rt.setMemoryLimit(this.limits.memoryBytes);
    this.#rt.setMaxStackSize(this.limits.stackBytes);
    // The deadline interrupt [sandbox]: polled by the engine while guest code runs.
    this.#rt.setInterruptHandler(() => {
      if (this.#now() <= this.#deadline && this.#abort?.() !== true) return false;
      // Past the deadline while the process was starved (its CPU short of the deadline's span): slow, not spinning; at most 4x as long.
      const span = this.#deadline - this.#eventStart;
      if (this.#abort?.() !== true && this.#starve.starved(this.#now(), 4 * span, span)) return false;
      this.#interrupted = true;
      return true;
    });
  }

  /** Per-app storage with its quota (made on first use). */
  get storage(): AppStorage {
    this.#storage ??= new AppStorage(this.#store ?? new MemoryStore(), this.limits.storageQuota);
    return this.#storage;
  }

  /** The CBOR codec for mutable-module state (made on first use). */
  get state(): StateCodec {
    this.#state ??= new StateCodec(this.limits.maxStateBytes);
    return this.#state;
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** Create the module's context, install `weft`, evaluate its verified text. Refusals and guest
   *  failures are values; the module is then already destroyed. */
  load(mod: VerifiedModule, options: LoadOptions = {}): Result<ModuleSandbox, SandboxError> {
    rejectUnknown('AppSandbox.load', options, ['link']);
    const refused = admitModule(this, mod, this.#destroyed, this.#modules.has(mod.entry.name));
    if (refused !== undefined) return fail(refused);
    // A cold context has only the intrinsics the text names; a warm one is taken unless it is
    // lean and the module names a typed array (D63).
    const full = namesTypedArrays(mod.source);
    let prepared = this.#spare.pop();
    if (prepared?.lean && full) prepared = void disposePrepared(prepared);
    prepared ??= prepareContext(this.#rt, !full);
    let m: ModuleSandbox;
    try {
      m = new ModuleSandbox(this, mod, prepared, options.link);
    } catch (e) {
      disposePrepared(prepared);
      return fail(new SandboxError('memory', `${this.app}/${mod.entry.name}`, `could not set up the context: ${(e as Error).message}`));
    }
    this.#modules.set(m.name, m);
    const r = m.evaluate(mod.source);
    return r.ok ? ok(m) : fail(r.error);
  }

  module(name: string): ModuleSandbox | undefined {
    return this.#modules.get(name);
  }

  modules(): ModuleSandbox[] {
    return [...this.#modules.values()];
  }

  /** A remote-control key press, to every started module that declares `ui`. */
  pressKey(key: string): void {
    if (typeof key !== 'string' || key.length === 0 || key.length > 32) throw new ArgumentError('pressKey: key must be a short string', 'key');
    for (const m of this.modules()) m.key(key);
  }

  /** Destroy every module, then the runtime (once no module operation is on the stack: a
   *  runtime freed under a live handle aborts QuickJS). Idempotent. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#holding(() => this.modules().forEach((m) => m.destroy())); // freed after the last module let go
  }

  /** Run `fn` as one module operation: the runtime is not freed before it ends. */
  #holding(fn: () => void): void {
    this.enter();
    try {
      fn();
    } finally {
      this.leave();
    }
  }

  /** @internal A module operation begins (it may hold handles until it ends). */
  enter(): void {
    if (this.#ops++ === 0) this.#beginEvent();
  }

  #beginEvent(): void {
    this.#eventStart = this.#now();
    this.#starve.begin(this.#eventStart);
    const lag = this.#lag?.value() ?? 0;
    this.#eventLag = Number.isFinite(lag) ? Math.min(Math.max(0, lag), this.limits.maxLagMs) : 0;
    this.#stats.lagMs = Math.round(this.#eventLag);
  }

  /** @internal A module operation ended: a runtime destroyed meanwhile is freed now. */
  leave(): void {
    this.#ops--;
    if (this.#ops > 0 || this.#depth > 0) return;
    if (this.#destroyed) this.#free();
    else this.#reap();
  }

  /** The engine the app's runtime lives in (its owner renews it when broken). */
  get engine(): Engine {
    return this.#engine;
  }

  #free(): void {
    if (this.#freed) return;
    this.#freed = true;
    try {
      for (const p of this.#spare) disposePrepared(p);
      this.#spare = [];
      for (const ctx of this.#zombies) if (ctx.alive) ctx.dispose();
      this.#zombies = [];
      this.#rt.removeInterruptHandler();
      this.#rt.dispose();
    } catch (e) {
      // QuickJS aborted (an internal assertion): the instance is unusable. Its owner renews it.
      this.#zombies = [];
      this.#spare = [];
      this.#engine.fail(e instanceof Error ? e.message : String(e));
      this.#stats.engineFailures++;
      try {
        this.#onFault?.(new SandboxError('engine', this.app, 'the QuickJS instance failed; it is rebuilt and the app restarts', { cause: e }));
      } catch {
        /* a faulty observer must not take the sandbox down */
      }
    }
  }

  /** Handles and contexts still alive; 0 after destroy() (tests assert it). */
  liveHandles(): number {
    let n = this.#zombies.filter((c) => c.alive).length + (this.#rt.alive ? 1 : 0);
    for (const p of this.#spare) n += [p.ctx, p.parse, p.freeze].filter((h) => h.alive).length;
    for (const m of this.#modules.values()) n += m.stats().liveHandles + (m.ctx.alive ? 1 : 0);
    return n;
  }

  /** QuickJS's estimate of the app runtime's heap, bytes (for resource reports [c5, c41]); it
   *  walks the heap, so call it per report, not per event. Undefined with no module loaded. */
  memoryUsed(): number | undefined {
    const ctx = this.#modules.values().next().value?.ctx;
    if (ctx === undefined) return undefined;
    const h = this.#rt.computeMemoryUsage();
    try {
      return (ctx.dump(h) as { memory_used_size: number }).memory_used_size;
    } finally {
      h.dispose();
    }
  }

  /** Slices so far (stats().slices without the object, for the load sweep's pass over every instance). */
  get slices(): number {
    return this.#stats.slices;
  }

  stats(): { faults: number; interruptedJobs: number; jobs: number; storms: number; engineFailures: number; slices: number; lagMs: number; modules: number; zombies: number } {
    return { ...this.#stats, modules: this.#modules.size, zombies: this.#zombies.length };
  }

  // ---- AppCore ----------------------------------------------------------------------------

  capabilities(entry: ModuleEntry): Capabilities {
    const services = servicesUsed(entry);
    return {
      storage: entry.uses.includes('storage'),
      device: entry.uses.includes('device'),
      ui: entry.uses.includes('ui'),
      services: this.services !== undefined && services.length > 0 ? services : undefined,
    };
  }

  exhausted(): boolean {
    return this.#engine.exhausted();
  }

  /** Entries into guest code so far: a caller that reads the same count twice knows no guest code ran in between. */
  get entries(): number {
    return this.#entries;
  }

  /** `fn` runs once, at the next entry into guest code (before it): a waiter on guest activity needs no timer. */
  onNextEntry(fn: () => void): void {
    this.#nextEntry = fn;
  }

  runEntry<T>(deadlineMs: number, fn: () => T, abort?: () => boolean): EntryRun<T> {
    if (this.#depth > 0) throw new SandboxError('state', this.app, 're-entrant call into guest code from a host callback');
    this.#entries++;
    const wake = this.#nextEntry;
    this.#nextEntry = undefined;
    wake?.();
    if (this.#ops === 0) this.#beginEvent();
    this.#depth++;
    const start = this.#now();
    // [sandbox] the entry's own deadline, or what is left of the event's CPU slice; both
    // stretched by the measured lag, so a slow device does not stop healthy code.
    const own = start + deadlineMs;
    const slice = this.#eventStart + this.limits.sliceMs;
    const sliced = slice < own;
    this.#deadline = Math.min(own, slice) + this.#eventLag;
    this.#abort = abort;
    this.#interrupted = false;
    try {
      const value = fn();
      const elapsed = this.#now() - start;
      this.#lag?.busy(elapsed);
      if (this.#interrupted && sliced) this.#stats.slices++;
      // Asked only of an entry that overran (one CPU-time read): was the process starved meanwhile?
      const held = deadlineMs + this.limits.watchdogGraceMs + this.#eventLag;
      const starved = elapsed > deadlineMs && this.#starve.starved(this.#now(), 4 * held, held);
      return { value, elapsed, interrupted: this.#interrupted, sliced: sliced && this.#interrupted, lagMs: this.#eventLag, starved };
    } finally {
      this.#deadline = Infinity;
      this.#abort = undefined;
      this.#depth--;
    }
  }

  pump(origin: JobOrigin | undefined): void {
    if (this.#pumping || this.#destroyed || this.#depth > 0) return;
    this.#pumping = true;
    let n = 0;
    const max = this.limits.maxJobs;
    let storm: string | undefined;
    try {
      while (n < max && this.#rt.hasPendingJob()) {
        n++;
        // One job per deadline: an interrupted job must not cut short the job after it.
        const run = this.runEntry(this.limits.deadlineMs, () => this.#rt.executePendingJobs(1), origin?.stopping);
        const r = run.value;
        if (run.sliced && this.#rt.hasPendingJob()) {
          // The event's slice is spent and jobs keep coming: a storm, whatever their number.
          r.error?.dispose();
          storm = `${n} promise jobs in one event used up its ${this.limits.sliceMs} ms CPU slice with more queued`;
          break;
        }
        if (r.error) {
          const thrown = describeThrown(r.error.context, r.error);
          r.error.dispose();
          const fault = run.interrupted ? 'deadline' : thrown.undescribable && this.exhausted() ? 'memory' : classify(thrown);
          origin?.record(fault === 'stack' || fault === 'memory' || fault === 'too-large' || fault === 'deadline' ? fault : 'exception', `promise job: ${thrown.text}`);
        } else if (run.interrupted) {
          // The engine turns an interrupt inside a promise job into a rejection; the queue was
          // empty before origin's entry, so the job was origin's.
          this.#stats.interruptedJobs++;
          origin?.record('deadline', run.sliced ? `promise jobs used up the event's ${this.limits.sliceMs} ms CPU slice` : `a promise job ran past its ${this.limits.deadlineMs} ms deadline`);
        }
      }
      this.#stats.jobs += n;
    } finally {
      this.#pumping = false;
    }
    if (n >= max && this.#rt.hasPendingJob()) storm = `more than ${max} promise jobs in one event`;
    if (storm !== undefined) return this.#storm(origin, storm);
    for (const m of this.#modules.values()) m.afterPump();
    this.#reap();
  }

  /** Jobs that never drain cannot be stopped per module (they are queued in the shared runtime
   *  and call no host function), so the app runtime stops; the host and other apps go on. The
   *  runtime itself is freed when the operation that pumped has let go of its handles. */
  #storm(origin: JobOrigin | undefined, what: string): void {
    this.#stats.storms++;
    const detail = `${what} (a microtask storm); the app runtime is stopped`;
    origin?.record('storm', detail);
    const cause = new SandboxError('state', this.app, `stopped with the app runtime: ${origin?.name ?? 'a module'} caused ${detail}`);
    this.#destroyed = true; // no more pumps or loads while the modules go
    this.#holding(() => this.modules().forEach((m) => m.abort(cause)));
  }

  retire(module: Retiring, err: SandboxError | undefined): void {
    if (this.#modules.get(module.name) === module) this.#modules.delete(module.name);
    // A context with promise jobs still queued stays alive (host calls refuse) until they ran.
    this.#zombies.push(module.ctx);
    this.#reap();
    if (err !== undefined) {
      this.#stats.faults++;
      try {
        this.#onFault?.(err);
      } catch {
        /* a faulty observer must not take the sandbox down */
      }
    }
  }

  #reap(): void {
    // A context is disposed only once no module operation holds handles of it.
    if (this.#depth > 0 || this.#ops > 0 || this.#zombies.length === 0 || this.#destroyed) return;
    if (this.#rt.hasPendingJob()) {
      this.pump(undefined);
      if (this.#destroyed || this.#rt.hasPendingJob()) return;
    }
    for (const ctx of this.#zombies) ctx.dispose();
    this.#zombies = [];
  }
}
