// One engine per app (per worker thread on the head-end): an app's memory bomb grows only its
// own WebAssembly instance, and the instance is discarded when the app has no runtime left in
// it, so the memory goes back to the host (WebAssembly memory never shrinks). Not per session:
// an instance starts at 16 MiB. An engine filled past ROLL_AT by many sandboxes takes no new one:
// the app's next goes to a fresh engine, and the full one goes with its last sandbox.

import { ArgumentError, rejectUnknown } from '../runtime/index.ts';
import { defaultEngineMemory, type Engine, type EngineOptions, loadEngine } from './engine.ts';
import { SandboxError } from './errors.ts';

export interface AppEnginesOptions {
  /** Each app's WebAssembly memory cap, bytes (loadEngine's maxMemoryBytes). */
  maxMemoryBytes?: number;
  variant?: EngineOptions['variant'];
  /** Engines held at once (each starts at 16 MiB); an app past it is refused. Default 32. */
  maxEngines?: number;
  /** WebAssembly bytes one app's engines may hold together, its rolled-over ones included: past
   *  it the app's next sandbox is refused rather than given another engine. Default twice
   *  maxMemoryBytes (the bound one app had before engines rolled over, with room to roll once). */
  maxAppBytes?: number;
}

export interface AppEnginesStats {
  /** Engines held now (current and retired ones still running an app's runtimes). */
  engines: number;
  loaded: number;
  /** Engines dropped because no sandbox of their app was left in them (or they broke). */
  discarded: number;
  /** Engines set aside after a memory or engine fault: new runtimes of that app get a fresh one. */
  retired: number;
  /** Engines that took no new sandbox once past ROLL_AT of their cap (their app's next went to a fresh one). */
  rolled: number;
  refused: number;
}

/**
 * The share of an engine's cap past which it takes no new sandbox (wave 20). Filled by volume
 * (~680 small instances in 64 MiB), QuickJS failed inside its allocation paths in instances that
 * had done nothing wrong: a null thrown at module evaluation, out-of-bounds accesses, assertion
 * aborts. Below this mark the instances already there keep room to grow; a single guest's bomb
 * is still its own runtime's limit and, past that, a memory fault that retires the engine.
 */
export const ROLL_AT = 0.75;

/** WebAssembly memory starts at 16 MiB: an engine that has not grown is never full. */
const INITIAL_BYTES = 16 * 1024 * 1024;

const mib = (n: number): number => Math.round(n / 2 ** 20);

const full = (e: Engine): boolean => {
  const bytes = e.memoryBytes();
  return bytes > INITIAL_BYTES && bytes >= e.maxMemoryBytes * ROLL_AT;
};

interface Held {
  app: string;
  engine: Engine;
  /** acquire() calls not yet released: sandboxes living (or about to live) in the engine. */
  leases: number;
  retired: boolean;
}

export class AppEngines {
  #o: EngineOptions;
  #max: number;
  #maxAppBytes: number;
  #current = new Map<string, Promise<Held>>();
  #held = new Set<Held>();
  #stats = { loaded: 0, discarded: 0, retired: 0, rolled: 0, refused: 0 };
  #rolledListeners = new Set<(engine: Engine) => void>();

