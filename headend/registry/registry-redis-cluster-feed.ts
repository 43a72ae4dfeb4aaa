// The change feed of the Redis Cluster registry: one subscriber connection to any node of the
// cluster (classic PUBLISH reaches every node over the cluster bus), moved to another node when
// its node goes, with a `reset` once it listens again. And the node-local epoch high-water mark
// that keeps a re-made claim from repeating an epoch a failover lost. Takes connections from its
// owner (registry-redis-cluster.ts); imports no Redis package.

import type { Redis } from 'ioredis';
import { parseChange, type RegistryChange } from './registry.ts';

export interface ClusterFeedOptions {
  channel: string;
  /** This registry's origin id: its own changes were heard synchronously, skip them. */
  origin: string;
  /** The cluster's nodes now (masters and replicas). */
  nodes(): { host: string; port: number }[];
  /** A new, unconnected connection to one node that never reconnects by itself. */
  connect(host: string, port: number): Redis;
  emit(change: RegistryChange): void;
  onError(err: unknown): void;
}

/** The longest pause between rounds of trying every node for a subscriber, ms. */
const MAX_BACKOFF_MS = 2000;
/** The shortest time between two resets for nodes leaving the topology, ms. */
const RESET_COALESCE_MS = 250;

export class ClusterChangeFeed {
  readonly #o: ClusterFeedOptions;
  #sub: Redis | undefined;
  #next = 0;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #rounds = 0;
  #resetTimer: NodeJS.Timeout | undefined;
  #resetAgain = false;

  constructor(options: ClusterFeedOptions) {
    this.#o = options;
  }

  /** Subscribe on some node; rejects when no node takes the subscription. */
  async start(): Promise<void> {
    if (!(await this.#subscribeSomewhere())) throw new Error('no cluster node accepted the subscription');
  }

  /** Tell watchers that changes may have been missed (a failover may have undone writes). */
  reset(): void {
    if (!this.#stopped) this.#o.emit({ kind: 'reset' });
  }

  // A node left the topology (a failover): writes may have been undone. During a failover the
  // pool drops and re-adds the dead node many times (nodes disagree until gossip settles): one
  // reset at once, then at most one more per RESET_COALESCE_MS while it lasts.
  nodeLeft(): void {
    if (this.#stopped) return;
    if (this.#resetTimer !== undefined) {
      this.#resetAgain = true;
      return;
    }
    this.reset();
    this.#resetTimer = setTimeout(() => {
      this.#resetTimer = undefined;
      if (this.#resetAgain) {
        this.#resetAgain = false;
        this.nodeLeft();
      }
    }, RESET_COALESCE_MS);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#resetTimer);
    this.#sub?.disconnect();
    this.#sub = undefined;
  }

  async #subscribeSomewhere(): Promise<boolean> {
    const nodes = this.#o.nodes();
    for (let i = 0; i < nodes.length && !this.#stopped; i++) {
      const n = nodes[(this.#next + i) % nodes.length];
      if (n === undefined) continue;
      const sub = this.#o.connect(n.host, n.port);
      sub.on('error', () => {});
      sub.on('message', (ch: string, text: string) => this.#onMessage(ch, text));
      try {
        await sub.connect();
        await sub.subscribe(this.#o.channel);
      } catch {
        sub.disconnect();
        continue;
      }
      if (this.#stopped) {
        sub.disconnect();
        return false;
      }
      this.#next = (this.#next + i + 1) % Math.max(1, nodes.length);
      this.#sub = sub;
      sub.once('end', () => this.#lost(sub));
      return true;
    }
    return false;
  }

  #lost(sub: Redis): void {
    if (this.#stopped || sub !== this.#sub) return;
    this.#sub = undefined;
    void this.#again();
  }

  // Changes published while no one listened are gone: once listening again, every cache starts over.
  async #again(): Promise<void> {
    if (this.#stopped) return;
    if (await this.#subscribeSomewhere()) {
      this.#rounds = 0;
      this.reset();
      return;
    }
    if (this.#stopped) return;
    const ms = Math.min(MAX_BACKOFF_MS, 50 * 2 ** this.#rounds++);
    this.#timer = setTimeout(() => void this.#again(), ms);
  }

  #onMessage(channel: string, text: string): void {
    if (channel !== this.#o.channel || this.#stopped) return;
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (e) {
      this.#o.onError(e);
      return;
    }
    if ((raw as { origin?: unknown }).origin === this.#o.origin) return;
    const change = parseChange(raw);
    if (change === undefined) this.#o.onError(new Error(`unreadable registry change: ${text.slice(0, 80)}`));
    else this.#o.emit(change);
  }
}

/** The most vaddrs whose highest epoch one registry instance remembers (the oldest is forgotten). */
export const MAX_REMEMBERED_EPOCHS = 100_000;

/**
 * The highest location epoch this node has seen per vaddr (its writes, lookups, the change feed):
 * the floor of the next epoch it writes, so a claim lost in a failover and made again gets a
 * higher epoch than the lost one, not the same.
 */
export class EpochMemory {
  readonly #seen = new Map<string, number>();

  get(vaddr: string): number {
    return this.#seen.get(vaddr) ?? 0;
  }

  saw(vaddr: string, epoch: number): void {
    if (!Number.isSafeInteger(epoch) || epoch < 1) return;
    const had = this.#seen.get(vaddr);
    if (had !== undefined && had >= epoch) return;
    this.#seen.delete(vaddr); // re-insert: most recent last
    this.#seen.set(vaddr, epoch);
    if (this.#seen.size > MAX_REMEMBERED_EPOCHS) {
      const oldest = this.#seen.keys().next().value;
      if (oldest !== undefined) this.#seen.delete(oldest);
    }
  }

  get size(): number {
    return this.#seen.size;
  }
}
