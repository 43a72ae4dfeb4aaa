// Warm runtimes kept ready per app build (issue 19.3): a setup takes one instead of paying a
// QuickJS runtime and its contexts, and its owner refills after the reply, off the critical path.
// Bounded per build and in builds; a runtime is handed out once and never comes back.

import { ArgumentError, rejectUnknown } from '../runtime/index.ts';
import type { AppEngines } from './engines.ts';
import type { Engine } from './engine.ts';
import { WarmRuntime } from './warm.ts';
import { TakeRate, warmTarget } from './warm-rate.ts';

export interface WarmPoolOptions {
  /** Where each app's engine comes from; a warm runtime holds a lease on its app's engine. */
  engines: AppEngines;
  /** Warm runtimes kept per build at least. Default 2: a burst of setups of one app takes them while the refill catches up. */
  perBuild?: number;
  /** At most, per build, however fast its takes come (the count follows their rate, warm-rate.ts). Default max(perBuild, 8). */
  maxPerBuild?: number;
  /** Takes to cover at the observed rate: how long a busy worker may go without a turn to refill, ms. Default 250. */
  horizonMs?: number;
  /** Clock of the take rate, ms. Default performance.now. */
  now?: () => number;
  /** Builds kept warm; the least recently used one goes past it (its runtimes freed). Default 8. */
  maxBuilds?: number;
}

export interface WarmPoolStats {
  /** Warm runtimes held now, over all builds. */
  warm: number;
  builds: number;
  /** Takes answered with a warm runtime, and takes that found none (the caller starts cold). */
  hits: number;
  misses: number;
  /** Warm runtimes made. */
  refills: number;
  /** What the builds want held now, from their take rates (perBuild each when idle). */
  wanted: number;
  /** Warm runtimes freed unused: their build evicted, their engine retired or broken, or the pool closed. */
  discarded: number;
  /** Refills that failed (the engine refused: too many engines, or broken). */
  failed: number;
}

interface Build {
  app: string;
  ready: WarmRuntime[];
  /** Refills in flight (an engine may still be loading). */
  making: number;
  rate: TakeRate;
}

export class WarmPool {
  readonly #engines: AppEngines;
  readonly #perBuild: number;
  readonly #maxBuilds: number;
  readonly #maxPerBuild: number;
  readonly #horizonMs: number;
  readonly #now: () => number;
  /** By build key; Map order is recency (a take or refill moves the build to the end). */
  readonly #builds = new Map<string, Build>();
  #closed = false;
  /** Stops the engines' roll-over calls (close). */
  #unlisten: () => void;
  #stats = { hits: 0, misses: 0, refills: 0, discarded: 0, failed: 0 };

