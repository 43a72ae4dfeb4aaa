// A node's claims on virtual addresses, kept true against a registry that can lose acknowledged
// writes (Redis Cluster's asynchronous replication) [c31]. A claim is a bind naming this node and
// one instance (`queue`); the owner is who the record names, never who remembers binding. On a
// change to a held vaddr, or a `reset` (a failover, a lost subscription), the keeper reads the
// record again: still this instance's, kept; another instance of this node's (it moved it), let
// go; gone, bound again (the instance still runs) unless another writer removed it on purpose
// (the feed told of its unbind: a survivor gave the session up); another node's, lost: `onLost`
// stops the copy. Registry calls only; the node runs instances
// (headend/portions/portion-claims.ts wires a node's portions to its keeper).

import { ArgumentError, type Result } from '../../runtime/index.ts';
import type { Conflict, Location, LocationRecord, Registry } from './registry.ts';
import { defaultBackoff, retryCall, type RetryPolicy } from './retry.ts';

export interface ClaimKeeperOptions {
  registry: Registry;
  /** The copy of `vaddr` this node runs (`mine`, whose `queue` names the instance) is not the owner: stop it. */
  onLost: (vaddr: string, owner: LocationRecord | undefined, mine: Location) => void;
  /** Wait before retry `attempt` (1, 2, ...) of a call the registry failed. Default 20 ms doubling to 1 s. */
  backoff?: (attempt: number) => Promise<void>;
  /** Failed registry calls tolerated per claim or check before giving up. Default 30. */
  maxAttempts?: number;
}

export interface ClaimStats {
  /** Claims and moves taken and held. */
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

export class ClaimKeeper {
  readonly stats: ClaimStats = { claimed: 0, refused: 0, checked: 0, rebound: 0, lost: 0, retries: 0 };
  readonly #registry: Registry;
  readonly #onLost: ClaimKeeperOptions['onLost'];
  readonly #policy: RetryPolicy;
  /** vaddr -> the location this node claimed and the epoch it last saw it at. */
  readonly #held = new Map<string, Held>();
  /** Held vaddrs by instance (`queue`), so an instance that stops or moves lets go of them all. */
  readonly #byQueue = new Map<string, Set<string>>();
  readonly #checking = new Map<string, Promise<void>>();
  #again = new Set<string>();
  /** Held vaddrs another writer unbound (the feed said so): gone on purpose, not lost in a failover. */
  #removed = new Set<string>();
  #busy = 0;
  #idle: (() => void)[] = [];
  #closed = false;
  readonly #unwatch: () => void;

