// The Redis release store's announcements (D103): every write's script PUBLISHes the app it
// changed on `<prefix>rel:announce`, in the same atomic step as the write, and this subscriber
// (a connection of its own) hands each message to the store's watchers as it came: the body is
// not parsed here, the reader checks that it names an app. One path for one Redis and a cluster
// (a classic PUBLISH reaches every node of a cluster over its bus, so one node is enough): the
// connection never reconnects by itself; when it ends, a new one is made (the next cluster node),
// with a backoff while none takes it, and once it is subscribed watchers hear `resync`, since
// pub/sub is fire-and-forget and whatever was published meanwhile is gone.
import type { Redis } from 'ioredis';
import type { StoreAnnouncement } from './store.ts';

/** The channel a store's writes are announced on: one per key prefix, so stores kept apart by prefix do not hear each other. */
export function announceChannel(prefix: string): string {
  return `${prefix}rel:announce`;
}

/** The longest pause between two attempts to subscribe again, ms. */
const MAX_BACKOFF_MS = 2000;

/** `connect(attempt)`: a new connection (lazyConnect, no reconnection of its own); attempt counts from 0. */
export type SubscriberFactory = (attempt: number) => Redis;

export interface AnnouncementStats {
  /** Subscriptions lost (the connection ended), and made again. */
  dropped: number;
  resubscribed: number;
  /** Attempts to subscribe again that failed (each followed by another, after a backoff). */
  failedAttempts: number;
}

export class RedisAnnouncements {
  readonly #connect: SubscriberFactory;
  readonly #channel: string;
  readonly #watchers = new Set<(a: StoreAnnouncement) => void>();
  readonly #stats: AnnouncementStats = { dropped: 0, resubscribed: 0, failedAttempts: 0 };
  #sub: Redis | undefined;
  #attempt = 0;
  #rounds = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(connect: SubscriberFactory, prefix: string) {
    this.#connect = connect;
    this.#channel = announceChannel(prefix);
  }

  /** Subscribed to `prefix`'s channel; rejects when the first connection does not take it. */
  static async open(connect: SubscriberFactory, prefix: string): Promise<RedisAnnouncements> {
    const a = new RedisAnnouncements(connect, prefix);
    const e = await a.#subscribe();
    if (e !== undefined) throw new Error(`release store: cannot subscribe to ${a.#channel}: ${e.message}`, { cause: e });
    return a;
  }

  stats(): AnnouncementStats {
    return { ...this.#stats };
  }

  watch(listener: (a: StoreAnnouncement) => void): () => void {
    this.#watchers.add(listener);
    return () => void this.#watchers.delete(listener);
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#watchers.clear();
    this.#sub?.disconnect();
    this.#sub = undefined;
  }

  /** One attempt: undefined once subscribed, else why not. */
  async #subscribe(): Promise<Error | undefined> {
    let sub: Redis;
    try {
      sub = this.#connect(this.#attempt++);
    } catch (e) {
      return e as Error; // no node known right now
    }
    sub.on('error', () => {}); // the attempt's own promise carries its error; a drop ends in 'end'
    sub.on('message', (ch: string, text: string) => {
      if (ch === this.#channel && !this.#closed) this.#emit({ kind: 'changed', body: text });
    });
    try {
      await sub.connect();
      await sub.subscribe(this.#channel);
    } catch (e) {
      sub.disconnect();
      return e as Error;
    }
    if (this.#closed) return void sub.disconnect();
    this.#sub = sub;
    sub.once('end', () => this.#lost(sub));
    return undefined;
  }

  #lost(sub: Redis): void {
    if (this.#closed || sub !== this.#sub) return;
    this.#sub = undefined;
    this.#stats.dropped++;
    void this.#again();
  }

  async #again(): Promise<void> {
    if (this.#closed) return;
    if ((await this.#subscribe()) === undefined) {
      if (this.#closed) return;
      this.#rounds = 0;
      this.#stats.resubscribed++;
      return this.#emit({ kind: 'resync' });
    }
    if (this.#closed) return;
    this.#stats.failedAttempts++;
    this.#timer = setTimeout(() => void this.#again(), Math.min(MAX_BACKOFF_MS, 50 * 2 ** this.#rounds++));
    this.#timer.unref();
  }

  #emit(a: StoreAnnouncement): void {
    for (const f of this.#watchers) f(a);
  }
}