  constructor(options: AppEnginesOptions = {}) {
    rejectUnknown('AppEngines', options, ['maxMemoryBytes', 'variant', 'maxEngines', 'maxAppBytes']);
    this.#max = options.maxEngines ?? 32;
    if (!Number.isInteger(this.#max) || this.#max < 1) throw new ArgumentError('AppEngines: maxEngines must be a positive integer', 'maxEngines');
    const cap = options.maxMemoryBytes ?? defaultEngineMemory(options.variant);
    this.#maxAppBytes = options.maxAppBytes ?? 2 * cap;
    if (!Number.isInteger(this.#maxAppBytes) || this.#maxAppBytes < cap) throw new ArgumentError('AppEngines: maxAppBytes must be at least maxMemoryBytes (one engine)', 'maxAppBytes');
    this.#o = { ...(options.maxMemoryBytes === undefined ? {} : { maxMemoryBytes: options.maxMemoryBytes }), ...(options.variant === undefined ? {} : { variant: options.variant }) };
  }

  /** The engine a new sandbox of `app` goes to (its current one, or a fresh one); every
   *  acquire() is paired with a release() once that sandbox is destroyed. */
  async acquire(app: string): Promise<Engine> {
    if (typeof app !== 'string' || app.length === 0) throw new ArgumentError('AppEngines.acquire: app is required', 'app');
    for (;;) {
      const h = await this.#currentOf(app);
      if (!this.#rollIfFull(h)) {
        h.leases++;
        return h.engine;
      }
    }
  }

  /**
   * Whether `engine` (leased by acquire) still takes a sandbox, judged now. Call it in the same
   * synchronous stretch that makes the sandbox: a burst of acquires all resolve, in one run of
   * microtasks, before any of their sandboxes exists, so acquire's own check saw the engine
   * empty every time (wave 20: 28 of 200 started, the rest out of memory). False: the engine
   * is rolled over; the caller frees what it made in it, releases its lease and acquires again.
   */
  hasRoom(engine: Engine): boolean {
    const h = this.#find(engine);
    return h !== undefined && !h.retired && !this.#rollIfFull(h);
  }

  /** Call `listener` with each engine that rolls over (a warm pool frees what it made there);
   *  returns the call that stops it. */
  onRolled(listener: (engine: Engine) => void): () => void {
    this.#rolledListeners.add(listener);
    return () => this.#rolledListeners.delete(listener);
  }

  /** Set a full engine aside like a faulted one, counted apart (nothing went wrong in it). */
  #rollIfFull(h: Held): boolean {
    if (!full(h.engine)) return false;
    if (!h.retired) {
      h.retired = true;
      this.#stats.rolled++;
      this.#current.delete(h.app);
      for (const f of this.#rolledListeners) f(h.engine);
      this.#drop(h);
    }
    return true;
  }

  /** The app's current engine, loaded when it has none. */
  #currentOf(app: string): Promise<Held> {
    let p = this.#current.get(app);
    if (p === undefined) {
      if (this.#held.size >= this.#max) {
        this.#stats.refused++;
        throw new SandboxError('memory', app, `this thread already holds ${this.#max} app engines`);
      }
      const held = this.memoryOf(app);
      if (held + INITIAL_BYTES > this.#maxAppBytes) {
        this.#stats.refused++;
        throw new SandboxError('memory', app, `the engines of app ${app} on this thread hold ${mib(held)} MiB (maxAppBytes ${mib(this.#maxAppBytes)} MiB)`);
      }
      p = loadEngine(this.#o).then((engine) => {
        const h: Held = { app, engine, leases: 0, retired: false };
        this.#held.add(h);
        this.#stats.loaded++;
        return h;
      });
      this.#current.set(app, p);
      p.catch(() => this.#current.delete(app));
    }
    return p;
  }

  /** A sandbox of the engine was destroyed: the engine goes when none is left in it. */
  release(engine: Engine): void {
    const h = this.#find(engine);
    if (h === undefined) return;
    h.leases = Math.max(0, h.leases - 1);
    this.#drop(h);
  }

  /**
   * A module ran out of memory, or the engine failed: its app's next sandbox starts on a fresh
   * instance, and this one is dropped when its last sandbox goes (at once when broken).
   */
  retire(engine: Engine): void {
    const h = this.#find(engine);
    if (h === undefined || h.retired) return;
    h.retired = true;
    this.#stats.retired++;
    this.#current.delete(h.app);
    this.#drop(h);
  }

  /** The engine is its app's current one: held, not retired, not broken (a warm runtime made in
   *  it may still be handed out). */
  isCurrent(engine: Engine): boolean {
    const h = this.#find(engine);
    return h !== undefined && !h.retired && engine.broken === undefined;
  }

  /** WebAssembly bytes held by every engine here (the engines' own accounting). */
  memoryBytes(): number {
    let n = 0;
    for (const h of this.#held) n += h.engine.memoryBytes();
    return n;
  }

  /** WebAssembly bytes held for one app. */
  memoryOf(app: string): number {
    let n = 0;
    for (const h of this.#held) if (h.app === app) n += h.engine.memoryBytes();
    return n;
  }

  stats(): AppEnginesStats {
    return { engines: this.#held.size, ...this.#stats };
  }

  #find(engine: Engine): Held | undefined {
    for (const h of this.#held) if (h.engine === engine) return h;
    return undefined;
  }

  #drop(h: Held): void {
    // Once: a roll-over's listeners may release the last leases before the roll drops it itself.
    if (!this.#held.has(h) || (h.leases > 0 && h.engine.broken === undefined)) return;
    this.#held.delete(h);
    if (!h.retired) this.#current.delete(h.app);
    this.#stats.discarded++;
  }
}
