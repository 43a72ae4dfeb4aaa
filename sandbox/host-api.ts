// The `weft` global of one module context: host functions made with newFunction, frozen
// namespaces, only the capabilities the manifest declares. No guest-side prelude is compiled
// (compiling costs more than the whole host API), so the object is built from the host.

import type { QuickJSContext, QuickJSHandle } from 'quickjs-emscripten';
import { type Address, AddressError, checkAddress, parseVaddr } from '../runtime/index.ts';
import { guestError, readData, readString } from './marshal.ts';

/** What a module's host side does for each weft call; implemented by ModuleSandbox. */
export interface HostOps {
  readonly ctx: QuickJSContext;
  /** Gate at the top of every call: counts it, throws a guest error when the module is stopping
   *  or over its host-call budget (the budget case also records the fatal fault). */
  gate(fn: string): void;
  /** Record the fatal too-large fault and return the error to throw at the guest. */
  tooLarge(what: string, size: number): Error;
  /** Count bytes handed to the host in this event; over the event's budget it throws (fatal). */
  account(size: number): void;
  readonly maxBodyBytes: number;
  send(dst: Address, body: unknown): void;
  /** Returns a new handle to a guest promise (the caller hands it to the guest). */
  request(dst: Address, body: unknown, timeoutMs: number | undefined): QuickJSHandle;
  on(kind: string, fn: QuickJSHandle): void;
  setTimeout(fn: QuickJSHandle, ms: number): number;
  clearTimeout(id: number): void;
  address(module: string): string;
  storageGet(key: string): QuickJSHandle;
  storageSet(key: string, json: string): void;
  storageDelete(key: string): void;
  storageKeys(): QuickJSHandle;
  deviceInfo(): QuickJSHandle;
  show(scene: unknown): void;
  service(name: string, body: unknown, timeoutMs: number | undefined): QuickJSHandle;
  /** weft.log.* and console.*: one line to the box's or head-end's log, bounded per module. */
  log(level: GuestLogLevel, text: string): void;
  /** Cache of parsed address strings; the owner bounds its size. */
  readonly addressCache: Map<string, Address>;
}

export interface Capabilities {
  storage: boolean;
  device: boolean;
  ui: boolean;
  /** Service names the module may call; undefined when weft.services is absent (box side). */
  services: readonly string[] | undefined;
  /** Install weft.log and console (four host functions and a frozen object, ~20 us of a ~450 us
   *  module start). Undefined or true: installed. ModuleSandbox passes namesLog(source). */
  log?: boolean;
}

/** A module whose text never names `log` or `console` cannot reach weft.log or console except by a
 *  name built at run time; it is not given them [issue 19.2, DECISIONS D40]. */
export function namesLog(source: string): boolean {
  return /log|console/.test(source);
}

const MAX_KEY = 128;
/** Characters of one guest log line; longer lines are cut. */
export const MAX_LOG_LINE = 1000;
export const GUEST_LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type GuestLogLevel = (typeof GUEST_LOG_LEVELS)[number];

/** Build `weft` in the context, frozen, as a global. `freeze` is the context's
 *  own Object.freeze, taken before any module code ran. */
