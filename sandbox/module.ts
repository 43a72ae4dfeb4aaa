// One module in its own QuickJS context: lifecycle (loaded -> started -> paused -> destroyed),
// events in (messages, requests, keys, timers), snapshot/restore of mutable state. A fatal fault
// destroys the module; every handle it kept is disposed before its context.

import type { QuickJSContext, QuickJSHandle } from 'quickjs-emscripten';
import { type Address, fail, ok, type Result } from '../runtime/index.ts';
import type { ModuleEntry, VerifiedModule } from '../runtime/app/index.ts';
import type { AppCore, ModuleStats } from './app-core.ts';
import { SandboxError, type SandboxFault } from './errors.ts';
import { callGuest, evalModule, type GuestTarget, promiseState, readResult } from './guest-call.ts';
import { installWeft, namesLog } from './host-api.ts';
import { HandleLedger } from './ledger.ts';
import type { MessageLink } from './link.ts';
import { ModuleHost, type HostOwner } from './module-host.ts';
import { PromiseWatch, type Settle } from './watch.ts';
import type { PreparedContext } from './warm.ts';

export type ModuleState = 'loaded' | 'started' | 'paused' | 'destroyed';
export type { ModuleStats } from './app-core.ts';

const OK: Result<void, SandboxError> = Object.freeze(ok(undefined));

type Queued = { kind: 'message'; body: unknown; from: Address } | { kind: 'request'; body: unknown; from: Address; done: Settle };


export class ModuleSandbox {
  readonly name: string;
  readonly entry: ModuleEntry;
  /** This module's virtual address [c31, c33]. */
  readonly address: string;
  readonly ctx: QuickJSContext;
  #app: AppCore;
  #where: string;
  #ledger = new HandleLedger();
  #target: GuestTarget & HostOwner;
  #host: ModuleHost;
  #watch: PromiseWatch;
  #ns: QuickJSHandle | undefined;
  #due: number[] = [];
  #queue: Queued[] = [];
  #state: ModuleState = 'loaded';
  #fault: SandboxError | undefined;
  #stats = { events: 0, dropped: 0 };

