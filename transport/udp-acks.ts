// Outgoing acknowledgements of the UDP transport: queued per peer, taken by the next DATA
// datagram to that peer (piggyback, up to MAX_PIGGYBACK_ACKS), else sent in ACK datagrams
// after ackDelayMs (0: one event-loop turn). Owns no socket: the transport gives it a writer.

import { MAX_PIGGYBACK_ACKS, ackDatagram } from './udp-framing.ts';
import type { Peer } from './udp-peers.ts';

export class AckBatcher {
  #write: (peer: Peer, datagram: Buffer) => void;
  #perDatagram: number;
  #peers = new Set<Peer>();
  #flush: NodeJS.Immediate | NodeJS.Timeout | undefined;
  #delayMs: number;
  #reserve: number;
  /** Acks that rode on DATA, and acks sent in ACK datagrams. */
  piggybacked = 0;
  sent = 0;

  /** `reserve`: trailer bytes each datagram leaves free at its end (authentication). */
  constructor(mtu: number, delayMs: number, write: (peer: Peer, datagram: Buffer) => void, reserve = 0) {
    this.#reserve = reserve;
    this.#perDatagram = Math.min(255, Math.floor((mtu - 6 - reserve) / 4));
    this.#delayMs = delayMs;
    this.#write = write;
  }

  /**
   * Acknowledge `transfer` to `peer` soon. The flush timer is real time, not the transport's
   * clock: a few ms at most, and tests on a ManualClock still see acks. One timer serves all
   * peers and is not re-armed while it runs, so a busy request stream costs almost no timers.
   */
  queue(peer: Peer, transfer: number): void {
    const pending = peer.pendingAcks;
    // Repeats are harmless (a second ack of a transfer is a stray); keep short lists unique.
    if (pending.length > 16 || !pending.includes(transfer)) pending.push(transfer);
    this.#peers.add(peer);
    this.#flush ??= this.#delayMs === 0 ? setImmediate(this.#flushAll) : setTimeout(this.#flushAll, this.#delayMs);
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
    if (this.#flush !== undefined) {
      if (this.#delayMs === 0) clearImmediate(this.#flush as NodeJS.Immediate);
      else clearTimeout(this.#flush as NodeJS.Timeout);
    }
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
        this.#write(peer, ackDatagram(chunk, this.#reserve));
      }
    }
    this.#peers.clear();
  };
}
