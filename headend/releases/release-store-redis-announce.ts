// The Redis release store's announcements (D103): every write's script PUBLISHes the app it
// changed on `<prefix>rel:announce`, in the same atomic step as the write, and this subscriber
// (its own connection) hands each message to the store's watchers as it came: the body is not
// parsed here, the reader checks that it names an app. Pub/sub is fire-and-forget, so once the
// connection is back after a drop (ioredis reconnects) the channel is subscribed again, and only
// then do watchers hear `resync`: a full sync that starts after it misses nothing.
import type { Redis } from 'ioredis';
import type { StoreAnnouncement } from './store.ts';

/** The channel a store's writes are announced on: one per key prefix, so stores kept apart by prefix do not hear each other. */
export function announceChannel(prefix: string): string {
  return `${prefix}rel:announce`;
}

export class RedisAnnouncements {
  readonly #sub: Redis;
  readonly #channel: string;
  readonly #watchers = new Set<(a: StoreAnnouncement) => void>();
  #closed = false;

  private constructor(sub: Redis, channel: string) {
    this.#sub = sub;
    this.#channel = channel;
  }

  /** Subscribe `sub` (a new, unconnected connection, lazyConnect) to `prefix`'s channel. */
  static async open(sub: Redis, prefix: string): Promise<RedisAnnouncements> {
    const a = new RedisAnnouncements(sub, announceChannel(prefix));
    sub.on('error', () => {}); // reconnects on its own; a gap ends in `resync`
    sub.on('message', (ch: string, text: string) => {
      if (ch === a.#channel && !a.#closed) a.#emit({ kind: 'changed', body: text });
    });
    try {
      await sub.connect();
      await sub.subscribe(a.#channel);
    } catch (e) {
      sub.disconnect();
      throw new Error(`release store: cannot subscribe to ${a.#channel}: ${(e as Error).message}`, { cause: e });
    }
    sub.on('ready', () => void a.#again());
    return a;
  }

  watch(listener: (a: StoreAnnouncement) => void): () => void {
    this.#watchers.add(listener);
    return () => void this.#watchers.delete(listener);
  }

  close(): void {
    this.#closed = true;
    this.#watchers.clear();
    this.#sub.disconnect();
  }

  // Back after a drop: subscribe (again: a no-op if ioredis already did) and wait for the server's
  // answer, so the full sync the watchers make next reads after the subscription took effect. A
  // subscribe that fails (dropped again) still ends in `resync`: the sync costs a token read.
  async #again(): Promise<void> {
    if (this.#closed) return;
    await this.#sub.subscribe(this.#channel).catch(() => {});
    if (!this.#closed) this.#emit({ kind: 'resync' });
  }

  #emit(a: StoreAnnouncement): void {
    for (const f of this.#watchers) f(a);
  }
}
