// A node's claims on virtual addresses, kept true against a registry that can lose acknowledged
// writes (Redis Cluster's asynchronous replication) [c31]. A claim is a bind naming this node and
// one instance (`queue`); the owner is who the record names, never who remembers binding. On a
// change to a held vaddr, or a `reset` (a failover, a lost subscription), the keeper reads the
// record again: still this instance's, kept; gone, bound again (the instance still runs); another
// owner's, lost: `onLost` stops the copy. Registry calls only; the node runs instances.

import { ArgumentError, type Result } from '../../runtime/index.ts';
import type { Conflict, Location, LocationRecord, Registry } from './registry.ts';

export interface ClaimKeeperOptions {
  registry: Registry;
  /** The copy of `vaddr` this node runs is not the owner: stop it. */
  onLost: (vaddr: string, owner: LocationRecord | undefined) => void;
  /** Wait before retry `attempt` (1, 2, ...) of a call the registry failed. Default 20 ms doubling to 1 s. */
  backoff?: (attempt: number) => Promise<void>;
  /** Failed registry calls tolerated per claim or check before giving up. Default 30. */
  maxAttempts?: number;
}

export interface ClaimStats {
  claimed: number;
  /** Claims refused: another instance holds the vaddr. */
  refused: number;
  /** Records read again after a change or a reset. */
  checked: number;
  /** Held records found gone (a failover lost the write) and bound again. */
  rebound: number;
  /** Held claims found in another's name, or unverifiable after maxAttempts: copies stopped. */
  lost: number;
  /** Registry calls that failed and were retried. */
  retries: number;
}

/** Why a claim was not taken: another instance holds it, or the registry did not answer (counted in `retries`). */
export type ClaimRefusal = Conflict<LocationRecord> | { reason: 'unavailable' };

const OPTIONS = ['registry', 'onLost', 'backoff', 'maxAttempts'];
const defaultBackoff = (attempt: number): Promise<void> => new Promise((r) => setTimeout(r, Math.min(1000, 20 * 2 ** (attempt - 1))));

export class ClaimKeeper {
  readonly stats: ClaimStats = { claimed: 0, refused: 0, checked: 0, rebound: 0, lost: 0, retries: 0 };
  readonly #registry: Registry;
  readonly #onLost: ClaimKeeperOptions['onLost'];
  readonly #backoff: (attempt: number) => Promise<void>;
  readonly #maxAttempts: number;
  /** vaddr -> the location this node claimed and the epoch it last saw it at. */
  readonly #held = new Map<string, { loc: Location; epoch: number }>();
  readonly #checking = new Map<string, Promise<void>>();
  #again = new Set<string>();
  #busy = 0;
  #idle: (() => void)[] = [];
  readonly #unwatch: () => void;

  constructor(options: ClaimKeeperOptions) {
    for (const k of Object.keys(options)) if (!OPTIONS.includes(k)) throw new ArgumentError(`ClaimKeeper: unknown option "${k}"`, k);
    if (typeof options.onLost !== 'function') throw new ArgumentError('ClaimKeeper: onLost must be a function', 'onLost');
    this.#registry = options.registry;
    this.#onLost = options.onLost;
    this.#backoff = options.backoff ?? defaultBackoff;
    this.#maxAttempts = options.maxAttempts ?? 30;
    this.#unwatch = this.#registry.watch((c) => {
      if (c.kind === 'reset') for (const v of this.#held.keys()) this.#check(v);
      // Any write to a held vaddr, even at the epoch held: a claim lost in a failover can be made
      // again by another node at the same epoch if that node never heard of the lost one.
      else if (c.kind === 'location' && this.#held.has(c.vaddr)) this.#check(c.vaddr);
    });
  }

