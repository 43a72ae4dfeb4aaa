// The app on the box: one AppSandbox (memory limit from the device profile) with the verified
// modules loaded into it, each wired to the switch [c18], and supervised: a module stopped by a
// fault restarts from its last snapshot within a restart budget, and when the app runtime itself
// stops (a promise storm, a failed engine) a new one is made and every module restarts [issue
// 13.3]. Every entry into guest code goes through the CPU port. Loads only VerifiedModule values.

import { type Clock, type Result, type TimerHandle, fail, ok } from '../runtime/index.ts';
import type { VerifiedModule } from '../runtime/app/index.ts';
import { AppSandbox, type Engine, type KeyValueStore, type LagHandle, type ModuleSandbox, SandboxError, type SandboxLimits } from '../sandbox/index.ts';
import type { Cpu } from './ports.ts';
import { RestartBudget, resolveSupervision, type SupervisionOptions } from './supervisor.ts';
import { type BoxSwitch, LOCAL_SESSION } from './switch.ts';

/** What a fresh QuickJS instance holds (this build starts at 16 MiB). */
const ENGINE_START_BYTES = 16 * 1024 * 1024;

export interface AppRunnerOptions {
  engine: Engine;
  app: string;
  limits: Partial<SandboxLimits>;
  /** Timers of the modules, restarts and checkpoints; their callbacks enter guest code through `cpu`. */
  clock: Clock;
  cpu: Cpu;
  storage: KeyValueStore;
  device: Record<string, unknown>;
  switch: BoxSwitch;
  ui: (scene: unknown, module: string) => void;
  /** weft.log.* and console.* lines of the app's modules (bounded per module by the sandbox). */
  log?: (module: string, level: 'debug' | 'info' | 'warn' | 'error', text: string) => void;
  onFault: (err: SandboxError) => void;
  /** The profile's memory for apps, bytes: a module whose entry takes the app past it is stopped. */
  memoryLimit: number;
  /** Restart budget, backoff and checkpoint period. Default DEFAULT_SUPERVISION. */
  supervision?: Partial<SupervisionOptions>;
  /** Told when a module restarted, or failed for good (its budget spent). */
  onSupervision?: (e: SupervisionEvent) => void;
  /** The box's measured event-loop lag (owned here from now on: stopped by destroy()). */
  lag?: LagHandle;
}

export interface SupervisionEvent {
  module: string;
  action: 'restarted' | 'failed';
  detail: string;
}

export interface AppRunnerStats {
  restarts: number;
  /** Times the app runtime itself was remade (a storm or a failed engine stopped it). */
  runtimes: number;
  checkpoints: number;
  /** Modules that spent their restart budget, with the fault that ended them. */
  failed: Record<string, string>;
  faults: number;
  lagMs: number;
}

export class AppRunner {
  #o: AppRunnerOptions;
  #sandbox: AppSandbox;
  #checkedAt = -Infinity;
  /** The last heap figure, and the runtime and count of entries and modules it was taken at. */
  #memo: { at: unknown; key: string; bytes: number } | undefined;
  #budget: RestartBudget;
  /** Modules this box runs and keeps running: name -> verified module (restarted after a fault). */
  #kept = new Map<string, VerifiedModule>();
  #snaps = new Map<string, Uint8Array>();
  /** Modules that export no snapshot(): not asked again. */
  #noSnapshot = new Set<string>();
  #restartTimer: TimerHandle | undefined;
  #checkpointTimer: TimerHandle | undefined;
  #checkpointedAt = -1;
  /** What the last checkpoint took, ms (the next waits at least 50 times that). */
  #spent = 0;
  #destroyed = false;
  #stats = { restarts: 0, runtimes: 0, checkpoints: 0, faults: 0 };

  constructor(options: AppRunnerOptions) {
    this.#o = options;
    this.#budget = new RestartBudget(resolveSupervision(options.supervision), () => options.clock.now());
    this.#sandbox = this.#newSandbox();
    options.lag?.start();
    this.#awaitGuest();
  }

