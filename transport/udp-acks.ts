// Outgoing acknowledgements of the UDP transport: queued per peer, taken by the next DATA
// datagram to that peer (piggyback, up to MAX_PIGGYBACK_ACKS), else sent in ACK datagrams one
// event-loop turn later. Owns no socket: the transport gives it a writer.

import { MAX_PIGGYBACK_ACKS, ackDatagram } from './udp-framing.ts';
import type { Peer } from './udp-peers.ts';

export class AckBatcher {
  #write: (peer: Peer, datagram: Buffer) => void;
  #perDatagram: number;
  #peers = new Set<Peer>();
  #flush: NodeJS.Immediate | undefined;
  /** Acks that rode on DATA, and acks sent in ACK datagrams. */
  piggybacked = 0;
  sent = 0;

  constructor(mtu: number, write: (peer: Peer, datagram: Buffer) => void) {
    this.#perDatagram = Math.min(255, Math.floor((mtu - 6) / 4));
    this.#write = write;
  }

  /** Acknowledge `transfer` to `peer` soon. Waits one event-loop turn for a DATA to ride on. */
  queue(peer: Peer, transfer: number): void {
    const pending = peer.pendingAcks;
    // Repeats are harmless (a second ack of a transfer is a stray); keep short lists unique.
    if (pending.length > 16 || !pending.includes(transfer)) pending.push(transfer);
    this.#peers.add(peer);
    this.#flush ??= setImmediate(this.#flushAll);
  }

  /** The acks a DATA datagram to `peer` should carry now (removed from the queue). */
  take(peer: Peer): number[] {
    const pending = peer.pendingAcks;
    if (pending.length === 0) return pending;
    let acks: number[];
    if (pending.length <= MAX_PIGGYBACK_ACKS) {
      acks = pending;
      peer.pendingAcks = [];
    } else {
      acks = pending.splice(0, MAX_PIGGYBACK_ACKS);
    }
    this.piggybacked += acks.length;
    return acks;
  }

  /** Drop everything queued and the pending flush (transport closed). */
  clear(): void {
    if (this.#flush !== undefined) clearImmediate(this.#flush);
    this.#flush = undefined;
    for (const p of this.#peers) p.pendingAcks = [];
    this.#peers.clear();
  }

  #flushAll = (): void => {
    this.#flush = undefined;
    for (const peer of this.#peers) {
      const ids = peer.pendingAcks;
      peer.pendingAcks = [];
      for (let i = 0; i < ids.length; i += this.#perDatagram) {
        const chunk = ids.slice(i, i + this.#perDatagram);
        this.sent += chunk.length;
        this.#write(peer, ackDatagram(chunk));
      }
    }
    this.#peers.clear();
  };
}