export function installWeft(ops: HostOps, caps: Capabilities, self: string, freeze: QuickJSHandle): void {
  const ctx = ops.ctx;
  const weft = ctx.newObject();
  const put = (obj: QuickJSHandle, name: string, fn: (...args: QuickJSHandle[]) => QuickJSHandle | undefined): void => {
    const f = ctx.newFunction(name, fn);
    ctx.setProp(obj, name, f);
    f.dispose();
  };
  const data = (h: QuickJSHandle | undefined, what: string): unknown => {
    if (h === undefined) return undefined;
    const r = readData(ctx, h, what);
    if (r.size > ops.maxBodyBytes) throw ops.tooLarge(what, r.size);
    ops.account(r.size);
    return r.value;
  };
  const address = (h: QuickJSHandle | undefined, fn: string): Address => readAddress(ops, h, fn);

  put(weft, 'send', (a, b) => {
    ops.gate('send');
    ops.send(address(a, 'weft.send'), data(b, 'weft.send body'));
    return undefined;
  });
  put(weft, 'request', (a, b, o) => {
    ops.gate('request');
    const dst = address(a, 'weft.request');
    return ops.request(dst, data(b, 'weft.request body'), timeoutOf(ctx, o, 'weft.request'));
  });
  put(weft, 'on', (k, f) => {
    ops.gate('on');
    const kind = readString(ctx, k);
    if (kind === undefined || f === undefined || ctx.typeof(f) !== 'function') throw guestError('TypeError', 'weft.on(kind, handler): kind is a string, handler a function');
    ops.on(kind, f);
    return undefined;
  });
  put(weft, 'setTimeout', (f, ms) => {
    ops.gate('setTimeout');
    if (f === undefined || ctx.typeof(f) !== 'function') throw guestError('TypeError', 'weft.setTimeout(fn, ms): fn must be a function');
    const delay = ms === undefined || ctx.typeof(ms) !== 'number' ? 0 : ctx.getNumber(ms);
    return ctx.newNumber(ops.setTimeout(f, Number.isFinite(delay) ? Math.min(Math.max(0, delay), 2 ** 31 - 1) : 0));
  });
  put(weft, 'clearTimeout', (id) => {
    ops.gate('clearTimeout');
    if (id !== undefined && ctx.typeof(id) === 'number') ops.clearTimeout(ctx.getNumber(id));
    return undefined;
  });
  put(weft, 'address', (m) => {
    ops.gate('address');
    const name = readString(ctx, m);
    if (name === undefined) throw guestError('TypeError', 'weft.address(module): module must be a string');
    try {
      return ctx.newString(ops.address(name));
    } catch (e) {
      throw guestError('TypeError', `weft.address: ${(e as Error).message}`);
    }
  });
  const selfH = ctx.newString(self);
  ctx.setProp(weft, 'self', selfH);
  selfH.dispose();

  installCapabilities(ops, caps, weft, freeze, put, data);
  if (caps.log !== false) installLog(ops, weft, freeze);
  ctx.callFunction(freeze, ctx.undefined, weft).unwrap().dispose();
  // A plain global property: a module that replaces its own `weft` only loses its own API (the
  // host never reads it back), and defineProp costs as much as the rest of this function.
  ctx.setProp(ctx.global, 'weft', weft);
  weft.dispose();
}

type Put = (obj: QuickJSHandle, name: string, fn: (...args: QuickJSHandle[]) => QuickJSHandle | undefined) => void;

/** The namespaces a module has only when its capabilities say so: storage, device, ui, services. */
function installCapabilities(ops: HostOps, caps: Capabilities, weft: QuickJSHandle, freeze: QuickJSHandle, put: Put, data: (h: QuickJSHandle | undefined, what: string) => unknown): void {
  const ctx = ops.ctx;
  if (caps.storage) {
    namespace(ctx, weft, 'storage', freeze, (ns) => {
      put(ns, 'get', (k) => (ops.gate('storage.get'), ops.storageGet(key(ctx, k))));
      put(ns, 'set', (k, v) => {
        ops.gate('storage.set');
        const name = key(ctx, k);
        const value = data(v, 'weft.storage.set value');
        if (value === undefined) throw guestError('TypeError', 'weft.storage.set: value must not be undefined (use delete)');
        ops.storageSet(name, JSON.stringify(value));
        return undefined;
      });
      put(ns, 'delete', (k) => (ops.gate('storage.delete'), ops.storageDelete(key(ctx, k)), undefined));
      put(ns, 'keys', () => (ops.gate('storage.keys'), ops.storageKeys()));
    });
  }
  if (caps.device) namespace(ctx, weft, 'device', freeze, (ns) => put(ns, 'info', () => (ops.gate('device.info'), ops.deviceInfo())));
  if (caps.ui) namespace(ctx, weft, 'ui', freeze, (ns) => put(ns, 'show', (s) => (ops.gate('ui.show'), ops.show(data(s, 'weft.ui.show scene')), undefined)));
  const services = caps.services;
  if (services !== undefined) {
    namespace(ctx, weft, 'services', freeze, (ns) =>
      put(ns, 'request', (n, b, o) => {
        ops.gate('services.request');
        const name = readString(ctx, n);
        if (name === undefined || !services.includes(name)) {
          throw guestError('TypeError', `weft.services.request: service ${JSON.stringify(name)} is not declared in this module's uses`);
        }
        return ops.service(name, data(b, 'weft.services.request body'), timeoutOf(ctx, o, 'weft.services.request'));
      }),
    );
  }
}

