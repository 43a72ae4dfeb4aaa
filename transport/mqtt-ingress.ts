// Guards for what arrives over MQTT, shared by the adapter and the embedded broker: per-key
// token buckets (per-box rate limits), a duplicate window for QoS 1 redeliveries, and the table
// of which box hosts a virtual address. Pure data structures over an injected clock; no mqtt.

import type { Clock } from '../runtime/index.ts';

/** Something worth a log line: a counted rejection, a link change, a fallback. */
export interface MqttLogEvent {
  event: 'reject' | 'link' | 'fallback';
  reason: string;
  box?: string;
  topic?: string;
  detail?: string;
}

export interface RateLimit {
  /** Sustained messages per second per box. */
  perSec: number;
  /** Messages a box may send at once above the sustained rate. */
  burst: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * One token bucket per key (box id). Past `maxKeys` the oldest key is forgotten (it starts over
 * with a full burst): insertion order, not use order, so the hot path is one Map lookup.
 */
export class TokenBuckets {
  readonly limit: RateLimit;
  #clock: Clock;
  #buckets = new Map<string, Bucket>();
  #maxKeys: number;

  constructor(limit: RateLimit, clock: Clock, maxKeys = 100_000) {
    this.limit = limit;
    this.#clock = clock;
    this.#maxKeys = maxKeys;
  }

  /** Take one token for `key`; false when the key is over its rate. */
  take(key: string): boolean {
    return this.reserve(key, 0) === 0;
  }

  /**
   * Take one token, going into debt up to `maxWaitMs` worth of tokens. Returns how long the
   * caller should hold the message to stay within the rate (0 = now), or -1 when even that is
   * not enough (the message is refused and no token is taken).
   */
  reserve(key: string, maxWaitMs: number): number {
    const now = this.#clock.now();
    const { perSec, burst } = this.limit;
    let b = this.#buckets.get(key);
    if (b === undefined) {
      if (this.#buckets.size >= this.#maxKeys) {
        const oldest = this.#buckets.keys().next();
        if (!oldest.done) this.#buckets.delete(oldest.value);
      }
      b = { tokens: burst, at: now };
      this.#buckets.set(key, b);
    } else if (now !== b.at) {
      b.tokens = Math.min(burst, b.tokens + ((now - b.at) * perSec) / 1000);
      b.at = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    const waitMs = ((1 - b.tokens) * 1000) / perSec;
    if (perSec <= 0 || waitMs > maxWaitMs) return -1;
    b.tokens -= 1;
    return waitMs;
  }

  forget(key: string): void {
    this.#buckets.delete(key);
  }

  get size(): number {
    return this.#buckets.size;
  }
}

/** Remembers the last `size` keys; `seen` answers whether a key came before, and records it. */
export class DedupWindow {
  #ring: (string | undefined)[];
  #set = new Set<string>();
  #next = 0;

  constructor(size: number) {
    this.#ring = new Array<string | undefined>(Math.max(1, size));
  }

  seen(key: string): boolean {
    if (this.#set.has(key)) return true;
    const old = this.#ring[this.#next];
    if (old !== undefined) this.#set.delete(old);
    this.#ring[this.#next] = key;
    this.#next = (this.#next + 1) % this.#ring.length;
    this.#set.add(key);
    return false;
  }
}

/**
 * Which box hosts a virtual address (head-end side). Bound by the registry when it places a
 * portion on a box [c31, c32], or learned from the first envelope a box sends from it. A binding
 * is never taken over by another box's traffic (that is a forged source); only `bind`/`unbind`
 * (a move decided by the head-end) change it.
 */
export class BoxRoutes {
  #routes = new Map<string, string>();
  #max: number;

  constructor(max = 200_000) {
    this.#max = max;
  }

  get(vaddr: string): string | undefined {
    return this.#routes.get(vaddr);
  }

  bind(vaddr: string, boxId: string): void {
    this.#routes.delete(vaddr);
    this.#evict();
    this.#routes.set(vaddr, boxId);
  }

  unbind(vaddr: string): boolean {
    return this.#routes.delete(vaddr);
  }

  /** Accept `vaddr` as sent from `boxId`: learn it if unknown; false if another box holds it. */
  learn(vaddr: string, boxId: string): boolean {
    const held = this.#routes.get(vaddr);
    if (held === undefined) {
      this.#evict();
      this.#routes.set(vaddr, boxId);
      return true;
    }
    return held === boxId;
  }

  get size(): number {
    return this.#routes.size;
  }

  #evict(): void {
    if (this.#routes.size < this.#max) return;
    const oldest = this.#routes.keys().next();
    if (!oldest.done) this.#routes.delete(oldest.value);
  }
}
