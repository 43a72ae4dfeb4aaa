// The host side of one module's `weft` calls: the per-event host-call budget, event handlers,
// timers, outgoing requests (guest promises settled from host promises), storage, device, ui,
// services. Every handle it keeps is held in the module's ledger.

import type { QuickJSContext, QuickJSDeferredPromise, QuickJSHandle } from 'quickjs-emscripten';
import { type Address, Codes, formatVaddr, type TimerHandle, WeftError } from '../runtime/index.ts';
import type { GuestTarget } from './guest-call.ts';
import type { GuestLogLevel, HostOps } from './host-api.ts';
import type { HandleLedger } from './ledger.ts';
import type { MessageLink } from './link.ts';
import { guestError, toGuest } from './marshal.ts';

/** Kinds a module may register with weft.on. */
const LOG_BURST = 100;
const LOG_WINDOW_MS = 10_000;

export const EVENT_KINDS = ['message', 'request', 'key', 'start', 'pause', 'resume', 'session'] as const;

export interface HostOwner extends GuestTarget {
  readonly name: string;
  readonly ledger: HandleLedger;
  /** True once the module is destroyed or has a fatal fault recorded. */
  stopping(): boolean;
  /** A timer fell due. */
  onTimer(id: number): void;
  /** The host settled a guest promise: run the jobs it unblocked. */
  onSettled(): void;
}

export class ModuleHost implements HostOps {
  readonly ctx: QuickJSContext;
  readonly maxBodyBytes: number;
  readonly addressCache = new Map<string, Address>();
  #o: HostOwner;
  #link: MessageLink | undefined;
  #handlers = new Map<string, QuickJSHandle>();
  #timers = new Map<number, { fn: QuickJSHandle; timer: TimerHandle }>();
  #nextTimer = 1;
  #outgoing = new Set<QuickJSDeferredPromise>();
  #calls = 0;
  #bytes = 0;
  #stats = { hostCalls: 0, sendFailures: 0 };

  constructor(owner: HostOwner, link: MessageLink | undefined) {
    this.#o = owner;
    this.ctx = owner.ctx;
    this.#link = link;
    this.maxBodyBytes = owner.app.limits.maxBodyBytes;
  }

  /** A new event starts: its host-call budget is full again. */
  beginEvent(): void {
    this.#calls = 0;
    this.#bytes = 0;
  }

  handler(kind: string): QuickJSHandle | undefined {
    return this.#handlers.get(kind);
  }

  /** Remove a due timer and hand its callback over (the caller releases it). */
  takeTimer(id: number): QuickJSHandle | undefined {
    const t = this.#timers.get(id);
    if (t !== undefined) this.#timers.delete(id);
    return t?.fn;
  }

  hasTimer(id: number): boolean {
    return this.#timers.has(id);
  }