  constructor(options: WarmPoolOptions) {
    rejectUnknown('WarmPool', options, ['engines', 'perBuild', 'maxPerBuild', 'horizonMs', 'now', 'maxBuilds']);
    this.#engines = options.engines;
    this.#perBuild = options.perBuild ?? 2;
    this.#maxBuilds = options.maxBuilds ?? 8;
    this.#maxPerBuild = options.maxPerBuild ?? Math.max(this.#perBuild, 8);
    this.#horizonMs = options.horizonMs ?? 250;
    this.#now = options.now ?? (() => performance.now());
    if (!Number.isInteger(this.#perBuild) || this.#perBuild < 0 || this.#perBuild > 64) throw new ArgumentError('WarmPool: perBuild must be an integer in 0..64', 'perBuild');
    if (!Number.isInteger(this.#maxPerBuild) || this.#maxPerBuild < this.#perBuild || this.#maxPerBuild > 64) throw new ArgumentError('WarmPool: maxPerBuild must be an integer in perBuild..64', 'maxPerBuild');
    if (!(this.#horizonMs >= 0 && this.#horizonMs <= 60_000)) throw new ArgumentError('WarmPool: horizonMs must be in 0..60000', 'horizonMs');
    if (typeof this.#now !== 'function') throw new ArgumentError('WarmPool: now must be a function', 'now');
    if (!Number.isInteger(this.#maxBuilds) || this.#maxBuilds < 1 || this.#maxBuilds > 256) throw new ArgumentError('WarmPool: maxBuilds must be an integer in 1..256', 'maxBuilds');
    // An engine that rolls over takes no new instance: what is warm in it would only keep it alive.
    this.#unlisten = this.#engines.onRolled((engine) => this.discardEngine(engine));
  }

  /**
   * A warm runtime of `build`, or undefined (counted as a miss). One of a retired or broken
   * engine is freed, not handed out. The caller adopts it into an AppSandbox and owns the
   * engine lease it carries (AppEngines.release when that sandbox is destroyed).
   */
  take(build: string): WarmRuntime | undefined {
    const b = this.#perBuild > 0 && !this.#closed ? this.#build(build, undefined) : undefined;
    b?.rate.take(this.#now());
    while (b !== undefined && b.ready.length > 0) {
      const w = b.ready.shift() as WarmRuntime;
      if (this.#engines.isCurrent(w.engine)) {
        this.#stats.hits++;
        return w;
      }
      this.#discard(w);
    }
    this.#stats.misses++;
    return undefined;
  }

  /** Whether `build` is below its count (counting refills in flight): perBuild, more while its takes come fast. */
  wants(build: string): boolean {
    const b = this.#builds.get(build);
    return !this.#closed && this.#perBuild > 0 && (b === undefined ? this.#perBuild : this.#target(b)) > (b === undefined ? 0 : b.ready.length + b.making);
  }

  /**
   * Make one warm runtime of `build` (app `app`, `contexts` prepared contexts, `lean` ones when
   * none of the build's modules names a typed array) if it is below its count. Resolves to
   * whether it still wants more, so the caller can spread refills over turns of its event loop.
   * Never throws: a refused engine is counted in `failed`.
   */
  async refillOne(build: string, app: string, contexts: number, lean = false): Promise<boolean> {
    const known = this.#builds.get(build);
    if (known !== undefined) this.#dropStale(known);
    if (!this.wants(build)) return false;
    const b = this.#build(build, app);
    b.making++;
    let engine: Engine | undefined;
    try {
      engine = await this.#engines.acquire(app);
      // Judged again where the runtime is made: a start may have filled the engine meanwhile (D120).
      while (!this.#engines.hasRoom(engine)) {
        this.#engines.release(engine);
        engine = undefined; // released: the catch must not release it again
        engine = await this.#engines.acquire(app);
      }
      const w = new WarmRuntime(engine, contexts, lean);
      engine = undefined; // the lease is the warm runtime's now
      if (this.#closed || this.#builds.get(build) !== b) {
        this.#discard(w);
        return false;
      }
      b.ready.push(w);
      this.#stats.refills++;
    } catch {
      this.#stats.failed++;
      if (engine !== undefined) this.#engines.release(engine);
      return false;
    } finally {
      b.making--;
    }
    return this.wants(build);
  }

  /** Free every warm runtime of an engine set aside (a memory fault) so it can be dropped. */
  discardEngine(engine: Engine): void {
    for (const b of this.#builds.values()) this.#discardWhere(b, (w) => w.engine === engine);
  }

  stats(): WarmPoolStats {
    let warm = 0;
    let wanted = 0;
    for (const b of this.#builds.values()) {
      warm += b.ready.length;
      wanted += this.#target(b);
    }
    return { warm, wanted, builds: this.#builds.size, ...this.#stats };
  }

  /** Free every warm runtime (handles, contexts, runtime each) and refuse refills from now on. */
  close(): void {
    this.#closed = true;
    this.#unlisten();
    for (const b of this.#builds.values()) for (const w of b.ready) this.#discard(w);
    this.#builds.clear();
  }

  /** The build's entry, made when new (a take counts toward its rate before its first refill), and moved to most recent. */
  #build(key: string, app: string | undefined): Build {
    let b = this.#builds.get(key);
    if (b === undefined) {
      b = { app: app ?? '', ready: [], making: 0, rate: new TakeRate(this.#now()) };
      this.#builds.set(key, b);
      this.#evict();
    } else {
      if (app !== undefined) b.app = app;
      this.#builds.delete(key);
      this.#builds.set(key, b);
    }
    return b;
  }

  #target(b: Build): number {
    return warmTarget(b.rate.perSec(this.#now()), this.#horizonMs, this.#perBuild, this.#maxPerBuild);
  }

  /** Free the build's runtimes whose engine is no longer its app's current one (rolled over or
   *  retired): counted as ready, they kept the build from refilling in its fresh engine (wave 20). */
  #dropStale(b: Build): void {
    this.#discardWhere(b, (w) => !this.#engines.isCurrent(w.engine));
  }

  #discardWhere(b: Build, drop: (w: WarmRuntime) => boolean): void {
    if (!b.ready.some(drop)) return;
    const keep: WarmRuntime[] = [];
    for (const w of b.ready) {
      if (drop(w)) this.#discard(w);
      else keep.push(w);
    }
    b.ready = keep;
  }

  #evict(): void {
    while (this.#builds.size > this.#maxBuilds) {
      const [key, old] = this.#builds.entries().next().value as [string, Build];
      this.#builds.delete(key);
      for (const w of old.ready) this.#discard(w);
    }
  }

  #discard(w: WarmRuntime): void {
    this.#stats.discarded++;
    w.dispose();
    this.#engines.release(w.engine);
  }
}
