// QuickJS made ahead of need (issue 19.3): a runtime with fresh contexts whose intrinsics the host
// relies on (JSON.parse, Object.freeze) are taken before any guest code exists in them. An
// AppSandbox adopts one at most once and it dies with that sandbox: it never holds guest code.

import { DefaultIntrinsics, type QuickJSContext, type QuickJSHandle, type QuickJSRuntime } from 'quickjs-emscripten';
import { ArgumentError } from '../runtime/index.ts';
import type { Engine } from './engine.ts';
import { SandboxError } from './errors.ts';

/** A context with its intrinsics taken; its owner disposes the handles, then the context. */
export interface PreparedContext {
  readonly ctx: QuickJSContext;
  /** The context's own JSON.parse (values into the guest). */
  readonly parse: QuickJSHandle;
  /** The context's own Object.freeze (the `weft` object), let go once `weft` is built. */
  readonly freeze: QuickJSHandle;
  /** Made without the typed arrays: only for a module whose text names none (D63). */
  readonly lean?: boolean;
}

// Every default intrinsic but the typed arrays (ArrayBuffer, DataView, the typed arrays; this
// build's WeakRef and FinalizationRegistry come only with the default set): about a third of a
// context's cost, for the many modules that never use them (issue 19.2, D63).
const LEAN = { intrinsics: { ...DefaultIntrinsics, TypedArrays: false } };

/** Does module text name a global that only the full set of intrinsics has? Like namesLog, a
 *  name built at run time is not seen: such a module finds it undefined. */
export const namesTypedArrays = (source: string): boolean => /ArrayB|DataV|Atomics|WeakR|Finaliz|\d\w*Array/.test(source);

/** A new context of `rt` with its intrinsics taken (nothing but the engine has run in it);
 *  `lean`: without the typed arrays. */
export function prepareContext(rt: QuickJSRuntime, lean?: boolean): PreparedContext {
  const ctx = rt.newContext(lean ? LEAN : {});
  try {
    const json = ctx.getProp(ctx.global, 'JSON');
    const parse = ctx.getProp(json, 'parse');
    json.dispose();
    const object = ctx.getProp(ctx.global, 'Object');
    const freeze = ctx.getProp(object, 'freeze');
    object.dispose();
    return { ctx, parse, freeze, lean };
  } catch (e) {
    ctx.dispose();
    throw e;
  }
}

/** Handles first, then the context (a context freed under a live handle breaks its runtime). */
export function disposePrepared(p: PreparedContext): void {
  if (p.parse.alive) p.parse.dispose();
  if (p.freeze.alive) p.freeze.dispose();
  if (p.ctx.alive) p.ctx.dispose();
}

/** What an AppSandbox takes over from a WarmRuntime. */
export interface Adopted {
  rt: QuickJSRuntime;
  contexts: PreparedContext[];
}

const MAX_CONTEXTS = 16;

/** Every WarmRuntime made: an AppSandbox checks membership, not `instanceof`, so a box (which never
 *  makes one) does not carry the class in its firmware. */
const made = new WeakSet<object>();

/** Is `x` a WarmRuntime made here (not a look-alike)? */
export function isWarmRuntime(x: unknown): x is WarmRuntime {
  return typeof x === 'object' && x !== null && made.has(x);
}

export class WarmRuntime {
  readonly engine: Engine;
  /** Contexts made ahead (one per module the instance is expected to load). */
  readonly size: number;
  #rt: QuickJSRuntime | undefined;
  #contexts: PreparedContext[] = [];
  #state: 'warm' | 'adopted' | 'disposed' = 'warm';

  /** A runtime of `engine` with `contexts` prepared contexts (0..16), `lean` ones (no typed
   *  arrays) for a build none of whose modules names them. Throws SandboxError 'engine' on a broken engine. */
  constructor(engine: Engine, contexts: number, lean = false) {
    if (!Number.isInteger(contexts) || contexts < 0 || contexts > MAX_CONTEXTS) throw new ArgumentError(`WarmRuntime: contexts must be an integer in 0..${MAX_CONTEXTS}`, 'contexts');
    this.engine = engine;
    this.size = contexts;
    made.add(this);
    const rt = engine.newRuntime();
    this.#rt = rt;
    try {
      for (let i = 0; i < contexts; i++) this.#contexts.push(prepareContext(rt, lean));
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  get state(): 'warm' | 'adopted' | 'disposed' {
    return this.#state;
  }

  /** Hand the runtime and contexts over, once: the adopter owns them from here. */
  adopt(): Adopted {
    if (this.#state !== 'warm' || this.#rt === undefined) throw new SandboxError('state', 'warm', `a ${this.#state} runtime cannot be adopted (each is used by one instance only)`);
    this.#state = 'adopted';
    const out = { rt: this.#rt, contexts: this.#contexts };
    this.#rt = undefined;
    this.#contexts = [];
    return out;
  }

  /** Free an unadopted runtime: every handle, then every context, then the runtime. Idempotent. */
  dispose(): void {
    if (this.#state !== 'warm') return;
    this.#state = 'disposed';
    const rt = this.#rt;
    const contexts = this.#contexts;
    this.#rt = undefined;
    this.#contexts = [];
    // A broken engine's memory is gone with it: nothing left to free, and any call would abort.
    if (this.engine.broken !== undefined) return;
    for (const c of contexts) disposePrepared(c);
    if (rt?.alive === true) rt.dispose();
  }
}
