// Per-peer state of the UDP transport: the round-trip estimate (RFC 6298 style) that sets the
// retransmission timeout, the duplicate window, partial transfers and acks waiting to go out.
// Bounded: the table keeps at most maxPeers peers and forgets the least recently heard one.

import { isIPv6 } from 'node:net';
import { DedupWindow } from './udp-dedup.ts';

/**
 * The socket's `lookup`: peers are IP literals (checked before a send: runtime/address.ts, and
 * the socket's family in udp.ts), so no resolver runs per datagram, and the datagram is written
 * at once instead of after a deferred callback (node:dgram's default dns.lookup: a regex and a
 * process.nextTick per send).
 */
export function literalLookup(address: string, family: unknown, cb: (err: Error | null, address: string, family: number) => void): void {
  if (family === 6 && !isIPv6(address)) return cb(new Error(`udp peer ${address} is not an IPv6 literal`), address, 6);
  cb(null, address, family === 6 ? 6 : 4);
}

/** A transfer being reassembled (udp-reassembly.ts fills it); held by its peer. */
export interface PartialTransfer {
  readonly transfer: number;
  readonly count: number;
  readonly startedAt: number;
  readonly frags: (Uint8Array | undefined)[];
  /** Bitmap of fragments held, as sent in a NACK. */
  readonly received: Uint8Array;
  have: number;
  bytes: number;
  /** When a NACK last answered a POLL for it (clock ms), and how many fragments it showed. */
  nackedAt: number;
  nackedHave: number;
}

export class Peer {
  readonly key: string;
  readonly host: string;
  readonly port: number;
  /** Transfers completed recently: the duplicate window. */
  readonly completed: DedupWindow;
  /** Transfers being reassembled, oldest first. */
  readonly partials = new Map<number, PartialTransfer>();
  /** Transfer ids to acknowledge, sent alone or piggybacked on the next DATA to this peer. */
  pendingAcks: number[] = [];
  #srtt = -1;
  #rttvar = 0;

  /** When a datagram from this peer was last taken (table order for eviction). */
  lastSeen = 0;
  /** Set when the table forgot this peer: holders of the object must look it up again. */
  evicted = false;

  constructor(host: string, port: number, dedupCapacity: number) {
    this.host = host;
    this.port = port;
    this.key = peerKey(host, port);
    this.completed = new DedupWindow(dedupCapacity);
  }

  /** Feed one round-trip sample (ms) from a transfer that was not retransmitted (Karn). */
  sample(rtt: number): void {
    if (this.#srtt < 0) {
      this.#srtt = rtt;
      this.#rttvar = rtt / 2;
    } else {
      this.#rttvar = 0.75 * this.#rttvar + 0.25 * Math.abs(this.#srtt - rtt);
      this.#srtt = 0.875 * this.#srtt + 0.125 * rtt;
    }
  }

  /** Retransmission timeout: `initial` until a sample exists, then srtt + 4 rttvar, clamped. */
  rto(initial: number, min: number, max: number): number {
    if (this.#srtt < 0) return initial;
    return Math.min(max, Math.max(min, this.#srtt + Math.max(1, 4 * this.#rttvar)));
  }

  get srtt(): number {
    return this.#srtt;
  }
}

export function peerKey(host: string, port: number): string {
  return `${host}|${port}`;
}

/** Peers by host and port; past maxPeers the least recently heard is forgotten. */
export class PeerTable {
  readonly maxPeers: number;
  #peers = new Map<string, Peer>();
  #onEvict: (p: Peer) => void;
  #dedupCapacity: number;
  #tick = 0;

  constructor(maxPeers: number, dedupCapacity: number, onEvict: (p: Peer) => void) {
    this.maxPeers = maxPeers;
    this.#dedupCapacity = dedupCapacity;
    this.#onEvict = onEvict;
  }

  /** The peer at host:port, created (evicting the least recently heard) if new; marks it recent. */
  touch(host: string, port: number): Peer {
    const key = peerKey(host, port);
    let p = this.#peers.get(key);
    if (p === undefined) {
      // A linear scan, only when the table is full and a new peer appears: O(maxPeers).
      if (this.#peers.size >= this.maxPeers) {
        let oldest: Peer | undefined;
        for (const q of this.#peers.values()) if (oldest === undefined || q.lastSeen < oldest.lastSeen) oldest = q;
        if (oldest !== undefined) {
          this.#peers.delete(oldest.key);
          oldest.evicted = true;
          this.#onEvict(oldest);
        }
      }
      p = new Peer(host, port, this.#dedupCapacity);
      this.#peers.set(key, p);
    }
    p.lastSeen = ++this.#tick;
    return p;
  }

  /** Mark a peer already held (e.g. memoised by the caller) as just heard from. */
  seen(p: Peer): Peer {
    p.lastSeen = ++this.#tick;
    return p;
  }

  /** The peer at host:port without creating or reordering. */
  find(host: string, port: number): Peer | undefined {
    return this.#peers.get(peerKey(host, port));
  }

  values(): IterableIterator<Peer> {
    return this.#peers.values();
  }

  get size(): number {
    return this.#peers.size;
  }

  clear(): void {
    for (const p of this.#peers.values()) p.evicted = true;
    this.#peers.clear();
  }
}