  stats(): { hostCalls: number; sendFailures: number; timers: number; pendingRequests: number } {
    return { ...this.#stats, timers: this.#timers.size, pendingRequests: this.#outgoing.size };
  }

  /** The module stops: disarm timers and forget everything (the ledger disposes the handles). */
  stop(): void {
    for (const t of this.#timers.values()) this.#o.app.clock.clearTimeout(t.timer);
    this.#timers.clear();
    this.#handlers.clear();
    this.#outgoing.clear();
  }

  // ---- HostOps ------------------------------------------------------------------------

  gate(fn: string): void {
    if (this.#o.stopping()) throw guestError('Error', `weft.${fn}: the module is stopping`);
    this.#stats.hostCalls++;
    const budget = this.#o.app.limits.maxHostCalls;
    if (++this.#calls > budget) {
      this.#o.record('host-call-budget', `more than ${budget} host calls in one event (last: weft.${fn})`);
      throw guestError('RangeError', `weft.${fn}: the host-call budget of this event is spent`);
    }
  }

  tooLarge(what: string, size: number): Error {
    this.#o.record('too-large', `${what} is ${size} characters of JSON, limit ${this.maxBodyBytes}`);
    return guestError('RangeError', `${what} is too large`);
  }

  account(size: number): void {
    const budget = this.#o.app.limits.maxHostBytes;
    this.#bytes += size;
    if (this.#bytes > budget) {
      this.#o.record('host-call-budget', `more than ${budget} characters handed to the host in one event`);
      throw guestError('RangeError', 'the host-call budget of this event is spent');
    }
  }

  send(dst: Address, body: unknown): void {
    this.#needLink('send')
      .send(dst, body)
      .catch(() => {
        this.#stats.sendFailures++;
      });
  }

  request(dst: Address, body: unknown, timeoutMs: number | undefined): QuickJSHandle {
    const link = this.#needLink('request');
    return this.#promise('weft.request', () => link.request(dst, body, timeoutMs === undefined ? {} : { timeoutMs }));
  }

  service(name: string, body: unknown, timeoutMs: number | undefined): QuickJSHandle {
    const handler = this.#o.app.services?.[name];
    if (handler === undefined) throw guestError('Error', `weft.services.request: no service "${name}" on this head-end`);
    const ms = timeoutMs ?? this.#o.app.limits.replyTimeoutMs;
    return this.#promise('weft.services.request', () => withTimeout(Promise.resolve().then(() => handler(body, ms)), ms, this.#o.app.clock, name));
  }

  on(kind: string, fn: QuickJSHandle): void {
    if (!(EVENT_KINDS as readonly string[]).includes(kind)) throw guestError('TypeError', `weft.on: unknown event "${kind}" (known: ${EVENT_KINDS.join(', ')})`);
    this.#o.ledger.release(this.#handlers.get(kind));
    this.#handlers.set(kind, this.#o.ledger.hold(fn.dup()));
  }

  setTimeout(fn: QuickJSHandle, ms: number): number {
    const max = this.#o.app.limits.maxTimers;
    if (this.#timers.size >= max) throw guestError('RangeError', `weft.setTimeout: more than ${max} timers armed`);
    const id = this.#nextTimer++;
    const timer = this.#o.app.clock.setTimeout(() => this.#o.onTimer(id), ms);
    this.#timers.set(id, { fn: this.#o.ledger.hold(fn.dup()), timer });
    return id;
  }

  clearTimeout(id: number): void {
    const t = this.#timers.get(id);
    if (t === undefined) return;
    this.#o.app.clock.clearTimeout(t.timer);
    this.#o.ledger.release(t.fn);
    this.#timers.delete(id);
  }

  address(module: string): string {
    return formatVaddr({ app: this.#o.app.app, session: this.#o.app.session, module });
  }

  storageGet(key: string): QuickJSHandle {
    const v = this.#o.app.storage.get(key);
    return v === undefined ? this.ctx.undefined : toGuest(this.ctx, this.#o.parse, JSON.parse(v));
  }

  storageSet(key: string, json: string): void {
    const s = this.#o.app.storage;
    if (!s.set(key, json)) throw guestError('QuotaError', `weft.storage.set: the app's storage quota (${s.quota} bytes) is full`);
  }

  storageDelete(key: string): void {
    this.#o.app.storage.delete(key);
  }

  storageKeys(): QuickJSHandle {
    return toGuest(this.ctx, this.#o.parse, this.#o.app.storage.keys());
  }

  deviceInfo(): QuickJSHandle {
    return toGuest(this.ctx, this.#o.parse, this.#o.app.device);
  }

  show(scene: unknown): void {
    this.#o.app.ui?.(scene, this.#o.name);
  }

  // Bounded per module: LOG_BURST lines per LOG_WINDOW_MS; the rest is counted and said once.
  #logWindow = { start: -Infinity, lines: 0, dropped: 0 };

  log(level: GuestLogLevel, text: string): void {
    const sink = this.#o.app.log;
    if (sink === undefined) return;
    const w = this.#logWindow;
    const now = this.#o.app.clock.now();
    if (now - w.start >= LOG_WINDOW_MS) {
      if (w.dropped > 0) sink(this.#o.name, 'warn', `${w.dropped} log lines dropped (over ${LOG_BURST} in ${LOG_WINDOW_MS / 1000} s)`);
      Object.assign(w, { start: now, lines: 0, dropped: 0 });
    }
    if (++w.lines > LOG_BURST) w.dropped++;
    else sink(this.#o.name, level, text);
  }

  // ---- internals ----------------------------------------------------------------------

  #needLink(fn: string): MessageLink {
    if (this.#link === undefined) throw guestError('Error', `weft.${fn}: this module has no message link`);
    return this.#link;
  }

  /** A guest promise settled later from a host promise. Returns a new handle for the guest. */
  #promise(what: string, start: () => Promise<unknown>): QuickJSHandle {
    const max = this.#o.app.limits.maxPendingRequests;
    if (this.#outgoing.size >= max) throw guestError('RangeError', `${what}: more than ${max} requests pending`);
    const d = this.#o.ledger.hold(this.ctx.newPromise());
    this.#outgoing.add(d);
    const settle = (fulfilled: boolean, v: unknown): void => {
      if (!this.#outgoing.delete(d) || this.#o.stopping()) return;
      try {
        const h = fulfilled ? toGuest(this.ctx, this.#o.parse, v) : this.#errorHandle(v);
        if (fulfilled) d.resolve(h);
        else d.reject(h);
        h.dispose();
      } catch (e) {
        this.#o.record('memory', `${what}: the reply did not fit: ${(e as Error).message}`);
      }
      this.#o.ledger.release(d);
      this.#o.onSettled();
    };
    start().then(
      (v) => settle(true, v),
      (e: unknown) => settle(false, e),
    );
    return d.handle.dup();
  }

  /** A guest Error for a failed request: name, message and the wire `code`; never a host stack. */
  #errorHandle(v: unknown): QuickJSHandle {
    const e = v instanceof Error ? v : new Error(String(v));
    const h = this.ctx.newError({ name: e.name, message: e.message });
    const code = this.ctx.newNumber(e instanceof WeftError ? e.code : Codes.INTERNAL);
    this.ctx.setProp(h, 'code', code);
    code.dispose();
    return h;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, clock: { setTimeout(fn: () => void, ms: number): TimerHandle; clearTimeout(h: TimerHandle): void }, name: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = clock.setTimeout(() => reject(new WeftError(Codes.TIMEOUT, `service "${name}" gave no answer within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clock.clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clock.clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