  /** @internal Made by AppSandbox.load, which then calls evaluate(). */
  constructor(app: AppCore, mod: VerifiedModule, prepared: PreparedContext, link: MessageLink | undefined) {
    const ctx = prepared.ctx;
    this.#app = app;
    this.name = mod.entry.name;
    this.entry = mod.entry;
    this.ctx = ctx;
    this.#where = `${app.app}/${this.name}`;
    // App and session were checked by AppSandbox, the name by the manifest schema [c33].
    this.address = `weft://${app.app}/${app.session}/${this.name}`;
    // Intrinsics the host relies on were taken before any module code could replace them.
    const parse = this.#ledger.hold(prepared.parse);
    this.#target = {
      app,
      ctx,
      parse,
      name: this.name,
      ledger: this.#ledger,
      record: (fault, detail) => this.#record(fault, detail),
      stopping: () => this.#state === 'destroyed' || this.#fault !== undefined,
      onTimer: (id) => this.#op(() => this.#fire(id)),
      onSettled: () =>
        this.#op(() => {
          this.#app.pump(this.#target);
          this.#outcome();
        }),
    };
    this.#host = new ModuleHost(this.#target, link);
    this.#watch = new PromiseWatch(this.#target, this.#ledger, this.#where);
    try {
      installWeft(this.#host, { ...app.capabilities(mod.entry), log: namesLog(mod.source) }, this.address, prepared.freeze);
    } finally {
      prepared.freeze.dispose();
    }
  }

  get state(): ModuleState {
    return this.#state;
  }

  /** The fatal SandboxError that stopped the module, if one did. */
  get error(): SandboxError | undefined {
    return this.#state === 'destroyed' ? this.#fault : undefined;
  }

  stats(): ModuleStats {
    return {
      ...this.#stats,
      ...this.#host.stats(),
      queued: this.#queue.length,
      watching: this.#watch.size,
      liveHandles: this.#ledger.live,
    };
  }

  // ---- lifecycle ------------------------------------------------------------------------

  /** @internal Evaluate the verified module text (top-level code runs here, state `loaded`). */
  evaluate(source: string): Result<void, SandboxError> {
    return this.#op(() => this.#evaluate(source));
  }

  #evaluate(source: string): Result<void, SandboxError> {
    this.#host.beginEvent();
    const h = evalModule(this.#target, source, `${this.#app.app}/${this.entry.file}`, this.#app.limits.startDeadlineMs);
    if (h !== undefined) {
      this.#app.pump(this.#target);
      const st = this.#fault === undefined ? this.ctx.getPromiseState(h) : undefined;
      if (st?.type === 'fulfilled') {
        // A module namespace, or (top-level await) a promise that already gave one.
        this.#ns = this.#ledger.hold(st.notAPromise ? h.dup() : st.value);
      } else if (st !== undefined) {
        if (st.type === 'rejected') st.error.dispose();
        this.#record('invalid-module', 'top-level await did not settle while loading');
      }
      h.dispose();
    }
    return this.#outcome();
  }

  /** loaded -> started: runs the `start` handler, then what was queued. */
  start(): Result<void, SandboxError> {
    return this.#op(() => this.#start());
  }

  #start(): Result<void, SandboxError> {
    if (this.#state !== 'loaded') return fail(this.#refuse('state', `start() needs state loaded, not ${this.#state}`));
    this.#state = 'started';
    this.#emit('start', [], 'start handler');
    this.#drain();
    return this.#outcome();
  }

  /** started -> paused: runs the `pause` handler; later events queue and timers hold. */
  pause(): Result<void, SandboxError> {
    return this.#op(() => this.#pause());
  }

  #pause(): Result<void, SandboxError> {
    if (this.#state !== 'started') return fail(this.#refuse('state', `pause() needs state started, not ${this.#state}`));
    this.#emit('pause', [], 'pause handler');
    if (this.#state === 'started') this.#state = 'paused';
    return this.#outcome();
  }

  /** paused -> started: runs the `resume` handler, fires held timers, delivers the queue. */
  resume(): Result<void, SandboxError> {
    return this.#op(() => this.#resume());
  }

  #resume(): Result<void, SandboxError> {
    if (this.#state !== 'paused') return fail(this.#refuse('state', `resume() needs state paused, not ${this.#state}`));
    this.#state = 'started';
    this.#emit('resume', [], 'resume handler');
    this.#drain();
    return this.#outcome();
  }

  /** Any state -> destroyed: queued requests fail, every handle is disposed. Idempotent. */
  destroy(): void {
    this.#op(() => this.#stop(undefined));
  }

  // ---- events in ------------------------------------------------------------------------

  /** A `msg` for this module, to its `message` handler (queued while loaded or paused). */
  deliver(body: unknown, from: Address): Result<void, SandboxError> {
    return this.#op(() => this.#deliver(body, from));
  }

  #deliver(body: unknown, from: Address): Result<void, SandboxError> {
    if (this.#state === 'destroyed') return fail(this.#refuse('state', 'the module is destroyed'));
    if (this.#state !== 'started') return this.#enqueue({ kind: 'message', body, from });
    this.#emit('message', [body, from], 'message handler');
    return this.#outcome();
  }

  /** A `req` for this module: resolves with what its `request` handler returned (or resolved). */
  serve(body: unknown, from: Address): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const done: Settle = { resolve, reject };
      if (this.#state === 'destroyed') return reject(this.#refuse('state', 'the module is destroyed'));
      if (this.#state === 'started') return this.#op(() => this.#serveNow(body, from, done));
      const q = this.#enqueue({ kind: 'request', body, from, done });
      if (!q.ok) reject(q.error);
    });
  }

  /** A remote-control key; only modules that declare `ui` get keys, and only while started. */
  key(name: string): void {
    if (this.#state !== 'started' || !this.entry.uses.includes('ui')) return;
    this.#op(() => {
      this.#emit('key', [name], 'key handler');
      this.#outcome();
    });
  }

  /** A session change (`up`, `down`, `moved`) to the module's `session` handler, only while started. */
  session(change: { state: 'up' | 'down' | 'moved'; session?: string }): void {
    if (this.#state === 'started') this.#op(() => (this.#emit('session', [change], 'session handler'), this.#outcome()));
  }

  // ---- mutable state [c4, c18] ----------------------------------------------------------

  /** Call the exported snapshot() and encode its value as CBOR for the move. */
  snapshot(): Result<Uint8Array, SandboxError> {
    return this.#op(() => this.#snapshot());
  }

  #snapshot(): Result<Uint8Array, SandboxError> {
    if (this.#state === 'destroyed') return fail(this.#refuse('state', 'the module is destroyed'));
    const fn = this.#export('snapshot');
    if (fn === undefined) return fail(this.#refuse('no-handler', 'the module exports no snapshot()'));
    this.#host.beginEvent();
    const h = callGuest(this.#target, fn, [], this.#app.limits.deadlineMs, 'snapshot()');
    this.#ledger.release(fn);
    let value: unknown;
    if (h !== undefined) {
      if (promiseState(this.ctx, h) === 'value') value = readResult(this.#target, h, 'snapshot()');
      else this.#record('exception', 'snapshot() must return a value, not a promise');
      h.dispose();
    }
    this.#app.pump(this.#target);
    const out = this.#outcome();
    if (!out.ok) return out;
    try {
      return ok(this.#app.state.encode(value));
    } catch (e) {
      return fail(this.#refuse('capability', `snapshot() value cannot move: ${(e as Error).message}`));
    }
  }

  /** Decode CBOR state and pass it to the exported restore(state); only while loaded. */
  restore(bytes: Uint8Array): Result<void, SandboxError> {
    return this.#op(() => this.#restore(bytes));
  }

  #restore(bytes: Uint8Array): Result<void, SandboxError> {
    if (this.#state !== 'loaded') return fail(this.#refuse('state', `restore() needs state loaded, not ${this.#state}`));
    let state: unknown;
    try {
      state = this.#app.state.decode(bytes);
    } catch (e) {
      return fail(this.#refuse('capability', `the state does not decode: ${(e as Error).message}`));
    }
    const fn = this.#export('restore');
    if (fn === undefined) return fail(this.#refuse('no-handler', 'the module exports no restore(state)'));
    this.#host.beginEvent();
    const h = callGuest(this.#target, fn, [state], this.#app.limits.startDeadlineMs, 'restore()');
    this.#ledger.release(fn);
    if (h !== undefined) this.#keepIfPromise(h, 'restore()');
    this.#app.pump(this.#target);
    return this.#outcome();
  }

  // ---- internals ------------------------------------------------------------------------

  /** @internal After a job pump: settle watched guest promises; stop on a recorded fault. */
  afterPump(): void {
    if (this.#state === 'destroyed' || (this.#watch.size === 0 && this.#fault === undefined)) return;
    this.#watch.check(this.#faultNow);
    this.#outcome();
  }

  #faultNow = (): SandboxError | undefined => this.#fault;

  /** @internal The app runtime stops under this module: destroy it with `cause`. */
  abort(cause: SandboxError): void {
    this.#fault ??= cause;
    this.#stop(this.#fault);
  }

  #record(fault: SandboxFault, detail: string): void {
    this.#fault ??= new SandboxError(fault, this.#where, detail);
  }

  #serveNow(body: unknown, from: Address, done: Settle): void {
    const fn = this.#host.handler('request');
    if (fn === undefined) return done.reject(this.#refuse('no-handler', 'the module registered no request handler'));
    this.#stats.events++;
    this.#host.beginEvent();
    const h = callGuest(this.#target, fn, [body, from], this.#app.limits.deadlineMs, 'request handler');
    if (h === undefined) {
      done.reject(this.#fault ?? this.#refuse('state', 'the request handler did not run'));
    } else if (promiseState(this.ctx, h) === 'value') {
      const value = readResult(this.#target, h, 'request handler');
      h.dispose();
      if (this.#fault === undefined) done.resolve(value);
      else done.reject(this.#fault);
    } else {
      this.#watch.add(this.#ledger.hold(h), 'request handler', done);
    }
    this.#app.pump(this.#target);
    this.#outcome();
  }

  #emit(kind: string, args: unknown[], what: string): void {
    const fn = this.#host.handler(kind);
    if (fn === undefined || this.#fault !== undefined) return;
    this.#stats.events++;
    this.#host.beginEvent();
    const h = callGuest(this.#target, fn, args, this.#app.limits.deadlineMs, what);
    if (h !== undefined) this.#keepIfPromise(h, what);
    this.#app.pump(this.#target);
  }

  #fire(id: number): void {
    if (this.#state === 'destroyed' || !this.#host.hasTimer(id)) return;
    if (this.#state !== 'started') {
      this.#due.push(id);
      return;
    }
    const fn = this.#host.takeTimer(id) as QuickJSHandle;
    this.#stats.events++;
    this.#host.beginEvent();
    const h = callGuest(this.#target, fn, [], this.#app.limits.deadlineMs, 'timer callback');
    this.#ledger.release(fn);
    if (h !== undefined) this.#keepIfPromise(h, 'timer callback');
    this.#app.pump(this.#target);
    this.#outcome();
  }

  /** An async handler's promise is watched so its rejection stops the module like a throw. */
  #keepIfPromise(h: QuickJSHandle, what: string): void {
    if (promiseState(this.ctx, h) === 'value') h.dispose();
    else this.#watch.add(this.#ledger.hold(h), what, undefined);
  }

  #export(name: string): QuickJSHandle | undefined {
    if (this.#ns === undefined) return undefined;
    const fn = this.ctx.getProp(this.#ns, name);
    if (this.ctx.typeof(fn) === 'function') return this.#ledger.hold(fn);
    fn.dispose();
    return undefined;
  }

  #enqueue(q: Queued): Result<void, SandboxError> {
    if (this.#queue.length >= this.#app.limits.maxQueued) {
      this.#stats.dropped++;
      return fail(this.#refuse('queue-full', `more than ${this.#app.limits.maxQueued} events queued while ${this.#state}`));
    }
    this.#queue.push(q);
    return ok(undefined);
  }

  #drain(): void {
    const live = (): boolean => this.#state === 'started' && this.#fault === undefined;
    while (live() && this.#due.length > 0) this.#fire(this.#due.shift() as number);
    while (live() && this.#queue.length > 0) {
      const q = this.#queue.shift() as Queued;
      if (q.kind === 'message') this.#emit('message', [q.body, q.from], 'message handler');
      else this.#serveNow(q.body, q.from, q.done);
    }
  }

  /** Every way into the module holds the app runtime until its handles are let go. */
  #op<T>(fn: () => T): T {
    this.#app.enter();
    try {
      return fn();
    } finally {
      this.#app.leave();
    }
  }

  #refuse(fault: SandboxFault, detail: string): SandboxError {
    return new SandboxError(fault, this.#where, detail);
  }

  /** Stop now if a fault was recorded; report how the last operation went. */
  #outcome(): Result<void, SandboxError> {
    if (this.#fault === undefined) return OK;
    this.#stop(this.#fault);
    return fail(this.#fault);
  }

  #stop(err: SandboxError | undefined): void {
    if (this.#state === 'destroyed') return;
    this.#state = 'destroyed';
    // The error is made only when someone waits for it: an Error with its stack is not free.
    if (this.#queue.length > 0 || this.#watch.size > 0) {
      const gone = err ?? this.#refuse('state', 'the module was destroyed');
      for (const q of this.#queue) if (q.kind === 'request') q.done.reject(gone);
      this.#watch.clear(gone);
    }
    this.#queue = [];
    this.#due = [];
    this.#host.stop();
    this.#ns = undefined;
    this.#ledger.disposeAll();
    this.#app.retire(this, err);
  }
}
