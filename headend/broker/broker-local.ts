// The node's link to the broker in its own process (issue 19, the per-message cost): an MQTT
// client for the transport (MqttClientLike) that calls the embedded broker directly instead of
// encoding MQTT packets over a loopback socket to itself. Only the node of the same process uses
// it; boxes still reach the broker over TCP through every guard. No aedes import here.

import { EventEmitter } from 'node:events';
import type { ConnackLike, MqttClientFactory, MqttClientLike, PublishOptionsLike, StreamLike } from '../../transport/mqtt-client.ts';

/** What the embedded broker offers a client of its own process (broker-aedes.ts implements it). */
export interface LocalBroker {
  readonly closed: boolean;
  /** Publish as the node; `done` once the broker has handed it to its subscribers (a PUBACK's moment). */
  publish(topic: string, payload: Buffer, qos: 0 | 1, done: (err?: Error) => void): void;
  /** Subscribe `filter`; returns the unsubscribe. `deliver` must not throw. */
  subscribe(filter: string, deliver: (topic: string, payload: Buffer) => void, done: (err?: Error) => void): (done: () => void) => void;
  /** `l` once, when the broker closes (every local client closes with it); returns the removal. */
  onClose(l: () => void): () => void;
}

/** Counted by every local client (tests and the bench read them): what skipped MQTT encoding. */
export interface LocalLinkStats {
  published: number;
  delivered: number;
}

/** The `client` option of the head-end's MqttTransport when its broker is embedded (headend/main.ts). */
export function localClientFactory(broker: LocalBroker, stats?: LocalLinkStats): MqttClientFactory {
  return () => new LocalMqttClient(broker, stats ?? { published: 0, delivered: 0 });
}

/** Never needs a drain: a local publish is a function call. */
const NO_DRAIN: StreamLike = { writableNeedDrain: false, once: () => undefined };

/** One "connection": up at the next turn (its CONNACK), down at end() or when the broker closes. */
export class LocalMqttClient extends EventEmitter implements MqttClientLike {
  connected = false;
  readonly outgoing: Record<number, unknown> = {};
  /** The transport's stand-in for a socket: this client opens none. */
  readonly local = NO_DRAIN;
  readonly #broker: LocalBroker;
  readonly #stats: LocalLinkStats;
  readonly #subs = new Map<string, (done: () => void) => void>();
  readonly #offClose: () => void;
  #nextId = 1;
  #ended = false;

  constructor(broker: LocalBroker, stats: LocalLinkStats) {
    super();
    this.#broker = broker;
    this.#stats = stats;
    this.#offClose = broker.onClose(() => this.#close());
    setImmediate(() => {
      if (this.#ended) return;
      if (broker.closed) return this.#close();
      this.connected = true;
      this.emit('connect', { returnCode: 0, sessionPresent: false } satisfies ConnackLike);
    });
  }

  publish(topic: string, payload: Buffer, opts: PublishOptionsLike, cb?: (err?: Error) => void): this {
    if (!this.connected) {
      if (cb !== undefined) queueMicrotask(() => cb(new Error('client disconnecting')));
      return this;
    }
    this.#stats.published++;
    const id = opts.qos === 1 ? this.#nextId++ : 0;
    if (id !== 0) this.outgoing[id] = cb;
    this.#broker.publish(topic, payload, opts.qos, (err) => {
      if (id !== 0 && !(id in this.outgoing)) return; // ended first: already told
      delete this.outgoing[id];
      cb?.(err);
    });
    return this;
  }

  subscribe(filter: string, _opts: { qos: 0 | 1 }, cb: (err: Error | null | undefined, granted?: { qos: number }[]) => void): this {
    if (!this.connected) {
      queueMicrotask(() => cb(new Error('client disconnecting')));
      return this;
    }
    const deliver = (topic: string, payload: Buffer): void => {
      // A socket would hand this over in a later turn: keep the node's work off the broker's stack.
      queueMicrotask(() => {
        if (!this.connected) return;
        this.#stats.delivered++;
        this.emit('packetreceive');
        this.emit('message', topic, payload);
      });
    };
    const off = this.#broker.subscribe(filter, deliver, (err) => {
      if (err !== undefined) return cb(err);
      this.#subs.set(filter, off);
      cb(null, [{ qos: 1 }]);
    });
    return this;
  }

  unsubscribe(filter: string, cb: (err?: Error | null) => void): this {
    const off = this.#subs.get(filter);
    this.#subs.delete(filter);
    if (off === undefined) queueMicrotask(() => cb(null));
    else off(() => cb(null));
    return this;
  }

  /** The broker is this process: it answers at once (the transport's probe reads `packetreceive`). */
  sendPing(): void {
    setImmediate(() => {
      if (this.connected) this.emit('packetreceive');
    });
  }

  end(_force?: boolean, _opts?: object, cb?: () => void): this {
    this.#close();
    if (cb !== undefined) setImmediate(cb);
    return this;
  }

  #close(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#offClose();
    const was = this.connected;
    this.connected = false;
    for (const off of this.#subs.values()) off(() => undefined);
    this.#subs.clear();
    const waiting = Object.values(this.outgoing) as ((err?: Error) => void)[];
    for (const k of Object.keys(this.outgoing)) delete this.outgoing[Number(k)];
    for (const cb of waiting) cb?.(new Error('client disconnecting'));
    if (was || this.listenerCount('close') > 0) setImmediate(() => this.emit('close'));
  }
}