  /** The app's sandbox now (a new one after the runtime was remade). */
  get sandbox(): AppSandbox {
    return this.#sandbox;
  }

  /** Names of the modules running (started or paused). */
  running(): string[] {
    return this.#sandbox.modules().filter((m) => m.state === 'started' || m.state === 'paused').map((m) => m.name);
  }

  has(name: string): boolean {
    return this.#sandbox.module(name) !== undefined;
  }

  /** Load, restore (a mutable module arriving with state) and start; then route its messages here. */
  start(mod: VerifiedModule, state?: Uint8Array): Promise<Result<ModuleSandbox, SandboxError>> {
    this.#kept.set(mod.entry.name, mod);
    this.#budget.forget(mod.entry.name);
    this.#noSnapshot.delete(mod.entry.name);
    if (state !== undefined) this.#snaps.set(mod.entry.name, state);
    return this.#runtime().then((r) => (r.ok ? this.#o.cpu.run(() => this.#startNow(mod, state)) : r));
  }

  /** The app runtime, remade first when a storm or a failed engine stopped it (the supervisor's
   *  restart then finds it up): a session setup meanwhile is not refused by a dead runtime. */
  async #runtime(): Promise<Result<void, SandboxError>> {
    if (!this.#sandbox.destroyed || this.#destroyed) return ok(undefined);
    if (this.#o.engine.broken !== undefined) await this.#o.engine.renew().catch(() => undefined);
    if (!this.#sandbox.destroyed || this.#destroyed) return ok(undefined);
    try {
      this.#sandbox = this.#newSandbox();
      this.#checkpointedAt = -1; // a new runtime counts its entries from 0
      this.#awaitGuest(); // the old runtime's wake-up went with it
      this.#stats.runtimes++;
      return ok(undefined);
    } catch (e) {
      const err = e instanceof SandboxError ? e : new SandboxError('engine', this.#o.app, (e as Error).message);
      this.#o.onFault(err);
      return fail(err);
    }
  }

  #startNow(mod: VerifiedModule, state: Uint8Array | undefined): Result<ModuleSandbox, SandboxError> {
    const name = mod.entry.name;
    const loaded = this.#sandbox.load(mod, { link: this.#o.switch.link(name) });
    if (!loaded.ok) return loaded;
    const m = loaded.value;
    if (state !== undefined) {
      const r = m.restore(state);
      if (!r.ok) {
        m.destroy();
        return fail(r.error);
      }
    }
    const s = m.start();
    if (!s.ok) return fail(s.error);
    const over = this.checkMemory(name);
    if (over !== undefined) return fail(over);
    this.#o.switch.setLocal(name, m);
    return ok(m);
  }

  /**
   * The memory watch: after guest code of `name` ran, the app's heap (QuickJS's own accounting)
   * must be within the profile's app memory; past it, that module is stopped as a memory fault.
   * Measured at most every 20 ms (it walks the heap).
   */
  checkMemory(name: string): SandboxError | undefined {
    const now = performance.now();
    if (now - this.#checkedAt < 20) return undefined;
    this.#checkedAt = now;
    const used = this.memoryUsed();
    const m = this.#sandbox.module(name);
    if (used <= this.#o.memoryLimit || m === undefined) return undefined;
    const err = new SandboxError('memory', `${this.#o.app}/${name}`, `the app uses ${used} bytes, over the ${this.#o.memoryLimit} bytes this box has for apps`);
    m.destroy();
    this.#faulted(err);
    return err;
  }

  /** Pause a mutable module and take its state for a move (its messages are held meanwhile). */
  freeze(name: string): Promise<Result<Uint8Array, SandboxError>> {
    return this.#o.cpu.run(() => {
      const m = this.#sandbox.module(name);
      if (m === undefined) return fail(new SandboxError('state', `${this.#o.app}/${name}`, 'not loaded'));
      this.#o.switch.hold(name);
      if (m.state === 'started') {
        const p = m.pause();
        if (!p.ok) return fail(p.error);
      }
      const s = m.snapshot();
      if (s.ok) this.#snaps.set(name, s.value);
      return s;
    });
  }

  /** Undo freeze(): the module stays on the box and gets what waited. */
  thaw(name: string): Promise<void> {
    return this.#o.cpu.run(() => {
      const m = this.#sandbox.module(name);
      if (m === undefined) return;
      if (m.state === 'paused') m.resume();
      if (m.state === 'started') this.#o.switch.setLocal(name, m);
      else this.#o.switch.remove(name);
    });
  }

