// Local-queue transport [c8, c10]: delivery between entities of the same server by queue id,
// passing the envelope object itself (no encoding). The sender must not mutate it after send.
// Delivery is asynchronous (a microtask drain per queue) so a handler never re-enters its sender.

import type { Address } from './address.ts';
import type { Envelope } from './envelope.ts';
import { AddressError, ArgumentError, ChannelClosedError } from './errors.ts';
import type { EnvelopeHandler, Transport } from './transport.ts';

const DONE: Promise<void> = Promise.resolve();

/** The set of queues on one server. Each `open` gives a transport bound to a queue id. */
export class LocalBus {
  #queues = new Map<string, LocalQueueTransport>();

  open(queue: string): LocalQueueTransport {
    if (typeof queue !== 'string' || queue.length === 0) throw new ArgumentError('LocalBus.open: queue id must be a non-empty string', 'queue');
    if (this.#queues.has(queue)) throw new AddressError(`local queue "${queue}" is already open`, queue);
    const t = new LocalQueueTransport(this, queue);
    this.#queues.set(queue, t);
    return t;
  }

  has(queue: string): boolean {
    return this.#queues.has(queue);
  }

  /** @internal */
  lookup(queue: string): LocalQueueTransport | undefined {
    return this.#queues.get(queue);
  }

  /** @internal */
  remove(t: LocalQueueTransport): void {
    if (this.#queues.get(t.queue) === t) this.#queues.delete(t.queue);
  }

  get size(): number {
    return this.#queues.size;
  }
}

export class LocalQueueTransport implements Transport {
  readonly kind = 'local';
  readonly address: Address;
  readonly queue: string;
  #bus: LocalBus;
  #handler: EnvelopeHandler | undefined;
  #inbox: Envelope[] = [];
  #head = 0;
  #scheduled = false;
  #closed = false;
  #stats = { sent: 0, received: 0, dropped: 0 };

  constructor(bus: LocalBus, queue: string) {
    this.#bus = bus;
    this.queue = queue;
    this.address = { queue };
  }

  get closed(): boolean {
    return this.#closed;
  }

  send(env: Envelope): Promise<void> {
    if (this.#closed) return Promise.reject(new ChannelClosedError('local transport closed'));
    const q = env.dst.queue;
    const target = q === undefined ? undefined : this.#bus.lookup(q);
    if (target === undefined) {
      return Promise.reject(new AddressError(`no local queue for ${q === undefined ? 'an address without a queue id' : `"${q}"`}`, env.dst));
    }
    this.#stats.sent++;
    target.#enqueue(env);
    return DONE;
  }

  onEnvelope(handler: EnvelopeHandler): void {
    this.#handler = handler;
    if (this.#inbox.length > this.#head) this.#schedule();
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#bus.remove(this);
      this.#stats.dropped += this.#inbox.length - this.#head;
      this.#inbox = [];
      this.#head = 0;
    }
    return DONE;
  }

  stats(): Readonly<Record<string, number>> {
    return { ...this.#stats, queued: this.#inbox.length - this.#head };
  }

  #enqueue(env: Envelope): void {
    this.#inbox.push(env);
    if (!this.#scheduled && this.#handler !== undefined) this.#schedule();
  }

  #schedule(): void {
    this.#scheduled = true;
    queueMicrotask(this.#drain);
  }

  // Drain everything queued so far in one microtask; handlers that send re-schedule.
  #drain = (): void => {
    this.#scheduled = false;
    const handler = this.#handler;
    if (handler === undefined || this.#closed) return;
    const inbox = this.#inbox;
    while (this.#head < inbox.length) {
      const env = inbox[this.#head++] as Envelope;
      this.#stats.received++;
      try {
        handler(env);
      } catch {
        this.#stats.dropped++;
      }
      if (this.#closed) return;
    }
    this.#inbox = [];
    this.#head = 0;
  };
}
