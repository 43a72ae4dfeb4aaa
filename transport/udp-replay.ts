// Replay protection of authenticated UDP datagrams: per sender, its boot epoch and a 64-slot
// sliding window over its datagram sequence numbers (RFC 4303 section 3.4.3 style). Only
// datagrams whose MAC verified reach it, so forged traffic never creates an entry. Bounded:
// at most maxSenders entries; the least recently heard is forgotten past that.

export type ReplayVerdict = 'fresh' | 'replayed' | 'stale';

export const WINDOW = 64;

class SenderWindow {
  epoch: number;
  /** Highest sequence number accepted in this epoch. */
  top: number;
  /** Bit (seq % 64) set: that sequence number, within 64 of top, was accepted. */
  readonly bits = new Uint32Array(2);
  lastSeen = 0;

  constructor(epoch: number, seq: number) {
    this.epoch = epoch;
    this.top = seq;
    this.#mark(seq);
  }

  check(epoch: number, seq: number): ReplayVerdict {
    if (epoch < this.epoch) return 'stale'; // an earlier boot of this sender: recorded traffic
    if (epoch > this.epoch) {
      // The sender restarted: a new epoch starts a new window, so it is never locked out.
      this.epoch = epoch;
      this.top = seq;
      this.bits.fill(0);
      this.#mark(seq);
      return 'fresh';
    }
    if (seq > this.top) {
      const ahead = seq - this.top;
      if (ahead >= WINDOW) this.bits.fill(0);
      else for (let s = this.top + 1; s < seq; s++) this.#clear(s);
      this.top = seq;
      this.#mark(seq);
      return 'fresh';
    }
    if (this.top - seq >= WINDOW || this.#has(seq)) return 'replayed';
    this.#mark(seq);
    return 'fresh';
  }

  #has(seq: number): boolean {
    const slot = seq % WINDOW;
    return ((this.bits[slot >>> 5] as number) & (1 << (slot & 31))) !== 0;
  }

  #mark(seq: number): void {
    const slot = seq % WINDOW;
    this.bits[slot >>> 5] = (this.bits[slot >>> 5] as number) | (1 << (slot & 31));
  }

  #clear(seq: number): void {
    const slot = seq % WINDOW;
    this.bits[slot >>> 5] = (this.bits[slot >>> 5] as number) & ~(1 << (slot & 31));
  }
}

export class ReplayTable {
  readonly maxSenders: number;
  #senders = new Map<number, SenderWindow>();
  #tick = 0;
  /** Entries forgotten to make room (a sender forgotten can be replayed to until it speaks again). */
  evicted = 0;

  constructor(maxSenders: number) {
    this.maxSenders = maxSenders;
  }

  /** Accept (and record) or refuse datagram `seq` of `sender` in boot `epoch`. Call only after the MAC verified. */
  check(sender: number, epoch: number, seq: number): ReplayVerdict {
    let w = this.#senders.get(sender);
    if (w === undefined) {
      if (this.#senders.size >= this.maxSenders) this.#evictOldest();
      w = new SenderWindow(epoch, seq);
      this.#senders.set(sender, w);
      w.lastSeen = ++this.#tick;
      return 'fresh';
    }
    const verdict = w.check(epoch, seq);
    if (verdict === 'fresh') w.lastSeen = ++this.#tick;
    return verdict;
  }

  get size(): number {
    return this.#senders.size;
  }

  clear(): void {
    this.#senders.clear();
  }

  // O(maxSenders), only when a new sender appears in a full table: senders are cluster nodes.
  #evictOldest(): void {
    let oldest: number | undefined;
    let at = Infinity;
    for (const [id, w] of this.#senders) {
      if (w.lastSeen < at) {
        at = w.lastSeen;
        oldest = id;
      }
    }
    if (oldest !== undefined) {
      this.#senders.delete(oldest);
      this.evicted++;
    }
  }
}