  /** The vaddrs this node holds now. */
  held(): string[] {
    return [...this.#held.keys()];
  }

  /**
   * Claim `vaddr` for `loc` (whose `queue` names the instance). A failed call is retried: a bind
   * whose reply was lost but which landed is found as this instance's own record and kept.
   */
  async claim(vaddr: string, loc: Location): Promise<Result<LocationRecord, ClaimRefusal>> {
    const out = await this.#tracked(() => this.#retry(() => this.#registry.bind(vaddr, loc)));
    if (out === null) return { ok: false, error: { reason: 'unavailable' } };
    if (out.ok || same(out.error.current, loc)) {
      const rec = out.ok ? out.value : (out.error.current as LocationRecord);
      this.#held.set(vaddr, { loc, epoch: rec.epoch });
      this.stats.claimed++;
      return { ok: true, value: rec };
    }
    this.stats.refused++;
    return out;
  }

  /** Give a claim back (the instance stopped): forget it and unbind it if still ours. */
  async release(vaddr: string): Promise<void> {
    const h = this.#held.get(vaddr);
    this.#held.delete(vaddr);
    if (h === undefined) return;
    await this.#tracked(async () => {
      const rec = await this.#retry(() => this.#registry.lookup(vaddr));
      if (rec !== null && rec !== undefined && same(rec, h.loc)) await this.#retry(() => this.#registry.unbind(vaddr, rec.epoch));
    });
  }

  /** Resolves when no claim, release or check is in flight. */
  settled(): Promise<void> {
    return this.#busy === 0 ? Promise.resolve() : new Promise((r) => this.#idle.push(r));
  }

  close(): void {
    this.#unwatch();
    this.#held.clear();
  }

  #check(vaddr: string): void {
    if (this.#checking.has(vaddr)) {
      this.#again.add(vaddr); // a change arrived during the read: read once more after it
      return;
    }
    const p = this.#tracked(() => this.#verify(vaddr)).finally(() => {
      this.#checking.delete(vaddr);
      if (this.#again.delete(vaddr) && this.#held.has(vaddr)) this.#check(vaddr);
    });
    this.#checking.set(vaddr, p.then(() => undefined));
  }

  async #verify(vaddr: string): Promise<void> {
    const h = this.#held.get(vaddr);
    if (h === undefined) return;
    this.stats.checked++;
    let rec = await this.#retry(() => this.#registry.lookup(vaddr));
    if (rec === null) return this.#lose(vaddr, undefined); // could not read: stop rather than risk two copies
    if (rec === undefined) {
      // [c31] the record vanished (a claim its master acknowledged, lost in the failover): the
      // instance still runs, so claim it again; whoever binds first owns it.
      const again = await this.#retry(() => this.#registry.bind(vaddr, h.loc));
      if (again === null) return this.#lose(vaddr, undefined);
      if (again.ok) this.stats.rebound++;
      rec = again.ok ? again.value : again.error.current;
    }
    if (rec !== undefined && same(rec, h.loc)) {
      if (this.#held.get(vaddr) === h) h.epoch = rec.epoch;
      return;
    }
    this.#lose(vaddr, rec);
  }

  #lose(vaddr: string, owner: LocationRecord | undefined): void {
    if (!this.#held.delete(vaddr)) return;
    this.stats.lost++;
    this.#onLost(vaddr, owner);
  }

  /** `fn`, retried after a backoff while it throws; null after maxAttempts failures. */
  async #retry<T>(fn: () => Promise<T>): Promise<T | null> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch {
        if (attempt >= this.#maxAttempts) return null;
        this.stats.retries++;
        await this.#backoff(attempt);
      }
    }
  }

  async #tracked<T>(fn: () => Promise<T>): Promise<T> {
    this.#busy++;
    try {
      return await fn();
    } finally {
      if (--this.#busy === 0) for (const r of this.#idle.splice(0)) r();
    }
  }
}

function same(rec: Location | undefined, loc: Location): boolean {
  return rec !== undefined && rec.node === loc.node && rec.queue === loc.queue;
}
