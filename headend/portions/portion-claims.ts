// A node's portion claims, held true against a registry that can lose acknowledged writes [c31]
// (Redis Cluster's failover, docs/REGISTRY.md). Every address a node binds or moves onto one of
// its instances (a start, start-once's claim, a move's new host, a version upgrade, a replica's
// own address) is written through here and held by the node's ClaimKeeper; an unbind, a stop or
// a move-out lets go. A held record found in another's name stops the copy here through the
// node's stop path, counted and logged once. Registry calls and bookkeeping only.

import { Codes, RemoteError, rejectUnknown } from '../../runtime/index.ts';
import { ClaimKeeper, type ClaimKeeperOptions, type ClaimStats } from '../registry/claims.ts';
import type { Location, LocationRecord, Registry } from '../registry/registry.ts';

/** The registry writes a node's portion lifecycle makes (PortionClaims, or the registry itself where nothing is held). */
export type ClaimWrites = Pick<Registry, 'bind' | 'move' | 'unbind' | 'lookup'>;

/** The record names this very instance (node and queue). */
export function ours(rec: Location, loc: Location): boolean {
  return rec.node === loc.node && rec.queue === loc.queue;
}

export interface PortionClaimsHost {
  readonly registry: Registry;
  /** Stop instance `iid` here without unbinding (another node owns it); false when it was not running. */
  stopLost(iid: string): Promise<boolean>;
  /** The address whose record decides who runs instance `iid` (its portion's first), if it runs here. */
  claimOf?(iid: string): string | undefined;
  log(line: string): void;
}

export interface PortionClaimStats extends ClaimStats {
  /** Instances stopped here because a claim of theirs was found in another's name (or could not be read). */
  copiesStopped: number;
  /** Stops or give-backs of a lost copy that failed (logged). */
  stopErrors: number;
  /** Further addresses found in another's name while this copy still held its portion's claim: taken back, the copy kept. */
  retaken: number;
}

export class PortionClaims implements ClaimWrites {
  readonly keeper: ClaimKeeper;
  readonly #h: PortionClaimsHost;
  /** Instances being stopped for a lost claim, with the addresses they let go (given back after the stop). */
  readonly #stopping = new Map<string, { vaddr: string; loc: Location }[]>();
  readonly #stops = new Set<Promise<void>>();
  #copiesStopped = 0;
  #stopErrors = 0;
  #retaken = 0;

