// The box's MQTT 3.1.1 client: one connection on a stream the transport opens (TCP_NODELAY, or
// TLS for mqtts://), CONNECT with username/password and keepalive, one SUBSCRIBE, PUBLISH QoS 0
// and 1, PUBACK, PINGREQ on demand, DISCONNECT. No reconnects, no offline queue, no MQTT 5: the
// transport (mqtt.ts) owns those. ~6 KB in the firmware where mqtt.js + mqtt-packet took ~90 KB.

import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { ArgumentError, type Clock, type TimerHandle, rejectUnknown, systemClock } from '../runtime/index.ts';
import type { ClientSpec, ConnackLike, MqttClientFactory, MqttClientLike, PublishOptionsLike } from './mqtt-client.ts';
import { DISCONNECT, type LitePacket, PINGREQ, PacketReader, encodeConnect, encodePuback, encodePublish, encodeSubscribe } from './mqtt-lite-codec.ts';

export interface LiteClientOptions {
  clientId: string;
  username?: string;
  password?: string;
  /** true (default): the broker keeps nothing of this client between connections. */
  clean?: boolean;
  /** Seconds; the client sends a PINGREQ after this much send silence and drops a link that leaves one unanswered for as long. 0: off. Default 30. */
  keepaliveSec?: number;
  /** Largest packet accepted from the broker, bytes. Default 1 MiB + 64 KiB (an envelope and its topic). */
  maxPacketBytes?: number;
  clock?: Clock;
}

const CONNACK_REFUSALS = ['', 'unacceptable protocol version', 'identifier rejected', 'server unavailable', 'bad user name or password', 'not authorized'];
const W = 'LiteMqttClient';

function violation(what: string, cause?: unknown): Error {
  return new Error(`mqtt protocol violation by the broker: ${what}`, { cause });
}

/** An Error as mqtt.js shapes a CONNACK refusal: `code` is the return code (mqtt-errors.ts reads it). */
function refusal(rc: number): Error & { code: number } {
  return Object.assign(new Error(`Connection refused: ${CONNACK_REFUSALS[rc] ?? rc}`), { code: rc });
}

export class LiteMqttClient extends EventEmitter implements MqttClientLike {
  connected = false;
  readonly outgoing: Record<number, (err?: Error) => void> = {};
  #socket: Socket;
  #reader: PacketReader;
  #clock: Clock;
  #keepMs: number;
  #subscribing = new Map<number, (err: Error | null | undefined, granted?: number[]) => void>();
  #nextId = 1;
  #inFlight = 0;
  #pingOwed = false;
  #lastTx: number;
  #keepTimer: TimerHandle | undefined;
  #ending = false;
  #closed = false;
  #onClosed: (() => void)[] = [];

