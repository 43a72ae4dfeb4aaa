// Resolves a virtual address to where it lives now [c12, c31, c32]: the runtime Resolver port over
// a Registry, with a cache invalidated from the registry's change feed. A cache hit is synchronous
// and allocation-free; it must stay that way (bench/registry.ts holds it to <= 1 us p99).

import { type Address, ArgumentError, positiveInt, rejectUnknown, type Resolver } from '../../runtime/index.ts';
import type { LocationRecord, Registry, RegistryChange } from './registry.ts';

export interface ResolverOptions {
  registry: Registry;
  /**
   * This node's id. Records on it resolve to their local queue [c8, c10], records on other nodes
   * to their IP/UDP pair [c9, c11]. Without it, every known part (queue and udp) is given.
   */
  self?: string;
  /** Most cached addresses; the oldest entry goes first when full. Default 100000. */
  maxEntries?: number;
}

export interface ResolverStats {
  hits: number;
  misses: number;
  /** Entries dropped because their record changed. */
  invalidations: number;
  /** Whole-cache drops (the registry may have missed changes). */
  resets: number;
  size: number;
}

const OPTIONS = ['registry', 'self', 'maxEntries'];

export class RegistryResolver implements Resolver {
  #registry: Registry;
  #self: string | undefined;
  #max: number;
  #cache = new Map<string, Readonly<Address>>();
  // Lookups in progress; an invalidation removes the entry so a stale answer is not cached.
  #inflight = new Map<string, Promise<Address | undefined>>();
  #stop: (() => void) | undefined;
  #stats = { hits: 0, misses: 0, invalidations: 0, resets: 0 };

  constructor(options: ResolverOptions) {
    rejectUnknown('RegistryResolver', options, OPTIONS);
    if (options.registry === undefined || typeof options.registry.lookup !== 'function') {
      throw new ArgumentError('RegistryResolver: registry must be a Registry', 'registry');
    }
    if (options.self !== undefined && typeof options.self !== 'string') throw new ArgumentError('RegistryResolver: self must be a node id', 'self');
    this.#registry = options.registry;
    this.#self = options.self;
    this.#max = positiveInt('RegistryResolver', 'maxEntries', options.maxEntries ?? 100_000);
    // Local writes arrive here before the write's promise settles; remote ones via the adapter's feed.
    this.#stop = this.#registry.watch((c) => this.#onChange(c));
  }

  /**
   * The address of `vaddr` now: synchronously from the cache, else a promise of the registry's
   * answer. `undefined` when no record exists (not cached: a later bind is seen at once).
   */
  resolve(vaddr: string): Readonly<Address> | Promise<Address | undefined> {
    const hit = this.#cache.get(vaddr);
    if (hit !== undefined) {
      this.#stats.hits++;
      return hit;
    }
    return this.#miss(vaddr);
  }

  /** The cached address only; never touches the registry. */
  peek(vaddr: string): Readonly<Address> | undefined {
    return this.#cache.get(vaddr);
  }

  /** Forget one cached address (after a delivery failure or a MOVED reply). */
  invalidate(vaddr: string): void {
    const had = this.#cache.delete(vaddr);
    const flying = this.#inflight.delete(vaddr);
    if (had || flying) this.#stats.invalidations++;
  }

  /** Forget everything cached. */
  clear(): void {
    this.#cache.clear();
    this.#inflight.clear();
  }

  stats(): ResolverStats {
    return { ...this.#stats, size: this.#cache.size };
  }

  /** Stop hearing changes and drop the cache. The registry stays open (it is not ours). */
  close(): void {
    this.#stop?.();
    this.#stop = undefined;
    this.clear();
  }

  #miss(vaddr: string): Promise<Address | undefined> {
    const flying = this.#inflight.get(vaddr);
    if (flying !== undefined) return flying;
    this.#stats.misses++;
    const p: Promise<Address | undefined> = this.#registry.lookup(vaddr).then(
      (rec) => {
        const current = this.#inflight.get(vaddr) === p;
        if (current) this.#inflight.delete(vaddr);
        if (rec === undefined) return undefined;
        const addr = this.#address(rec);
        if (current && this.#stop !== undefined) this.#store(vaddr, addr);
        return addr;
      },
      (e: unknown) => {
        if (this.#inflight.get(vaddr) === p) this.#inflight.delete(vaddr);
        throw e;
      },
    );
    this.#inflight.set(vaddr, p);
    return p;
  }

  #store(vaddr: string, addr: Readonly<Address>): void {
    if (this.#cache.size >= this.#max) {
      const oldest = this.#cache.keys().next();
      if (oldest.done !== true) this.#cache.delete(oldest.value);
    }
    this.#cache.set(vaddr, addr);
  }

  // [c8-c12] same node: the local queue; another node: its IP/UDP pair; a box: the vaddr itself,
  // which the router sends over MQTT (topics derive from virtual addresses).
  #address(rec: LocationRecord): Readonly<Address> {
    const local = this.#self !== undefined && rec.node === this.#self;
    const remote = this.#self !== undefined && !local;
    const a: Address = {};
    if (rec.queue !== undefined && !remote) a.queue = rec.queue;
    if (rec.udp !== undefined && !local) a.udp = Object.freeze({ ...rec.udp });
    if (a.queue === undefined && a.udp === undefined) a.vaddr = rec.vaddr;
    return Object.freeze(a);
  }

  #onChange(c: RegistryChange): void {
    if (c.kind === 'location') this.invalidate(c.vaddr);
    else if (c.kind === 'reset') {
      this.#stats.resets++;
      this.clear();
    }
  }
}
