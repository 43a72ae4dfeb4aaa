// One version of the app running on the box: its switch, its sandbox runner, what its modules
// show, which tiers' modules run. Made by the Box when it starts an app, ended when the app stops
// or a new version replaces it. No state machine here.

import { type Channel, SESSIONS_VADDR, SessionOps, type Transport } from '../runtime/index.ts';
import { type Engine, LagMeter } from '../sandbox/index.ts';
import type { Tier } from '../carousel/index.ts';
import type { AcquiredApp } from './acquire.ts';
import { AppRunner } from './app-runner.ts';
import type { BoxEvent } from './box-events.ts';
import { cpuClock } from './cpu.ts';
import { DeviceKeyValue } from './module-cache.ts';
import type { ResolvedBoxOptions } from './options.ts';
import { BoxSwitch } from './switch.ts';
import type { RequestLedger } from './request-ledger.ts';
import type { SwitchLinger } from './switch-linger.ts';

export const FALLBACK_TIERS: readonly Tier[] = ['fallback-1', 'fallback-2'];

/** session.close: the head-end ends `session` (its portion, its record, its place in the box's quota). */
export const closeSession = (loader: Channel, session: string): Promise<unknown> => loader.request({ vaddr: SESSIONS_VADDR }, { session }, { op: SessionOps.close, timeoutMs: 1000 });

export class RunningApp {
  readonly switch: BoxSwitch;
  readonly runner: AppRunner;
  readonly scenes = new Map<string, unknown>();
  #app: AcquiredApp;
  #emit: (e: BoxEvent) => void;
  /** Faults reported through onFault, so a failed start is not printed a second time (issue 16). */
  #faults = 0;
  /** The last module event, when a fault: the same fault again with no module event between is the same one. */
  #lastFault: string | undefined;

  /** `expecting`: is a session on its way? Modules' requests for the head-end then wait for it. */
  constructor(app: AcquiredApp, o: ResolvedBoxOptions & { engine: Engine; linger: SwitchLinger }, transport: Transport | undefined, emit: (e: BoxEvent) => void, ledger: RequestLedger, expecting?: () => boolean) {
    this.#app = app;
    this.#emit = emit;
    const p = o.profile;
    const name = app.manifest.app;
    this.switch = new BoxSwitch({ app: name, boxId: o.boxId, cpu: o.cpu, clock: o.clock, timeoutMs: o.requestTimeoutMs, ledger, linger: o.linger, afterEntry: (m) => void this.runner.checkMemory(m), expecting, traceparent: o.traceparent });
    if (transport !== undefined) this.switch.attach(transport);
    this.runner = new AppRunner({
      engine: o.engine,
      app: name,
      limits: o.limits,
      clock: cpuClock(o.clock, o.cpu),
      cpu: o.cpu,
      storage: new DeviceKeyValue(o.storage, name),
      device: { boxId: o.boxId, profile: p.id, cpuClass: p.cpuClass, appMemoryBytes: p.appMemoryBytes, storageBytes: p.storageBytes, twoWay: p.channels.twoWay },
      switch: this.switch,
      ui: (scene, module) => {
        this.scenes.set(module, scene);
        emit({ kind: 'scene', module, scene });
      },
      log: (module, level, message) => emit({ kind: 'log', module, level, message }),
      onFault: (err) => {
        this.#faults++;
        // `where` is `app/module`; events name the module alone, as every other module event does.
        this.#module({ kind: 'module', module: err.where.slice(err.where.indexOf('/') + 1), action: 'fault', detail: err.message });
      },
      memoryLimit: p.appMemoryBytes,
      // [issue 13.3] deadlines stretch by the lag the box measures, so a loaded box keeps healthy code.
      // [issue 19] an emulated fleet hands its boxes one meter per process (D97); a box alone has its own.
      lag: o.lag?.() ?? new LagMeter({ clock: o.clock, now: () => o.clock.now() }),
      onSupervision: (e) => {
        this.#module({ kind: 'module', module: e.module, action: e.action, detail: e.detail });
        // A module past its restart budget says so on screen instead of leaving it dead.
        if (e.action === 'failed' && this.#app.modules.get(e.module)?.entry.uses.includes('ui') === true) {
          const scene = { failed: true, module: e.module, reason: e.detail };
          this.scenes.set(e.module, scene);
          emit({ kind: 'scene', module: e.module, scene });
        }
      },
    });
  }

  get app(): AcquiredApp {
    return this.#app;
  }

  /** More tiers of the same version arrived (same manifest): their modules become startable. */
  adopt(app: AcquiredApp): void {
    if (app.manifestSha === this.#app.manifestSha) this.#app = app;
  }

  /** [c45.1] the client portion runs first, before any server portion exists. */
  async startBoot(): Promise<void> {
    for (const mod of this.#app.modules.values()) if (mod.entry.kind === 'client' && mod.entry.tier === 'boot') await this.#start(mod.entry.name);
  }

  /** Modules of the boot tier and the first `fallbacks` fallback tiers that run here without a
   *  session: client ones, and the mutable ones the carousel sent for degraded mode [c2]. */
  async startLocal(fallbacks: number): Promise<void> {
    const tiers = new Set<Tier>(['boot', ...FALLBACK_TIERS.slice(0, fallbacks)]);
    for (const mod of this.#app.modules.values()) {
      if (tiers.has(mod.entry.tier) && (mod.entry.kind === 'client' || mod.entry.kind === 'mutable')) await this.#start(mod.entry.name);
    }
  }

  /** Stop: the session (if any) is closed first, then the switch and the sandbox go. */
  async end(session: string | undefined): Promise<void> {
    const loader = this.switch.loader;
    if (session !== undefined && loader !== undefined) {
      await closeSession(loader, session).catch(() => undefined);
    }
    this.switch.detach();
    this.runner.destroy();
  }

  async #start(name: string): Promise<void> {
    const mod = this.#app.modules.get(name);
    if (mod === undefined || this.runner.has(name)) return;
    const faults = this.#faults;
    const r = await this.runner.start(mod);
    if (r.ok) this.#module({ kind: 'module', module: name, action: 'started' });
    else if (this.#faults === faults) this.#module({ kind: 'module', module: name, action: 'fault', detail: r.error.message });
  }

  // A failed start and the fault its runtime reports can come in either order under load: one event.
  #module(e: Extract<BoxEvent, { kind: 'module' }>): void {
    const fault = e.action === 'fault' ? `${e.module}\n${e.detail ?? ''}` : undefined;
    if (fault !== undefined && fault === this.#lastFault) return;
    this.#lastFault = fault;
    this.#emit(e);
  }
}
