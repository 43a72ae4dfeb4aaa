// Values across the guest boundary: guest handle -> JSON-able host value (with its size), host
// value -> guest handle, and a description of whatever the guest threw. Owns no handles.

import type { QuickJSContext, QuickJSHandle } from 'quickjs-emscripten';
import type { SandboxFault } from './errors.ts';

/** Thrown inside a host function: becomes a catchable TypeError/RangeError in the guest. */
export function guestError(name: 'TypeError' | 'RangeError' | 'Error' | 'QuotaError', message: string): Error {
  const e = new Error(message);
  e.name = name;
  return e;
}

export interface Read {
  value: unknown;
  /** Characters of JSON the value takes (what maxBodyBytes limits). */
  size: number;
}

/**
 * Read a guest value as JSON data. QTS_Dump stringifies in the engine (toJSON and getters run
 * as guest code, under the current deadline) and silently answers "[object Object]" for what
 * JSON cannot hold (cycles, BigInt, a throwing toJSON); that is refused here.
 */
export function readData(ctx: QuickJSContext, h: QuickJSHandle, what: string): Read {
  const t = ctx.typeof(h);
  switch (t) {
    case 'undefined':
      return { value: undefined, size: 0 };
    case 'string': {
      const s = ctx.getString(h);
      return { value: s, size: s.length + 2 };
    }
    case 'number': {
      const n = ctx.getNumber(h);
      return { value: n, size: 8 };
    }
    case 'boolean':
      return { value: ctx.dump(h) as boolean, size: 5 };
    case 'object': {
      const v: unknown = ctx.dump(h);
      if (typeof v === 'string') {
        if (v === '[object Object]') throw guestError('TypeError', `${what} is not JSON data (cycle, BigInt or a throwing toJSON)`);
        return { value: v, size: v.length + 2 };
      }
      return { value: v, size: v === null ? 4 : JSON.stringify(v).length };
    }
    default:
      throw guestError('TypeError', `${what} must be JSON data, not a ${t}`);
  }
}

/** Read a guest string argument; undefined when it is not a string. */
export function readString(ctx: QuickJSContext, h: QuickJSHandle | undefined): string | undefined {
  return h !== undefined && ctx.typeof(h) === 'string' ? ctx.getString(h) : undefined;
}

/**
 * Make a guest value from host data. Objects go through the guest's JSON.parse captured before
 * any module code ran (`parse`), so a module that replaced JSON.parse cannot see host values first.
 */
export function toGuest(ctx: QuickJSContext, parse: QuickJSHandle, v: unknown): QuickJSHandle {
  switch (typeof v) {
    case 'undefined':
      return ctx.undefined;
    case 'string':
      return ctx.newString(v);
    case 'number':
      return ctx.newNumber(v);
    case 'boolean':
      return v ? ctx.true : ctx.false;
    case 'object': {
      if (v === null) return ctx.null;
      const s = ctx.newString(JSON.stringify(v));
      const r = ctx.callFunction(parse, ctx.undefined, s);
      s.dispose();
      if (r.error) {
        r.error.dispose();
        throw new RangeError('the guest could not take the value (out of memory?)');
      }
      return r.value;
    }
    default:
      return ctx.undefined;
  }
}

export interface Thrown {
  /** `TypeError: x is not a function`, or `non-Error value thrown (number): 42`. */
  text: string;
  name: string | undefined;
  message: string;
  /** An object the engine could not even describe (typical when memory is exhausted). */
  undescribable: boolean;
}

const MAX_TEXT = 240;

/** Describe a thrown guest value without trusting it (dumping may run guest getters: call this
 *  while the entry's deadline is still armed). Stacks are dropped: they never leave the box. */
export function describeThrown(ctx: QuickJSContext, h: QuickJSHandle): Thrown {
  const t = ctx.typeof(h);
  let v: unknown;
  try {
    v = ctx.dump(h);
  } catch {
    v = undefined;
  }
  if (t === 'object' && v !== null && typeof v === 'object' && typeof (v as { message?: unknown }).message === 'string') {
    const { name, message } = v as { name?: unknown; message: string };
    const n = typeof name === 'string' ? name : 'Error';
    return { text: clip(`${n}: ${message}`), name: n, message: clip(message), undescribable: false };
  }
  let shown: string;
  try {
    shown = typeof v === 'string' ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v));
  } catch {
    shown = '?';
  }
  const kind = t === 'object' && v === null ? 'null' : t;
  const undescribable = t === 'object' && (v === undefined || v === '');
  return { text: clip(`non-Error value thrown (${kind}): ${shown}`), name: undefined, message: clip(shown), undescribable };
}

/** Which fault an uncaught guest error stands for, from the engine's own messages. */
export function classify(thrown: Thrown): SandboxFault {
  if (thrown.name === 'InternalError' || thrown.name === 'RangeError') {
    if (/out of memory/i.test(thrown.message)) return 'memory';
    if (/stack overflow|call stack size/i.test(thrown.message)) return 'stack';
    if (/string too long|invalid string length|invalid array length/i.test(thrown.message)) return 'too-large';
  }
  return 'exception';
}

function clip(s: string): string {
  return s.length > MAX_TEXT ? `${s.slice(0, MAX_TEXT)}...` : s;
}
