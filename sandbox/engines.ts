// One engine per app (per worker thread on the head-end): an app's memory bomb grows only its
// own WebAssembly instance, and the instance is discarded when the app has no runtime left in
// it, so the memory goes back to the host (WebAssembly memory never shrinks). Not per session:
// an instance starts at 16 MiB.

import { ArgumentError, rejectUnknown } from '../runtime/index.ts';
import { type Engine, type EngineOptions, loadEngine } from './engine.ts';
import { SandboxError } from './errors.ts';

export interface AppEnginesOptions {
  /** Each app's WebAssembly memory cap, bytes (loadEngine's maxMemoryBytes). */
  maxMemoryBytes?: number;
  variant?: EngineOptions['variant'];
  /** Engines held at once (each starts at 16 MiB); an app past it is refused. Default 32. */
  maxEngines?: number;
}

export interface AppEnginesStats {
  /** Engines held now (current and retired ones still running an app's runtimes). */
  engines: number;
  loaded: number;
  /** Engines dropped because no sandbox of their app was left in them (or they broke). */
  discarded: number;
  /** Engines set aside after a memory or engine fault: new runtimes of that app get a fresh one. */
  retired: number;
  refused: number;
}

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
  #current = new Map<string, Promise<Held>>();
  #held = new Set<Held>();
  #stats = { loaded: 0, discarded: 0, retired: 0, refused: 0 };

  constructor(options: AppEnginesOptions = {}) {
    rejectUnknown('AppEngines', options, ['maxMemoryBytes', 'variant', 'maxEngines']);
    this.#max = options.maxEngines ?? 32;
    if (!Number.isInteger(this.#max) || this.#max < 1) throw new ArgumentError('AppEngines: maxEngines must be a positive integer', 'maxEngines');
    this.#o = { ...(options.maxMemoryBytes === undefined ? {} : { maxMemoryBytes: options.maxMemoryBytes }), ...(options.variant === undefined ? {} : { variant: options.variant }) };
  }

  /** The engine a new sandbox of `app` goes to (its current one, or a fresh one); every
   *  acquire() is paired with a release() once that sandbox is destroyed. */
  async acquire(app: string): Promise<Engine> {
    if (typeof app !== 'string' || app.length === 0) throw new ArgumentError('AppEngines.acquire: app is required', 'app');
    let p = this.#current.get(app);
    if (p === undefined) {
      if (this.#held.size >= this.#max) {
        this.#stats.refused++;
        throw new SandboxError('memory', app, `this thread already holds ${this.#max} app engines`);
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
    const h = await p;
    h.leases++;
    return h.engine;
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
    if (h.leases > 0 && h.engine.broken === undefined) return;
    this.#held.delete(h);
    if (!h.retired) this.#current.delete(h.app);
    this.#stats.discarded++;
  }
}
