// The MQTT adapter of the Transport port [c39, c40]: the box <-> head-end return channel. Both
// sides use this one class (role `box` or `headend`). With mqtt-raw.ts, the only files that import mqtt; topics and
// input checks live in mqtt-routing.ts, timing policy in reconnect.ts, options in mqtt-options.ts.

import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { type IClientOptions, MqttClient } from 'mqtt';
import { type Address, ChannelClosedError, EnvelopeCodec, type Envelope, type EnvelopeHandler, type SendDone, TimeoutError, type Transport } from '../runtime/index.ts';
import type { MqttClientLike, PublishOptionsLike } from './mqtt-client.ts';
import { type AttemptHooks, type Conn, type ConnectAttempt, type PendingSend, connectAttempt } from './mqtt-attempt.ts';
import { type MqttDial, mqttDial } from './mqtt-dial.ts';
import { LinkDownError, SuspectPathError, publishError } from './mqtt-errors.ts';
import { type LinkState, type MqttTransportOptions, type ResolvedMqttOptions, clientOptions, clientSpec, resolveMqttOptions } from './mqtt-options.ts';
import { MqttRouting, type MqttStats, QOS1_KINDS } from './mqtt-routing.ts';
import { NO_LAG, confirmingClock } from './lag.ts';
import { LinkWatch, Reconnector, RttEstimator } from './reconnect.ts';
import { endClient } from './mqtt-raw.ts';
import { noMqttJs } from './firmware-build.ts';

export { openRawClient } from './mqtt-raw.ts';

export type RawMqttClient = MqttClient;

export type { IClientOptions as RawMqttOptions } from 'mqtt';

const QOS0: PublishOptionsLike = { qos: 0 };
const QOS1: PublishOptionsLike = { qos: 1 };

/** Connect (one attempt, failing fast on a dead path) and return the transport; it then reconnects on its own. */
export async function connectMqttTransport(options: MqttTransportOptions): Promise<MqttTransport> {
  const t = new MqttTransport(resolveMqttOptions(options));
  await t.start();
  return t;
}

export class MqttTransport implements Transport {
  readonly kind = 'mqtt';
  readonly address: Address;
  readonly role: 'box' | 'headend';
  #o: ResolvedMqttOptions;
  #codec: EnvelopeCodec;
  #routing: MqttRouting;
  #rtt: RttEstimator;
  #reconnector: Reconnector;
  #conn: Conn | undefined;
  #tick = 0;
  #closed = false;
  #started = false;
  #handler: EnvelopeHandler | undefined;
  #queue: Envelope[] = [];
  /** The ingress filter subscribed on the current connection (head-end role). */
  #filter: string | undefined;
  #stats = { sent: 0, received: 0, dropped: 0, handlerErrors: 0, connects: 0, connectFailures: 0, linkDrops: 0, lateAdopted: 0, lateAbandoned: 0, busy: 0, lateBusy: 0, busyUndone: 0 };
  /** Connect attempts: deadlines, verdicts, the one kept open for a late CONNACK (deadPath.lateMs). */
  #dial: MqttDial;
  #everUp = false;
  #undone = 0;
  #settleLate: (up: boolean) => void = () => {};
  /** Resolves true once the link is up (at once after a start that succeeded), false when the transport gave up without ever being up. */
  readonly late: Promise<boolean>;