  constructor(options: ClaimKeeperOptions) {
    for (const k of Object.keys(options)) if (!OPTIONS.includes(k)) throw new ArgumentError(`ClaimKeeper: unknown option "${k}"`, k);
    if (typeof options.onLost !== 'function') throw new ArgumentError('ClaimKeeper: onLost must be a function', 'onLost');
    this.#registry = options.registry;
    this.#onLost = options.onLost;
    this.#policy = { backoff: options.backoff ?? defaultBackoff, maxAttempts: options.maxAttempts ?? 30, stopped: () => this.#closed, retried: () => void this.stats.retries++ };
    this.#unwatch = this.#registry.watch((c) => {
      if (c.kind === 'reset') for (const v of this.#held.keys()) this.#check(v);
      // Any write to a held vaddr, even at the epoch held: a claim lost in a failover can be made
      // again by another node at the same epoch if that node never heard of the lost one.
      else if (c.kind === 'location' && this.#held.has(c.vaddr)) {
        // This node lets go before it unbinds, so a held vaddr's unbind is another writer's.
        if (c.deleted) this.#removed.add(c.vaddr);
        this.#check(c.vaddr);
      }
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
  claim(vaddr: string, loc: Location): Promise<Result<LocationRecord, ClaimRefusal>> {
    return this.#take(vaddr, loc, () => this.#registry.bind(vaddr, loc));
  }

  /**
   * Move `vaddr` onto `loc` (taking a portion over at `expectedEpoch`) and hold it, retried as a
   * claim is: a move that landed before its reply was lost is found as this instance's record.
   */
  move(vaddr: string, loc: Location, expectedEpoch: number): Promise<Result<LocationRecord, ClaimRefusal>> {
    return this.#take(vaddr, loc, () => this.#registry.move(vaddr, loc, expectedEpoch));
  }

  // On every setup's path: one async frame, the retry loop only after a failure (issue 19.7 cost).
  async #take(vaddr: string, loc: Location, write: () => ReturnType<Registry['bind']>): Promise<Result<LocationRecord, ClaimRefusal>> {
    let out: Awaited<ReturnType<Registry['bind']>> | null;
    this.#busy++;
    try {
      try {
        out = await write();
      } catch {
        out = await this.#retry(write, 1);
      }
    } finally {
      this.#untrack();
    }
    if (out === null) return { ok: false, error: { reason: 'unavailable' } };
    if (out.ok || same(out.error.current, loc)) {
      const rec = out.ok ? out.value : (out.error.current as LocationRecord);
      if (!this.#closed) this.#hold(vaddr, { loc, epoch: rec.epoch });
      this.stats.claimed++;
      return out.ok ? out : { ok: true, value: rec };
    }
    this.stats.refused++;
    return out;
  }

  /**
   * Hold a record this node wrote another way (a move onto `loc`, taking a portion over), at
   * `epoch`. Without an epoch the record is read first (`adopt`: a claim handed back after a
   * failed move-out): another's record then stops the copy as any lost claim does.
   */
  hold(vaddr: string, loc: Location, epoch?: number): void {
    if (this.#closed) return;
    this.#hold(vaddr, { loc, epoch: epoch ?? 0 });
    if (epoch === undefined) this.#check(vaddr);
  }

  /** Stop holding `vaddr` without unbinding it (its instance moved out or stopped); the location held, if any. */
  forget(vaddr: string): Location | undefined {
    const h = this.#held.get(vaddr);
    if (h !== undefined) this.#drop(vaddr, h);
    return h?.loc;
  }

  /** Stop holding every vaddr of instance `queue` (no unbind); what was let go. */
  forgetInstance(queue: string): { vaddr: string; loc: Location }[] {
    const out: { vaddr: string; loc: Location }[] = [];
    for (const vaddr of [...(this.#byQueue.get(queue) ?? [])]) {
      const loc = this.forget(vaddr);
      if (loc !== undefined) out.push({ vaddr, loc });
    }
    return out;
  }

  /** Give a claim back (the instance stopped): forget it and unbind it if still ours. */
  async release(vaddr: string): Promise<void> {
    const h = this.#held.get(vaddr);
    if (h === undefined) return;
    this.#drop(vaddr, h);
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
    this.#closed = true;
    this.#unwatch();
    this.#held.clear();
    this.#byQueue.clear();
    this.#removed.clear();
  }

  #hold(vaddr: string, h: Held): void {
    const prev = this.#held.get(vaddr);
    if (prev !== undefined) this.#drop(vaddr, prev);
    this.#held.set(vaddr, h);
    const q = h.loc.queue ?? '';
    let set = this.#byQueue.get(q);
    if (set === undefined) this.#byQueue.set(q, (set = new Set()));
    set.add(vaddr);
  }

  #drop(vaddr: string, h: Held): void {
    if (this.#held.get(vaddr) !== h) return;
    this.#held.delete(vaddr);
    this.#removed.delete(vaddr);
    const q = h.loc.queue ?? '';
    const set = this.#byQueue.get(q);
    set?.delete(vaddr);
    if (set?.size === 0) this.#byQueue.delete(q);
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
    // Let go or held anew meanwhile (this node moved it to another of its instances): that claim's own.
    if (this.#held.get(vaddr) !== h) return;
    if (rec === null) return this.#lose(vaddr, h, undefined); // could not read: stop rather than risk two copies
    if (rec === undefined && this.#removed.delete(vaddr)) return this.#lose(vaddr, h, undefined);
    if (rec === undefined) {
      // [c31] the record vanished (a claim its master acknowledged, lost in the failover): the
      // instance still runs, so claim it again; whoever binds first owns it.
      const again = await this.#retry(() => this.#registry.bind(vaddr, h.loc));
      if (this.#held.get(vaddr) !== h) return;
      if (again === null) return this.#lose(vaddr, h, undefined);
      if (again.ok) this.stats.rebound++;
      rec = again.ok ? again.value : again.error.current;
    }
    if (rec !== undefined && same(rec, h.loc)) {
      h.epoch = rec.epoch;
      return;
    }
    // Another instance of this node (the node moved the record itself, a version upgrade): its
    // own claim, held by that write; nothing here to stop.
    if (rec !== undefined && rec.node === h.loc.node) return this.#drop(vaddr, h);
    this.#lose(vaddr, h, rec);
  }

  #lose(vaddr: string, h: Held, owner: LocationRecord | undefined): void {
    if (this.#held.get(vaddr) !== h) return;
    this.#drop(vaddr, h);
    this.stats.lost++;
    this.#onLost(vaddr, owner, h.loc);
  }

  /** `fn`, retried after a backoff while it throws; null after maxAttempts failures (registry/retry.ts). */
  #retry<T>(fn: () => Promise<T>, failed = 0): Promise<T | null> {
    return retryCall(fn, this.#policy, failed);
  }

  #untrack(): void {
    if (--this.#busy === 0 && this.#idle.length > 0) for (const r of this.#idle.splice(0)) r();
  }

  async #tracked<T>(fn: () => Promise<T>): Promise<T> {
    this.#busy++;
    try {
      return await fn();
    } finally {
      this.#untrack();
    }
  }
}

interface Held {
  loc: Location;
  epoch: number;
}

function same(rec: Location | undefined, loc: Location): boolean {
  return rec !== undefined && rec.node === loc.node && rec.queue === loc.queue;
}