/** `weft.log.debug|info|warn|error(...args)`, and `console` as the same frozen object (its `log`
 *  is info): one object and four host functions, the cheapest shape for a module start. */
function installLog(ops: HostOps, weft: QuickJSHandle, freeze: QuickJSHandle): void {
  const ctx = ops.ctx;
  const line = (level: GuestLogLevel) => (...args: QuickJSHandle[]): undefined => {
    ops.gate('log');
    const parts = args.map((h) => readString(ctx, h) ?? safeText(() => JSON.stringify(readData(ctx, h, 'weft.log argument').value)));
    ops.log(level, parts.join(' ').slice(0, MAX_LOG_LINE));
    return undefined;
  };
  const log = ctx.newObject();
  for (const level of GUEST_LOG_LEVELS) {
    const f = ctx.newFunction(level, line(level));
    ctx.setProp(log, level, f);
    if (level === 'info') ctx.setProp(log, 'log', f);
    f.dispose();
  }
  ctx.callFunction(freeze, ctx.undefined, log).unwrap().dispose();
  ctx.setProp(weft, 'log', log);
  ctx.setProp(ctx.global, 'console', log);
  log.dispose();
}

function safeText(f: () => string | undefined): string {
  try {
    return f() ?? 'undefined';
  } catch {
    return '[unprintable]';
  }
}

function namespace(ctx: QuickJSContext, weft: QuickJSHandle, name: string, freeze: QuickJSHandle, fill: (ns: QuickJSHandle) => void): void {
  const ns = ctx.newObject();
  fill(ns);
  ctx.callFunction(freeze, ctx.undefined, ns).unwrap().dispose();
  ctx.setProp(weft, name, ns);
  ns.dispose();
}

function key(ctx: QuickJSContext, h: QuickJSHandle | undefined): string {
  const k = readString(ctx, h);
  if (k === undefined || k.length === 0 || k.length > MAX_KEY) throw guestError('TypeError', `weft.storage: key must be a string of 1..${MAX_KEY} characters`);
  return k;
}

function timeoutOf(ctx: QuickJSContext, h: QuickJSHandle | undefined, fn: string): number | undefined {
  if (h === undefined || ctx.typeof(h) === 'undefined') return undefined;
  const o = readData(ctx, h, `${fn} options`).value as Record<string, unknown> | null;
  if (o === null || typeof o !== 'object') throw guestError('TypeError', `${fn}: options must be an object`);
  for (const k of Object.keys(o)) if (k !== 'timeout') throw guestError('TypeError', `${fn}: unknown option "${k}" (known: timeout)`);
  const t = o.timeout;
  if (t === undefined) return undefined;
  if (typeof t !== 'number' || !Number.isFinite(t) || t <= 0 || t > 600_000) throw guestError('RangeError', `${fn}: timeout must be a number of ms in 1..600000`);
  return t;
}

function readAddress(ops: HostOps, h: QuickJSHandle | undefined, fn: string): Address {
  const ctx = ops.ctx;
  const s = readString(ctx, h);
  if (s !== undefined) {
    const hit = ops.addressCache.get(s);
    if (hit !== undefined) return hit;
    try {
      parseVaddr(s);
    } catch (e) {
      throw guestError('TypeError', `${fn}: ${(e as Error).message}`);
    }
    const a = Object.freeze({ vaddr: s });
    if (ops.addressCache.size < 64) ops.addressCache.set(s, a);
    return a;
  }
  if (h === undefined) throw guestError('TypeError', `${fn}: an address (weft:// URI or address object) is required`);
  try {
    return checkAddress(readData(ctx, h, `${fn} address`).value);
  } catch (e) {
    if (e instanceof AddressError) throw guestError('TypeError', `${fn}: ${e.message}`);
    throw e;
  }
}