  constructor(open: () => Socket, o: LiteClientOptions) {
    super();
    if (typeof open !== 'function') throw new ArgumentError(`${W}: open must be a function returning a stream`, 'open');
    if (o === null || typeof o !== 'object') throw new ArgumentError(`${W}: options are required`);
    rejectUnknown(W, o, ['clientId', 'username', 'password', 'clean', 'keepaliveSec', 'maxPacketBytes', 'clock']);
    if (typeof o.clientId !== 'string') throw new ArgumentError(`${W}: clientId must be a string`, 'clientId');
    const keep = o.keepaliveSec ?? 30;
    if (!Number.isInteger(keep) || keep < 0 || keep > 0xffff) throw new ArgumentError(`${W}: keepaliveSec must be an integer in 0..65535`, 'keepaliveSec');
    this.#reader = new PacketReader(o.maxPacketBytes ?? 1024 * 1024 + 64 * 1024);
    this.#clock = o.clock ?? systemClock;
    this.#keepMs = keep * 1000;
    this.#lastTx = this.#clock.now();
    const connect = encodeConnect({ clientId: o.clientId, username: o.username, password: o.password, clean: o.clean ?? true, keepaliveSec: keep });
    const socket = open();
    this.#socket = socket;
    socket.on('data', (b: Buffer) => this.#onData(b));
    socket.on('error', (e: Error) => this.#fail(e));
    socket.once('close', () => this.#onClose());
    this.#write(connect); // buffered by the stream until TCP (and TLS) is up
  }

  publish(topic: string, payload: Buffer, opts: PublishOptionsLike, cb?: (err?: Error) => void): this {
    if (this.#ending || this.#closed) {
      cb?.(new Error('client disconnecting'));
      return this;
    }
    if (opts.properties !== undefined) throw new ArgumentError(`${W}: MQTT 5 properties are not supported`, 'properties');
    if (opts.qos === 0) {
      this.#write(encodePublish(topic, payload, 0, 0));
      cb?.();
      return this;
    }
    const id = this.#allocate();
    if (id === undefined) {
      cb?.(new Error('65535 QoS 1 messages already in flight'));
      return this;
    }
    this.outgoing[id] = cb ?? (() => undefined);
    this.#inFlight++;
    this.#write(encodePublish(topic, payload, 1, id));
    return this;
  }

  subscribe(filter: string, opts: { qos: 0 | 1 }, cb: (err: Error | null | undefined, granted?: { qos: number }[]) => void): this {
    const id = this.#closed || this.#ending ? undefined : this.#allocate();
    if (id === undefined) {
      cb(new Error(this.#closed || this.#ending ? 'client disconnecting' : 'no packet id free'));
      return this;
    }
    this.#subscribing.set(id, (err, granted) => cb(err, granted?.map((qos) => ({ topic: filter, qos }))));
    this.#write(encodeSubscribe(id, filter, opts.qos));
    return this;
  }

  sendPing(): void {
    if (!this.#closed) this.#write(PINGREQ);
  }

  end(force = false, _opts?: object, cb?: () => void): this {
    if (cb !== undefined) {
      if (this.#closed) queueMicrotask(cb);
      else this.#onClosed.push(cb);
    }
    if (this.#closed) return this;
    const first = !this.#ending;
    this.#ending = true;
    this.#stopKeepalive();
    if (force) this.#socket.destroy();
    else if (first) {
      if (this.connected) this.#socket.write(DISCONNECT);
      this.#socket.end();
    }
    return this;
  }

  #allocate(): number | undefined {
    if (this.#inFlight + this.#subscribing.size >= 0xffff) return undefined;
    for (;;) {
      const id = this.#nextId;
      this.#nextId = id === 0xffff ? 1 : id + 1;
      if (this.outgoing[id] === undefined && !this.#subscribing.has(id)) return id;
    }
  }

  #write(b: Buffer): void {
    if (this.#closed) return;
    this.#lastTx = this.#clock.now();
    this.#socket.write(b);
  }

  #onData(b: Buffer): void {
    const packets: LitePacket[] = [];
    let bad: unknown;
    try {
      this.#reader.push(b, packets); // the packets before a violation are still whole and in order
    } catch (e) {
      bad = e;
    }
    for (const p of packets) {
      if (this.#closed) return;
      this.emit('packetreceive');
      this.#handle(p);
    }
    // A broker that breaks the protocol gets no further reading: the link is dropped.
    if (bad !== undefined) this.#fail(violation((bad as Error).message, bad));
  }

  #handle(p: LitePacket): void {
    if (!this.connected && p.type !== 'connack') return this.#fail(violation(`${p.type} before CONNACK`));
    switch (p.type) {
      case 'connack':
        if (this.connected) return this.#fail(violation('a second CONNACK'));
        if (p.returnCode !== 0) return this.#fail(refusal(p.returnCode));
        this.connected = true;
        this.#keepalive();
        this.emit('connect', { returnCode: 0, sessionPresent: p.sessionPresent } satisfies ConnackLike);
        return;
      case 'publish':
        if (p.qos === 1) this.#write(encodePuback(p.id));
        this.emit('message', p.topic, p.payload);
        return;
      case 'puback': {
        const cb = this.outgoing[p.id];
        if (cb === undefined) return; // a late or duplicate PUBACK: nothing waits for it
        delete this.outgoing[p.id];
        this.#inFlight--;
        cb();
        return;
      }
      case 'suback': {
        const cb = this.#subscribing.get(p.id);
        if (cb === undefined) return;
        this.#subscribing.delete(p.id);
        if (p.granted.length !== 1) return this.#fail(violation('SUBACK codes for one filter'));
        cb(null, p.granted);
        return;
      }
      case 'pingresp':
        this.#pingOwed = false;
    }
  }

  /** [MQTT-3.1.2-24] a PINGREQ after keepalive of send silence; one left unanswered for a whole period drops the link. */
  #keepalive(): void {
    if (this.#keepMs === 0 || this.#closed || this.#ending) return;
    const idle = this.#clock.now() - this.#lastTx;
    const wait = this.#pingOwed ? this.#keepMs : Math.max(0, this.#keepMs - idle);
    this.#keepTimer = this.#clock.setTimeout(() => {
      this.#keepTimer = undefined;
      if (this.#pingOwed) return this.#fail(new Error('Keepalive timeout'));
      if (this.#clock.now() - this.#lastTx >= this.#keepMs) {
        this.#pingOwed = true;
        this.#write(PINGREQ);
      }
      this.#keepalive();
    }, wait);
  }

  #stopKeepalive(): void {
    if (this.#keepTimer !== undefined) this.#clock.clearTimeout(this.#keepTimer);
    this.#keepTimer = undefined;
  }

  #fail(e: Error): void {
    if (this.#closed) return;
    if (this.listenerCount('error') > 0) this.emit('error', e);
    this.#socket.destroy();
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.connected = false;
    this.#stopKeepalive();
    this.emit('close');
    // Whoever still waits learns it now (the transport has already failed its own sends).
    const gone = new Error('connection closed');
    for (const [id, cb] of Object.entries(this.outgoing)) {
      delete this.outgoing[Number(id)];
      cb(gone);
    }
    this.#inFlight = 0;
    for (const cb of this.#subscribing.values()) cb(gone);
    this.#subscribing.clear();
    for (const cb of this.#onClosed.splice(0)) cb();
  }
}

/** The factory the box's transport takes (MqttTransportOptions.client): MQTT 3.1.1 only. */
export const liteMqttClient: MqttClientFactory = (open, spec: ClientSpec) => {
  if (spec.protocolVersion !== 4) throw new ArgumentError(`${W}: MQTT 3.1.1 only (protocolVersion 4); use mqtt.js for MQTT 5`, 'protocolVersion');
  return new LiteMqttClient(open, {
    clientId: spec.clientId,
    username: spec.username,
    ...(spec.password === undefined ? {} : { password: spec.password }),
    clean: spec.clean,
    keepaliveSec: spec.keepaliveSec,
    maxPacketBytes: spec.maxPacketBytes,
    clock: spec.clock,
  });
};