  /** Use connectMqttTransport; this takes resolved options and does not connect. */
  constructor(o: ResolvedMqttOptions) {
    this.#o = o;
    this.role = o.role;
    this.address = o.address;
    this.#codec = new EnvelopeCodec({ maxBytes: o.maxBytes });
    this.#routing = new MqttRouting(o, this.#codec);
    this.#rtt = new RttEstimator(o.deadPath.initialRttMs);
    this.#reconnector = new Reconnector(o.clock, o.backoff, o.random, () => void this.#reconnect());
    // [13.4] the dead-path deadlines confirm over the local loop's lag: a CONNACK read late is slow, not dead.
    this.#dial = mqttDial(o, this.#rtt, confirmingClock(o.clock, o.deadPath.lag ?? NO_LAG), {
      isClosed: () => this.#closed,
      open: (hooks, subackMs) => this.#open(hooks, subackMs),
      suspect: (message, afterMs) => new SuspectPathError(message, afterMs, this),
      failed: () => void this.#stats.connectFailures++,
      busy: (a) => {
        this.#stats.busy++;
        if (a.verdicts > 0) this.#stats.lateBusy++; // [19] kept past its verdicts, then answered busy: they were wrong
        this.#stats.busyUndone += a.verdicts;
      },
      lateUp: (a) => {
        const reconnecting = this.#everUp;
        this.#adoptAttempt(a);
        if (reconnecting) this.#reconnected();
      },
      lateOver: (busy) => {
        if (!busy) this.#stats.lateAbandoned++;
        if (!this.#everUp) this.#giveUp(); // a transport that never came up is done: its owner dials again
      },
    });
    this.late = new Promise<boolean>((resolve) => {
      this.#settleLate = (up) => {
        this.#settleLate = () => {};
        resolve(up);
      };
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  get link(): LinkState {
    return this.#closed ? 'closed' : this.#conn === undefined ? 'down' : 'up';
  }

  /** Smoothed round-trip time to the broker, ms (the initial estimate until measured). */
  get rttMs(): number {
    return this.#rtt.rttMs;
  }

  /** What the next connect attempt allows before it declares the path dead, ms. */
  get connectTimeoutMs(): number {
    return this.#dial.timeoutMs;
  }

  /** After a start that failed with SuspectPathError: its connection is still open for a late CONNACK (`late` tells the outcome). */
  get lingering(): boolean {
    return !this.#closed && !this.#everUp && this.#dial.kept !== undefined;
  }

  /** Dead-path verdicts given on the connection in use before its CONNACK came (0: none; issue 13.4). */
  get verdictsUndone(): number {
    return this.#undone;
  }

  /**
   * The first connect: one attempt; rejects with TimeoutError (dead path), LinkDownError or
   * BrokerRefusedError. With `deadPath.lateMs`, a dead-path verdict is a SuspectPathError and the
   * transport stays open, waiting for a late CONNACK (`late`, `retryStart`) up to that bound.
   */
  async start(): Promise<void> {
    if (this.#started) throw new Error('started twice');
    this.#started = true;
    await this.#settle(this.#dial.dial());
  }

  /** After a SuspectPathError: wait for the same connection's CONNACK once more (the deadline doubled), sending nothing new. */
  async retryStart(): Promise<void> {
    const a = this.#dial.kept;
    if (!this.lingering || a === undefined) throw new Error('MqttTransport.retryStart: not lingering');
    await this.#settle(this.#dial.wait(a));
  }

  async #settle(attempt: Promise<ConnectAttempt>): Promise<void> {
    try {
      this.#adoptAttempt(await attempt);
    } catch (e) {
      if (!(e instanceof SuspectPathError)) this.#giveUp();
      throw e;
    }
  }

  /** Head-end: box `boxId` hosts `vaddr` now (the registry placed or moved it there) [c31, c32]. */
  bind(vaddr: string, boxId: string): void {
    this.#routing.bind(vaddr, boxId);
  }

  unbind(vaddr: string): void {
    this.#routing.unbind(vaddr);
  }

  send(env: Envelope): Promise<void> {
    return new Promise<void>((resolve, reject) => this.post(env, (e) => (e ? reject(e) : resolve())));
  }

  /** [issue 19] `send` without a promise (runtime/transport.ts): `done` is told the outcome. Never throws. */
  post(env: Envelope, done: SendDone): void {
    if (this.#closed) return done(new ChannelClosedError('mqtt transport closed'), env);
    let topic: string;
    let bytes: Uint8Array;
    try {
      topic = this.#routing.topicFor(env.dst);
      bytes = this.#codec.encode(env);
    } catch (e) {
      return done(e as Error, env);
    }
    const conn = this.#conn;
    if (conn === undefined) {
      this.#stats.dropped++;
      return done(new LinkDownError('link down (reconnecting)'), env);
    }
    const qos = QOS1_KINDS.has(env.kind) ? 1 : env.kind === 'msg' ? this.#o.msgQos : 0;
    const payload = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let opts = qos === 1 ? QOS1 : QOS0;
    if (globalThis.WEFT_FIRMWARE !== true && this.#o.protocolVersion === 5 && env.deadline !== undefined) {
      // MQTT 5 message expiry: a broker holding this for an offline box drops it once stale (the firmware's client is 3.1.1 only).
      opts = { qos, properties: { messageExpiryInterval: Math.max(1, Math.ceil((env.deadline - this.#o.clock.now()) / 1000)) } };
    }
    const p: PendingSend = { env, done };
    conn.pending.add(p);
    if (qos === 0) {
      // Nothing to confirm: done when the socket took it, or at its next drain (one listener per connection).
      conn.client.publish(topic, payload, opts);
      this.#stats.sent++;
      if (conn.socket.writableNeedDrain) this.#awaitDrain(conn, p);
      else {
        conn.pending.delete(p);
        done(undefined, env);
      }
      return;
    }
    // RTT sample: a send alone in flight (no queueing in the number), one in 16 (cheap).
    const solo = conn.acking === 0 && (this.#tick++ & 15) === 0;
    const t0 = solo ? performance.now() : 0;
    conn.acking++;
    conn.watch?.arm();
    conn.client.publish(topic, payload, opts, (err) => {
      if (!conn.pending.delete(p)) return; // the link dropped first and already told it
      conn.acking--;
      conn.watch?.heard(); // the PUBACK
      if (err === undefined || err === null) {
        if (solo) this.#rtt.sample(performance.now() - t0);
        this.#stats.sent++;
        done(undefined, env);
      } else {
        done(publishError(err), env);
      }
    });
  }

  onEnvelope(handler: EnvelopeHandler): void {
    this.#handler = handler;
    if (this.#queue.length > 0) {
      queueMicrotask(() => {
        const q = this.#queue;
        this.#queue = [];
        for (const env of q) this.#deliver(env);
      });
    }
  }

  /**
   * A draining head-end node leaving (headend/node/drain.ts): unsubscribe the box ingress, so the
   * broker hands box traffic to the other nodes; what arrived before the UNSUBACK is still
   * delivered, and sends keep working. Resolves once the broker acknowledged.
   */
  stopIngress(): Promise<void> {
    const client = this.#conn?.client;
    const filter = this.#filter;
    // A box never leaves its inbox: the firmware build drops this head-end path (its size budget).
    if (globalThis.WEFT_FIRMWARE !== true && this.role === 'headend' && client !== undefined && filter !== undefined) {
      const unsubscribe = client.unsubscribe?.bind(client);
      if (unsubscribe === undefined) return Promise.reject(new Error('this MQTT client cannot unsubscribe (the head-end uses mqtt.js)'));
      return new Promise<void>((resolve, reject) => unsubscribe(filter, (err) => (err === undefined || err === null ? resolve() : reject(err))));
    }
    return Promise.resolve();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#reconnector.stop();
    this.#settleLate(false);
    this.#dial.close(new ChannelClosedError('mqtt transport closed'));
    const conn = this.#conn;
    this.#conn = undefined;
    this.#queue = [];
    if (conn !== undefined) {
      this.#retire(conn, new ChannelClosedError('mqtt transport closed'));
      await endClient(conn.client);
    }
    this.#o.onLink?.('closed');
  }

  /** `busy`: CONNACKs "server unavailable" (or drops before any) waited out (issue 19.6); `lateBusy`: on connections kept past verdicts, `busyUndone` of them. */
  stats(): Readonly<MqttStats & { busy: number; lateBusy: number; busyUndone: number }> {
    return { ...this.#stats, ...this.#routing.rejected, queued: this.#queue.length, rttMs: Math.round(this.#rtt.rttMs * 1000) / 1000 };
  }

  #awaitDrain(conn: Conn, p: PendingSend): void {
    conn.draining.push(p);
    if (conn.draining.length > 1) return;
    conn.socket.once('drain', () => {
      const waiting = conn.draining;
      conn.draining = [];
      for (const w of waiting) if (conn.pending.delete(w)) w.done(undefined, w.env);
    });
  }

  #onMessage = (topic: string, payload: Buffer): void => {
    this.#stats.received++;
    this.#conn?.watch?.heard();
    if (this.#closed) return;
    const env = this.#routing.accept(topic, payload);
    if (env !== undefined) this.#deliver(env);
  };

  #deliver(env: Envelope): void {
    const h = this.#handler;
    if (h === undefined) {
      if (this.#queue.length < this.#o.maxQueued) this.#queue.push(env);
      else this.#stats.dropped++;
      return;
    }
    try {
      h(env);
    } catch {
      this.#stats.handlerErrors++;
    }
  }

  /** Opens one connection for the dial (mqtt-dial.ts): the client, its CONNECT, the subscription. */
  #open(hooks: Pick<AttemptHooks, 'deadline' | 'rtt' | 'onConnack'>, subackMs: number): ConnectAttempt {
    const o = this.#o;
    // The firmware build defines WEFT_FIRMWARE (build.mjs): a box always passes its own client.
    const newClient = o.client ?? (globalThis.WEFT_FIRMWARE === true ? noMqttJs : (open: () => Socket): MqttClientLike => new MqttClient(open, clientOptions(o) satisfies IClientOptions));
    const subscription = (shared: boolean): string => (this.#filter = this.#routing.subscription(shared));
    return connectAttempt(o, { ...hooks, newClient, spec: clientSpec(o), subscription, onMessage: this.#onMessage }, subackMs);
  }

  #giveUp(): void {
    this.#closed = true;
    this.#reconnector.stop();
    this.#settleLate(false);
  }

  #adoptAttempt(a: ConnectAttempt): void {
    this.#dial.release(a);
    this.#undone = a.verdicts;
    if (a.verdicts > 0) this.#stats.lateAdopted++;
    this.#adopt(a.conn);
    this.#everUp = true;
    this.#settleLate(true);
  }

  #adopt(conn: Conn): void {
    const { client } = conn;
    const o = this.#o;
    conn.up = true;
    conn.watch = new LinkWatch(
      o.clock,
      o.linkSilenceMs,
      () => Math.max(o.deadPath.linkFloorMs, this.connectTimeoutMs), // [19.6] never below the floor: a broker's stall is not a dead path
      () => conn.acking,
      () => {
        // [19.6] Its answer's time is an RTT sample (RFC 6298): a broker whose loop runs late widens the probe's deadline.
        const t0 = o.clock.now();
        client.once('packetreceive', () => (this.#rtt.sample(o.clock.now() - t0), conn.watch?.heard())); // PINGRESP, or anything
        client.sendPing();
      },
      // The cause marks a silence verdict (a dead path), which the box treats apart from a flap.
      (silentMs) => this.#lost(conn, new LinkDownError(`no answer from the broker for ${Math.round(silentMs)} ms: dead path`, { cause: new TimeoutError('probe unanswered', silentMs) })),
      { idleProbeMs: o.deadPath.idleProbeMs, ...(o.deadPath.lag === undefined ? {} : { lag: o.deadPath.lag }) },
    );
    const onError = (e: Error): void => this.#lost(conn, e);
    const onClose = (): void => this.#lost(conn, new Error('connection closed'));
    client.on('error', onError);
    client.on('close', onClose);
    conn.detach = () => {
      client.removeListener('message', this.#onMessage);
      client.removeListener('error', onError);
      client.removeListener('close', onClose);
      client.on('error', () => {}); // late socket errors of a retired connection are expected
    };
    this.#conn = conn;
    this.#stats.connects++;
  }

  #lost(conn: Conn, cause: Error): void {
    if (!conn.up) return;
    const err = cause instanceof LinkDownError ? cause : new LinkDownError(`link lost: ${cause.message}`, { cause });
    if (this.#conn === conn) this.#conn = undefined;
    this.#retire(conn, err);
    conn.client.end(true);
    this.#stats.linkDrops++;
    this.#o.log({ event: 'link', reason: 'down', detail: err.message });
    this.#o.onLink?.('down', err);
    if (!this.#closed) this.#reconnector.lost();
  }

  /** Take a connection out of service: every send still waiting on it fails now, not at its deadline. */
  #retire(conn: Conn, err: Error): void {
    conn.up = false;
    conn.watch?.stop();
    const waiting = [...conn.pending];
    conn.pending.clear();
    for (const p of waiting) p.done(err, p.env);
    conn.detach();
  }

  async #reconnect(): Promise<void> {
    if (this.#closed) return;
    try {
      const a = await this.#dial.dial();
      if (this.#closed) return await endClient(a.conn.client); // closed while this attempt ran
      this.#adoptAttempt(a);
      this.#reconnected();
    } catch {
      if (!this.#closed) this.#reconnector.failed();
    }
  }

  #reconnected(): void {
    this.#reconnector.succeeded();
    this.#o.log({ event: 'link', reason: 'up' });
    this.#o.onLink?.('up');
  }
}
