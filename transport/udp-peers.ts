// Per-peer state of the UDP transport: the round-trip estimate (RFC 6298 style) that sets the
// retransmission timeout, the duplicate window, partial transfers and acks waiting to go out.
// Bounded: the table keeps at most maxPeers peers and forgets the least recently heard one.

import type { PartialTransfer } from './udp-reassembly.ts';

export class Peer {
  readonly key: string;
  readonly host: string;
  readonly port: number;
  /** Completed transfer id -> when it completed (ms), oldest first: the duplicate window. */
  readonly completed = new Map<number, number>();
  /** Transfers being reassembled, oldest first. */
  readonly partials = new Map<number, PartialTransfer>();
  /** Transfer ids to acknowledge, sent alone or piggybacked on the next DATA to this peer. */
  readonly pendingAcks = new Set<number>();
  #srtt = -1;
  #rttvar = 0;

  constructor(host: string, port: number) {
    this.host = host;
    this.port = port;
    this.key = peerKey(host, port);
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

/** Peers by host and port, least recently heard first. */
export class PeerTable {
  readonly maxPeers: number;
  #peers = new Map<string, Peer>();
  #onEvict: (p: Peer) => void;

  constructor(maxPeers: number, onEvict: (p: Peer) => void) {
    this.maxPeers = maxPeers;
    this.#onEvict = onEvict;
  }

  /** The peer at host:port, created (evicting the least recently heard) if new; marks it recent. */
  touch(host: string, port: number): Peer {
    const key = peerKey(host, port);
    let p = this.#peers.get(key);
    if (p !== undefined) {
      this.#peers.delete(key);
      this.#peers.set(key, p);
      return p;
    }
    if (this.#peers.size >= this.maxPeers) {
      const oldest = this.#peers.values().next().value as Peer;
      this.#peers.delete(oldest.key);
      this.#onEvict(oldest);
    }
    p = new Peer(host, port);
    this.#peers.set(key, p);
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
    this.#peers.clear();
  }
}