  constructor(host: PortionClaimsHost, options: Pick<ClaimKeeperOptions, 'backoff' | 'maxAttempts'> = {}) {
    rejectUnknown('PortionClaims', options, ['backoff', 'maxAttempts']);
    this.#h = host;
    this.keeper = new ClaimKeeper({ registry: host.registry, onLost: (v, owner, mine) => this.#lost(v, owner, mine), ...options });
  }

  get stats(): PortionClaimStats {
    return { ...this.keeper.stats, copiesStopped: this.#copiesStopped, stopErrors: this.#stopErrors, retaken: this.#retaken };
  }

  /** Bind and hold (a failed call is retried by the keeper; one that never answers throws UNAVAILABLE). */
  async bind(vaddr: string, loc: Location): ReturnType<Registry['bind']> {
    const r = await this.keeper.claim(vaddr, loc);
    if (r.ok || r.error.reason !== 'unavailable') return r as Awaited<ReturnType<Registry['bind']>>;
    throw new RemoteError(Codes.UNAVAILABLE, `registry unavailable: could not claim ${vaddr}`);
  }

  /** Move onto one of this node's instances and hold the record (retried as a bind is). */
  async move(vaddr: string, loc: Location, expectedEpoch: number): ReturnType<Registry['move']> {
    const r = await this.keeper.move(vaddr, loc, expectedEpoch);
    if (r.ok || r.error.reason !== 'unavailable') return r as Awaited<ReturnType<Registry['move']>>;
    throw new RemoteError(Codes.UNAVAILABLE, `registry unavailable: could not move ${vaddr}`);
  }

  /** Let go, then unbind: the unbind's own change is no loss. */
  unbind(vaddr: string, expectedEpoch?: number): ReturnType<Registry['unbind']> {
    this.keeper.forget(vaddr);
    return this.#h.registry.unbind(vaddr, expectedEpoch);
  }

  lookup(vaddr: string): Promise<LocationRecord | undefined> {
    return this.#h.registry.lookup(vaddr);
  }

  /** Instance `iid` stops here (ended, moved, upgraded away): its claims are let go; nothing is unbound. */
  letGo(iid: string): void {
    const gone = this.keeper.forgetInstance(iid);
    this.#stopping.get(iid)?.push(...gone);
  }

  /** Resolves when no claim, check or stop of a lost copy is in flight. */
  async settled(): Promise<void> {
    do {
      await this.keeper.settled();
      await Promise.all([...this.#stops]); // a retake that fails starts a stop before it ends
    } while (this.#stops.size > 0);
  }

  /**
   * [c31] A move-out: the target takes the records over, so their change is no loss. The function
   * returned takes them back after a failed move, reading each first: one the target already
   * took stops the copy here, as any lost claim does.
   */
  handOver(iid: string): () => void {
    const given = this.keeper.forgetInstance(iid);
    return () => {
      for (const { vaddr, loc } of given) this.keeper.hold(vaddr, loc);
    };
  }

  close(): void {
    this.keeper.close();
  }

  #lost(vaddr: string, owner: LocationRecord | undefined, mine: Location): void {
    const iid = mine.queue;
    if (iid === undefined || this.#stopping.has(iid)) return;
    // [c31] The portion's claim decides who runs it; a further address in another's name (a late
    // write of a copy that has lost the claim) is taken back while the claim is still this copy's.
    const claim = this.#h.claimOf?.(iid);
    if (claim !== undefined && claim !== vaddr && owner !== undefined) return this.#track(this.#retake(vaddr, owner, { ...mine, queue: iid }, claim));
    this.#stopCopy(vaddr, owner, mine, iid);
  }

  #stopCopy(vaddr: string, owner: LocationRecord | undefined, mine: Location, iid: string): void {
    if (this.#stopping.has(iid)) return;
    // Its other addresses go with it: let go now (and any its start still binds, through letGo),
    // given back after the stop if still in its name.
    const others = this.keeper.forgetInstance(iid);
    this.#stopping.set(iid, others);
    const whose = owner === undefined ? 'is gone (unbound by another) or could not be read' : `names ${owner.node}${owner.queue === undefined ? '' : ` (${owner.queue})`}`;
    const p = this.#stop(iid, others)
      .then((stopped) => {
        if (!stopped) return;
        this.#copiesStopped++;
        this.#h.log(`portion ${iid}: the record of ${vaddr} ${whose}; the copy here is stopped`);
      })
      .finally(() => this.#stopping.delete(iid));
    this.#track(p);
  }

  #track(p: Promise<void>): void {
    const q = p.finally(() => this.#stops.delete(q));
    this.#stops.add(q);
  }

  // Read the claim: still this copy's, move the address back (its record may change meanwhile:
  // read again, a few times); otherwise, or when that fails, the copy stops as any lost one does.
  async #retake(vaddr: string, owner: LocationRecord, mine: Location & { queue: string }, claim: string): Promise<void> {
    let cur: LocationRecord | undefined = owner;
    try {
      for (let i = 0; i < 3 && cur !== undefined && !ours(cur, mine); i++) {
        const rec = await this.#h.registry.lookup(claim);
        if (rec === undefined || !ours(rec, mine)) break;
        const moved = await this.keeper.move(vaddr, mine, cur.epoch);
        if (moved.ok) {
          this.#retaken++;
          this.#h.log(`portion ${mine.queue}: ${vaddr} was in ${cur.node}'s name while ${claim} is still this copy's; taken back`);
          return;
        }
        cur = moved.error.reason === 'unavailable' ? undefined : moved.error.current;
      }
    } catch {
      // unreadable: stop rather than risk two copies
    }
    this.#stopCopy(vaddr, cur, mine, mine.queue);
  }

  async #stop(iid: string, others: { vaddr: string; loc: Location }[]): Promise<boolean> {
    let stopped = false;
    try {
      stopped = await this.#h.stopLost(iid);
      others.push(...this.keeper.forgetInstance(iid));
      // An address still in the stopped instance's name is unbound, so the owner's bind takes it.
      for (const { vaddr, loc } of others) {
        const rec = await this.#h.registry.lookup(vaddr);
        if (rec !== undefined && ours(rec, loc)) await this.#h.registry.unbind(vaddr, rec.epoch);
      }
    } catch (e) {
      this.#stopErrors++;
      this.#h.log(`portion ${iid}: stopping the copy of a lost claim: ${(e as Error).message}`);
    }
    return stopped;
  }
}