  /** Stop a module here (it moved to the head-end, or the app ends): not restarted. */
  stop(name: string): void {
    this.#kept.delete(name);
    this.#snaps.delete(name);
    this.#sandbox.module(name)?.destroy();
  }

  pressKey(key: string): Promise<void> {
    return this.#o.cpu.run(() => {
      this.#sandbox.pressKey(key);
      const ui = this.#sandbox.modules().find((m) => m.entry.uses.includes('ui'));
      if (ui !== undefined) this.checkMemory(ui.name);
    });
  }

  /** Tell every running module the session changed (`weft.on('session', ...)`, issue 16). */
  sessionChanged(change: { state: 'up' | 'down' | 'moved'; session?: string }): Promise<void> {
    return this.#o.cpu.run(() => {
      for (const m of this.#sandbox.modules()) m.session(change);
    });
  }

  /** Bytes the app's runtime uses now (0 before the first module is loaded). Measuring walks the
   *  heap (~1-2 ms), so the figure is kept until guest code runs or a module comes or goes, the
   *  only times the heap changes: a report every 5 s walked it on every idle box (bench rollout:
   *  ~7% of a fleet's CPU). The watch still measures after every entry (at most every 20 ms). */
  memoryUsed(): number {
    const sb = this.#sandbox;
    const key = `${sb.entries}/${sb.modules().length}`;
    const m = this.#memo;
    if (m?.at === sb && m.key === key) return m.bytes;
    const bytes = sb.modules().length === 0 ? 0 : (sb.memoryUsed() ?? 0);
    this.#memo = { at: sb, key, bytes };
    return bytes;
  }

  stats(): AppRunnerStats {
    return { ...this.#stats, failed: Object.fromEntries(this.#budget.failed()), lagMs: Math.round(this.#o.lag?.value() ?? 0) };
  }

  destroy(): void {
    this.#destroyed = true;
    for (const h of [this.#restartTimer, this.#checkpointTimer]) if (h !== undefined) this.#o.clock.clearTimeout(h);
    this.#o.lag?.stop();
    for (const m of this.#sandbox.modules()) this.#o.switch.remove(m.name);
    this.#sandbox.destroy();
    // The app went: give its grown WebAssembly memory back, unless another runtime (a fleet
    // sharing one engine, or the next version already started) still lives in the instance.
    const e = this.#o.engine;
    // A refusal (a runtime made while the fresh instance loaded keeps the old one) or a failed
    // instantiate leaves the grown instance in use: nothing is lost but the memory, given back at
    // the next app's exit. The engine counts only renewals that took (`renewals`).
    if (e.liveRuntimes() === 0 && e.memoryBytes() > ENGINE_START_BYTES) e.renew().catch(() => undefined);
  }

  // ---- supervision [issue 13.3] -----------------------------------------------------------

  #newSandbox(): AppSandbox {
    const o = this.#o;
    return new AppSandbox(o.engine, {
      app: o.app,
      side: 'box',
      session: LOCAL_SESSION,
      limits: o.limits,
      clock: o.clock,
      now: () => o.cpu.now(),
      storage: o.storage,
      device: o.device,
      ui: o.ui,
      log: o.log, // (passed as they are: undefined is none)
      lag: o.lag,
      onFault: (err) => this.#faulted(err),
    });
  }

  /** A module was stopped by `err` (or the runtime went): route it away, plan its restart. */
  #faulted(err: SandboxError): void {
    // A stopped module no longer answers here; its messages are unreachable, not lost silently.
    for (const name of this.#kept.keys()) if (this.#sandbox.module(name) === undefined) this.#o.switch.remove(name);
    this.#stats.faults++;
    this.#o.onFault(err);
    if (this.#destroyed) return;
    const slash = err.where.indexOf('/');
    const name = slash < 0 ? undefined : err.where.slice(slash + 1);
    // The runtime went (siblings of a storm get a non-fatal 'state' cause naming the app): they
    // restart with a new runtime, not charged to their budget.
    if (!err.fatal || name === undefined) return this.#planRestart(this.#budget.options.backoffMs);
    if (!this.#kept.has(name)) return;
    const v = this.#budget.onFault(name, err.message);
    if (v.action === 'restart') return this.#planRestart(v.delayMs);
    this.#kept.delete(name);
    this.#o.onSupervision?.({ module: name, action: 'failed', detail: `stopped ${v.restarts + 1} times within ${this.#budget.options.windowMs} ms; last: ${err.message}` });
  }

  #planRestart(delayMs: number): void {
    if (this.#destroyed || this.#restartTimer !== undefined) return;
    this.#restartTimer = this.#o.clock.setTimeout(() => {
      this.#restartTimer = undefined;
      void this.#restart();
    }, delayMs);
  }

  /** Bring back every kept module that is not running, each from its last snapshot. */
  async #restart(): Promise<void> {
    if (this.#destroyed) return;
    if (!(await this.#runtime()).ok) return this.#planRestart(this.#budget.options.maxBackoffMs);
    for (const [name, mod] of [...this.#kept]) {
      if (this.#destroyed || this.#sandbox.module(name) !== undefined || !this.#kept.has(name)) continue;
      const r = await this.#o.cpu.run(() => this.#startNow(mod, this.#snaps.get(name)));
      if (!r.ok) continue; // its fault was reported and planned by #faulted
      this.#stats.restarts++;
      this.#o.onSupervision?.({ module: name, action: 'restarted', detail: this.#snaps.has(name) ? 'from its last snapshot' : 'from its initial state' });
    }
  }

  // A checkpoint comes checkpointMs after guest code ran, and no sooner than 50 times what the
  // last one took: at most 2% of the box's time (a search index of a day's listings, snapshotted
  // every second while keys are pressed, was 30% of the key-pressing fleet's CPU in bench rollout
  // at 1,000 boxes). No guest code, no timer: an idle box's checkpoint woke it every second for
  // nothing (~40% of an idle fleet process's loop turns).
  #armCheckpoint(): void {
    if (this.#destroyed || this.#checkpointTimer !== undefined) return;
    this.#checkpointTimer = this.#o.clock.setTimeout(() => {
      this.#checkpointTimer = undefined;
      const t = performance.now();
      this.#checkpoint();
      this.#spent = performance.now() - t;
      this.#awaitGuest();
    }, Math.max(this.#budget.options.checkpointMs, 50 * this.#spent));
  }

  #awaitGuest(): void {
    if (!this.#destroyed) this.#sandbox.onNextEntry(() => this.#armCheckpoint());
  }

  /** The state a restart resumes from: each started module that exports snapshot(). Skipped when
   *  no guest code ran since the last one (a module's state changes only when its code runs):
   *  an idle box takes no snapshots [issue 19: 43% of an idle fleet's CPU]. */
  #checkpoint(): void {
    if (this.#sandbox.entries === this.#checkpointedAt) return;
    for (const m of this.#sandbox.modules()) {
      if (m.state !== 'started' || !this.#kept.has(m.name) || this.#noSnapshot.has(m.name)) continue;
      const s = m.snapshot();
      if (s.ok) {
        this.#snaps.set(m.name, s.value);
        this.#stats.checkpoints++;
      } else if (s.error.fault === 'no-handler') {
        this.#noSnapshot.add(m.name);
      }
    }
    this.#checkpointedAt = this.#sandbox.entries; // after the snapshots: their own entries are not news
  }
}
