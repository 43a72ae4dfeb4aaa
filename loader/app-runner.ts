// The app on the box: one AppSandbox (memory limit from the device profile) with the verified
// modules loaded into it, each wired to the switch [c18]. Every entry into guest code goes
// through the CPU port. Loads only VerifiedModule values: nothing unverified can run.

import { type Clock, type Result, fail, ok } from '../runtime/index.ts';
import type { VerifiedModule } from '../runtime/app/index.ts';
import { AppSandbox, type Engine, type KeyValueStore, type ModuleSandbox, SandboxError, type SandboxLimits } from '../sandbox/index.ts';
import type { Cpu } from './ports.ts';
import { type BoxSwitch, LOCAL_SESSION } from './switch.ts';

export interface AppRunnerOptions {
  engine: Engine;
  app: string;
  limits: Partial<SandboxLimits>;
  /** Timers of the modules; their callbacks enter guest code through `cpu`. */
  clock: Clock;
  cpu: Cpu;
  storage: KeyValueStore;
  device: Record<string, unknown>;
  switch: BoxSwitch;
  ui: (scene: unknown, module: string) => void;
  onFault: (err: SandboxError) => void;
  /** The profile's memory for apps, bytes: a module whose entry takes the app past it is stopped. */
  memoryLimit: number;
}

export class AppRunner {
  readonly sandbox: AppSandbox;
  #o: AppRunnerOptions;
  #checkedAt = -Infinity;

  constructor(options: AppRunnerOptions) {
    this.#o = options;
    this.sandbox = new AppSandbox(options.engine, {
      app: options.app,
      side: 'box',
      session: LOCAL_SESSION,
      limits: options.limits,
      clock: options.clock,
      now: () => options.cpu.now(),
      storage: options.storage,
      device: options.device,
      ui: options.ui,
      onFault: (err) => {
        const name = err.where.slice(err.where.indexOf('/') + 1);
        // A stopped module no longer answers here; its messages are unreachable, not lost silently.
        if (this.sandbox.module(name) === undefined) options.switch.remove(name);
        options.onFault(err);
      },
    });
  }

  /** Names of the modules running (started or paused). */
  running(): string[] {
    return this.sandbox.modules().filter((m) => m.state === 'started' || m.state === 'paused').map((m) => m.name);
  }

  has(name: string): boolean {
    return this.sandbox.module(name) !== undefined;
  }

  /** Load, restore (a mutable module arriving with state) and start; then route its messages here. */
  start(mod: VerifiedModule, state?: Uint8Array): Promise<Result<ModuleSandbox, SandboxError>> {
    return this.#o.cpu.run(() => {
      const name = mod.entry.name;
      const loaded = this.sandbox.load(mod, { link: this.#o.switch.link(name) });
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
    });
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
    const m = this.sandbox.module(name);
    if (used <= this.#o.memoryLimit || m === undefined) return undefined;
    const err = new SandboxError('memory', `${this.#o.app}/${name}`, `the app uses ${used} bytes, over the ${this.#o.memoryLimit} bytes this box has for apps`);
    m.destroy();
    this.#o.switch.remove(name);
    this.#o.onFault(err);
    return err;
  }

  /** Pause a mutable module and take its state for a move (its messages are held meanwhile). */
  freeze(name: string): Promise<Result<Uint8Array, SandboxError>> {
    return this.#o.cpu.run(() => {
      const m = this.sandbox.module(name);
      if (m === undefined) return fail(new SandboxError('state', `${this.#o.app}/${name}`, 'not loaded'));
      this.#o.switch.hold(name);
      if (m.state === 'started') {
        const p = m.pause();
        if (!p.ok) return fail(p.error);
      }
      return m.snapshot();
    });
  }

  /** Undo freeze(): the module stays on the box and gets what waited. */
  thaw(name: string): Promise<void> {
    return this.#o.cpu.run(() => {
      const m = this.sandbox.module(name);
      if (m === undefined) return;
      if (m.state === 'paused') m.resume();
      if (m.state === 'started') this.#o.switch.setLocal(name, m);
      else this.#o.switch.remove(name);
    });
  }

  /** Stop a module here (it moved to the head-end, or the app ends). */
  stop(name: string): void {
    this.sandbox.module(name)?.destroy();
  }

  pressKey(key: string): Promise<void> {
    return this.#o.cpu.run(() => {
      this.sandbox.pressKey(key);
      const ui = this.sandbox.modules().find((m) => m.entry.uses.includes('ui'));
      if (ui !== undefined) this.checkMemory(ui.name);
    });
  }

  /** Bytes the app's runtime uses now (0 before the first module is loaded). */
  memoryUsed(): number {
    return this.sandbox.modules().length === 0 ? 0 : (this.sandbox.memoryUsed() ?? 0);
  }

  destroy(): void {
    for (const m of this.sandbox.modules()) this.#o.switch.remove(m.name);
    this.sandbox.destroy();
  }
}
