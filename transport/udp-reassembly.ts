// Receive side of UDP transfers: duplicate suppression and fragment reassembly under hard
// limits (partials per peer and in total, buffered bytes, fragments per transfer, age), so a
// hostile sender cannot make the process hold unbounded memory. No sockets, no timers here.

import { type DataFrame, bitmapBytes, hasBit, setBit } from './udp-framing.ts';
import type { PartialTransfer, Peer } from './udp-peers.ts';

export interface ReassemblyLimits {
  maxPartialPerPeer: number;
  maxPartialTotal: number;
  maxReassemblyBytes: number;
  reassemblyTimeoutMs: number;
  maxFragments: number;
  maxMessageBytes: number;
  dedupWindowMs: number;
  maxDedupPerPeer: number;
}

export type DropReason = 'partialLimit' | 'bytesLimit' | 'tooLarge' | 'fragment';

export type Accepted =
  | { kind: 'complete'; bytes: Uint8Array }
  /** The transfer completed before (within the duplicate window): do not deliver again. */
  | { kind: 'duplicate' }
  /** Stored (or already held: `fresh` false); the transfer is still incomplete. */
  | { kind: 'partial'; partial: PartialTransfer; fresh: boolean }
  | { kind: 'dropped'; reason: DropReason };

const DUPLICATE: Accepted = { kind: 'duplicate' };
const drop = {
  partialLimit: { kind: 'dropped', reason: 'partialLimit' },
  bytesLimit: { kind: 'dropped', reason: 'bytesLimit' },
  tooLarge: { kind: 'dropped', reason: 'tooLarge' },
  fragment: { kind: 'dropped', reason: 'fragment' },
} as const;

export class Reassembler {
  readonly limits: ReassemblyLimits;
  /** Gauges: partial transfers and fragment bytes held right now, over all peers. */
  partials = 0;
  bytes = 0;
  /** Partial transfers dropped to make room for a peer holding less (see #makeRoom). */
  evicted = 0;
  #peers: () => Iterable<Peer>;

  constructor(limits: ReassemblyLimits, peers: () => Iterable<Peer>) {
    this.limits = limits;
    this.#peers = peers;
  }

  /** Take one DATA fragment from `peer` at time `now`. */
  accept(peer: Peer, f: DataFrame, now: number): Accepted {
    if (this.isDone(peer, f.transfer, now)) return DUPLICATE;
    if (f.count === 1) {
      this.#done(peer, f.transfer, now);
      return { kind: 'complete', bytes: f.payload };
    }
    const L = this.limits;
    if (f.count > L.maxFragments) return drop.fragment;
    let p = peer.partials.get(f.transfer);
    if (p === undefined) {
      if (peer.partials.size >= L.maxPartialPerPeer) return drop.partialLimit;
      if (this.partials >= L.maxPartialTotal && !this.#makeRoom(peer, 'count')) return drop.partialLimit;
      p = {
        transfer: f.transfer,
        count: f.count,
        startedAt: now,
        frags: new Array<Uint8Array | undefined>(f.count),
        received: new Uint8Array(bitmapBytes(f.count)),
        have: 0,
        bytes: 0,
        nackedAt: -Infinity,
        nackedHave: -1,
      };
      peer.partials.set(f.transfer, p);
      this.partials++;
    } else if (p.count !== f.count) {
      return drop.fragment;
    }
    if (hasBit(p.received, f.index)) return { kind: 'partial', partial: p, fresh: false };
    const size = f.payload.length;
    if (p.bytes + size > L.maxMessageBytes) {
      this.#release(peer, p);
      return drop.tooLarge;
    }
    while (this.bytes + size > L.maxReassemblyBytes) {
      if (this.#makeRoom(peer, 'bytes')) continue;
      if (p.have === 0) this.#release(peer, p);
      return drop.bytesLimit;
    }
    p.frags[f.index] = f.payload;
    setBit(p.received, f.index);
    p.have++;
    p.bytes += size;
    this.bytes += size;
    if (p.have < p.count) return { kind: 'partial', partial: p, fresh: true };
    const whole = Buffer.allocUnsafe(p.bytes);
    let at = 0;
    for (const frag of p.frags) {
      whole.set(frag as Uint8Array, at);
      at += (frag as Uint8Array).length;
    }
    this.#release(peer, p);
    this.#done(peer, f.transfer, now);
    return { kind: 'complete', bytes: whole };
  }

  /** A transfer of one fragment (udp.ts reads it in place): true when new, now recorded done; false for a duplicate. */
  single(peer: Peer, transfer: number, now: number): boolean {
    if (this.isDone(peer, transfer, now)) return false;
    this.#done(peer, transfer, now);
    return true;
  }

  /** Whether `transfer` from `peer` completed within the duplicate window. */
  isDone(peer: Peer, transfer: number, now: number): boolean {
    return peer.completed.has(transfer, now - this.limits.dedupWindowMs);
  }

  /** Drop partial transfers older than the reassembly timeout; returns how many. */
  sweep(peers: Iterable<Peer>, now: number): number {
    let expired = 0;
    const oldest = now - this.limits.reassemblyTimeoutMs;
    for (const peer of peers) {
      for (const p of peer.partials.values()) {
        if (p.startedAt > oldest) break; // insertion order is age order
        this.#release(peer, p);
        expired++;
      }
    }
    return expired;
  }

  /** Forget everything held for `peer` (evicted or closed). */
  dropPeer(peer: Peer): void {
    for (const p of peer.partials.values()) this.#release(peer, p);
    peer.completed.clear();
  }

  // Over a global limit, the peer holding the most gives up its oldest partial transfer, but
  // only to a peer holding less: one flooding sender cannot starve the others, only itself.
  #makeRoom(asking: Peer, by: 'count' | 'bytes'): boolean {
    const held = (p: Peer): number => {
      if (by === 'count') return p.partials.size;
      let n = 0;
      for (const x of p.partials.values()) n += x.bytes;
      return n;
    };
    let top: Peer | undefined;
    let most = held(asking);
    for (const p of this.#peers()) {
      if (p === asking || p.partials.size === 0) continue;
      const h = held(p);
      if (h > most) {
        top = p;
        most = h;
      }
    }
    const victim = top === undefined ? undefined : top.partials.values().next().value;
    if (top === undefined || victim === undefined) return false;
    this.#release(top, victim);
    this.evicted++;
    return true;
  }

  #release(peer: Peer, p: PartialTransfer): void {
    if (peer.partials.delete(p.transfer)) {
      this.partials--;
      this.bytes -= p.bytes;
    }
  }

  #done(peer: Peer, transfer: number, now: number): void {
    peer.completed.add(transfer, now, now - this.limits.dedupWindowMs);
  }
}
