// The MQTT adapter of the Transport port [c39, c40]: the box <-> head-end return channel. Both
// sides use this one class (role `box` or `headend`). The only file that imports mqtt; topic
// scheme, guards and reconnect policy live in mqtt-topics.ts, mqtt-ingress.ts, reconnect.ts.

import { type Socket, createConnection } from 'node:net';
import { performance } from 'node:perf_hooks';
import { type IClientOptions, type IClientPublishOptions, type IConnackPacket, MqttClient } from 'mqtt';
import {
  AddressError,
  type Address,
  ChannelClosedError,
  EnvelopeCodec,
  type Envelope,
  type EnvelopeHandler,
  TimeoutError,
  type TimerHandle,
  type Transport,
} from '../runtime/index.ts';
import { BrokerRefusedError, LinkDownError } from './mqtt-errors.ts';
import { BoxRoutes, DedupWindow, TokenBuckets } from './mqtt-ingress.ts';
import { type LinkState, type MqttLogEvent, type MqttTransportOptions, type ResolvedMqttOptions, resolveMqttOptions } from './mqtt-options.ts';
import { boxOf } from './mqtt-topics.ts';
import { Reconnector, RttEstimator, connectTimeoutMs } from './reconnect.ts';

export type RawMqttClient = MqttClient;
export type { IClientOptions as RawMqttOptions } from 'mqtt';

/** Kinds that expect or carry an answer travel at QoS 1; `stat` (and by default `msg`) at QoS 0. */
const QOS1_KINDS: ReadonlySet<string> = new Set(['req', 'rep', 'err', 'ctl', 'ack']);
const QOS0: IClientPublishOptions = { qos: 0 };
const QOS1: IClientPublishOptions = { qos: 1 };
const SCHEME = 'weft://';
const NEVER_MS = 86_400_000; // mqtt.js's own CONNACK timer: ours (derived from the RTT) decides first

interface Pending {
  resolve: () => void;
  reject: (e: Error) => void;
}

/** One broker connection. A new one per (re)connect: nothing of a dead link is carried over. */
interface Conn {
  client: MqttClient;
  socket: Socket;
  up: boolean;
  pending: Set<Pending>;
  /** QoS 1 sends waiting for PUBACK. */
  acking: number;
  lastRx: number;
  probeAt: number | undefined;
  watch: TimerHandle | undefined;
  /** QoS 0 sends waiting for the socket to drain. */
  draining: Pending[];
  /** Remove this transport's listeners from the client. */
  detach: () => void;
}

export type MqttStats = Record<
  | 'sent' | 'received' | 'dropped' | 'queued' | 'handlerErrors' | 'connects' | 'connectFailures' | 'linkDrops' | 'rttMs'
  | 'badTopic' | 'tooLarge' | 'malformed' | 'rateLimited' | 'spoofed' | 'duplicate',
  number
>;
type Rejection = 'badTopic' | 'tooLarge' | 'malformed' | 'rateLimited' | 'spoofed' | 'duplicate';

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
  #rtt: RttEstimator;
  #reconnector: Reconnector;
  #conn: Conn | undefined;
  #timeouts = 0;
  #tick = 0;
  #closed = false;
  #started = false;
  #handler: EnvelopeHandler | undefined;
  #queue: Envelope[] = [];
  #buckets: TokenBuckets;
  /** Only a persistent session (MQTT 5, session expiry) can have QoS 1 messages redelivered. */
  #dedup: DedupWindow | undefined;
  #routes = new BoxRoutes();
  #topics = new Map<string, { box: string; topic: string }>();
  #inboxRoot: string;
  #stats: MqttStats = {
    sent: 0, received: 0, dropped: 0, queued: 0, handlerErrors: 0, connects: 0, connectFailures: 0, linkDrops: 0, rttMs: 0,
    badTopic: 0, tooLarge: 0, malformed: 0, rateLimited: 0, spoofed: 0, duplicate: 0,
  };

  /** Use connectMqttTransport; this takes resolved options and does not connect. */
  constructor(o: ResolvedMqttOptions) {
    this.#o = o;
    this.role = o.role;
    this.address = o.address;
    this.#codec = new EnvelopeCodec({ maxBytes: o.maxBytes });
    this.#rtt = new RttEstimator(o.deadPath.initialRttMs);
    this.#reconnector = new Reconnector(o.clock, o.backoff, o.random, () => void this.#reconnect());
    this.#buckets = new TokenBuckets(o.rateLimit, o.clock);
    this.#dedup = o.protocolVersion === 5 && o.sessionExpirySec > 0 ? new DedupWindow(o.dedupWindow) : undefined;
    this.#inboxRoot = `${o.topics.boxRoot}${o.id}/`;
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
    return connectTimeoutMs(this.#rtt.rttMs, this.#o.deadPath, this.#timeouts);
  }

  /** The first connect: one attempt; rejects with TimeoutError (dead path), LinkDownError or BrokerRefusedError. */
  async start(): Promise<void> {
    if (this.#started) throw new Error('MqttTransport.start: already started');
    this.#started = true;
    try {
      this.#adopt(await this.#connectOnce());
    } catch (e) {
      this.#closed = true;
      this.#reconnector.stop();
      throw e;
    }
  }

  /** Head-end: box `boxId` hosts `vaddr` (the registry placed or moved it there) [c31, c32]. */
  bind(vaddr: string, boxId: string): void {
    this.#routes.bind(vaddr, boxId);
    this.#topics.delete(vaddr);
  }

  unbind(vaddr: string): void {
    this.#routes.unbind(vaddr);
    this.#topics.delete(vaddr);
  }

  send(env: Envelope): Promise<void> {
    if (this.#closed) return Promise.reject(new ChannelClosedError('mqtt transport closed'));
    let topic: string;
    let bytes: Uint8Array;
    try {
      topic = this.#topicFor(env.dst);
      bytes = this.#codec.encode(env);
    } catch (e) {
      return Promise.reject(e);
    }
    const conn = this.#conn;
    if (conn === undefined) {
      this.#stats.dropped++;
      return Promise.reject(new LinkDownError('link to the broker is down (reconnecting)'));
    }
    const qos = QOS1_KINDS.has(env.kind) ? 1 : env.kind === 'msg' ? this.#o.msgQos : 0;
    const payload = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let opts = qos === 1 ? QOS1 : QOS0;
    if (this.#o.protocolVersion === 5 && env.deadline !== undefined) {
      // MQTT 5 message expiry: a broker holding this for an offline box drops it once stale.
      opts = { qos, properties: { messageExpiryInterval: Math.max(1, Math.ceil((env.deadline - this.#o.clock.now()) / 1000)) } };
    }
    return new Promise<void>((resolve, reject) => {
      const p: Pending = { resolve, reject };
      conn.pending.add(p);
      // RTT sample: a send alone in flight (no queueing in the number), one in 16 (cheap).
      const solo = qos === 1 && conn.acking === 0 && (this.#tick++ & 15) === 0;
      const t0 = solo ? performance.now() : 0;
      if (qos === 1) {
        conn.acking++;
        this.#armWatch(conn);
      }
      if (qos === 0) {
        // QoS 0 has nothing to confirm: done when the socket took it, or at its next drain (one
        // listener per connection, not one per message).
        conn.client.publish(topic, payload, opts);
        this.#stats.sent++;
        if (conn.socket.writableNeedDrain) this.#awaitDrain(conn, p);
        else {
          conn.pending.delete(p);
          resolve();
        }
        return;
      }
      conn.client.publish(topic, payload, opts, (err) => {
        if (!conn.pending.delete(p)) return; // the link dropped first and already rejected it
        conn.acking--;
        conn.lastRx = this.#o.clock.now(); // the PUBACK
        if (solo && err === undefined) this.#rtt.sample(performance.now() - t0);
        if (err === undefined || err === null) {
          this.#stats.sent++;
          resolve();
        } else {
          reject(publishError(err));
        }
      });
    });
  }

  #awaitDrain(conn: Conn, p: Pending): void {
    conn.draining.push(p);
    if (conn.draining.length > 1) return;
    conn.socket.once('drain', () => {
      const waiting = conn.draining;
      conn.draining = [];
      for (const w of waiting) if (conn.pending.delete(w)) w.resolve();
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

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#reconnector.stop();
    const conn = this.#conn;
    this.#conn = undefined;
    this.#queue = [];
    if (conn !== undefined) {
      this.#retire(conn, new ChannelClosedError('mqtt transport closed with the send pending'));
      await endClient(conn.client);
    }
    this.#o.onLink?.('closed');
  }

  stats(): Readonly<MqttStats> {
    return { ...this.#stats, queued: this.#queue.length, rttMs: Math.round(this.#rtt.rttMs * 1000) / 1000 };
  }

  #topicFor(dst: Address): string {
    const v = dst.vaddr;
    if (v === undefined) throw new AddressError('the mqtt transport routes by virtual address; dst has none', dst);
    const o = this.#o;
    const box = o.role === 'box' ? o.id : (boxOf(v) ?? o.locate?.(v) ?? this.#routes.get(v));
    if (box === undefined) throw new AddressError(`no box is known to host ${v}`, v);
    const hit = this.#topics.get(v);
    if (hit !== undefined && hit.box === box) return hit.topic;
    const topic = o.role === 'box' ? o.topics.up(box, v) : o.topics.down(box, v);
    if (this.#topics.size >= 50_000) this.#topics.clear();
    this.#topics.set(v, { box, topic });
    return topic;
  }

  #onMessage = (topic: string, payload: Buffer): void => {
    this.#stats.received++;
    if (this.#conn !== undefined) this.#conn.lastRx = this.#o.clock.now();
    if (this.#closed) return;
    if (this.#o.role === 'headend') this.#ingress(topic, payload);
    else this.#inbox(topic, payload);
  };

  /** Head-end: everything from boxes. Each check failed is a counted, logged rejection; nothing throws. */
  #ingress(topic: string, payload: Buffer): void {
    const root = this.#o.topics.upRoot;
    const slash = topic.startsWith(root) ? topic.indexOf('/', root.length) : -1;
    if (slash < 0) return this.#reject('badTopic', undefined, topic);
    const box = topic.slice(root.length, slash);
    if (!this.#buckets.take(box)) return this.#reject('rateLimited', box, topic);
    const env = this.#decode(payload, box, topic);
    if (env === undefined) return;
    if (env.dst.vaddr !== SCHEME + topic.slice(slash + 1)) return this.#reject('badTopic', box, topic, 'topic and envelope dst differ');
    // The topic proves which box sent this (the broker ACL); the source it claims must be that box's.
    const src = env.src;
    const sv = src.vaddr;
    if (sv === undefined || src.queue !== undefined || src.udp !== undefined) {
      return this.#reject('spoofed', box, topic, 'a box names itself by virtual address only');
    }
    const owner = boxOf(sv) ?? this.#o.locate?.(sv);
    if (owner !== undefined ? owner !== box : !this.#routes.learn(sv, box)) {
      return this.#reject('spoofed', box, topic, `source ${sv} is not on this box`);
    }
    if (this.#dedup !== undefined && QOS1_KINDS.has(env.kind) && this.#dedup.seen(`${sv}|${env.id}`)) return this.#reject('duplicate', box, topic);
    this.#deliver(env);
  }

  /** Box: its inbox. Only the head-end can publish here (the broker ACL); still checked. */
  #inbox(topic: string, payload: Buffer): void {
    const root = this.#inboxRoot;
    if (!topic.startsWith(root)) return this.#reject('badTopic', undefined, topic);
    const env = this.#decode(payload, undefined, topic);
    if (env === undefined) return;
    if (env.dst.vaddr !== SCHEME + topic.slice(root.length)) return this.#reject('badTopic', undefined, topic, 'topic and envelope dst differ');
    if (this.#dedup !== undefined && QOS1_KINDS.has(env.kind) && this.#dedup.seen(`${env.src.vaddr ?? ''}|${env.id}`)) {
      return this.#reject('duplicate', undefined, topic);
    }
    this.#deliver(env);
  }

  #decode(payload: Buffer, box: string | undefined, topic: string): Envelope | undefined {
    if (payload.length > this.#o.maxBytes) {
      this.#reject('tooLarge', box, topic, `${payload.length} bytes`);
      return undefined;
    }
    try {
      return this.#codec.decode(payload);
    } catch (e) {
      this.#reject('malformed', box, topic, (e as Error).message);
      return undefined;
    }
  }

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

  #reject(reason: Rejection, box: string | undefined, topic: string, detail?: string): void {
    this.#stats[reason]++;
    const e: MqttLogEvent = { event: 'reject', reason, topic: topic.length > 200 ? `${topic.slice(0, 200)}...` : topic };
    if (box !== undefined) e.box = box;
    if (detail !== undefined) e.detail = detail;
    this.#o.log(e);
  }

  /** One connect attempt: TCP, CONNECT/CONNACK within the RTT-derived timeout, then the subscription. */
  #connectOnce(): Promise<Conn> {
    const o = this.#o;
    const timeoutMs = connectTimeoutMs(this.#rtt.rttMs, o.deadPath, this.#timeouts);
    const v5 = o.protocolVersion === 5;
    const keep = v5 && o.sessionExpirySec > 0;
    const options: IClientOptions = {
      clientId: o.id,
      username: o.id,
      protocolVersion: o.protocolVersion,
      clean: !keep,
      keepalive: o.keepaliveSec,
      reconnectPeriod: 0,
      connectTimeout: NEVER_MS,
      resubscribe: false,
      queueQoSZero: false,
      log: () => {}, // mqtt.js otherwise formats a debug call per packet step even when debug is off
    };
    if (o.password !== undefined) options.password = o.password;
    if (keep) options.properties = { sessionExpiryInterval: o.sessionExpirySec };
    return new Promise<Conn>((resolve, reject) => {
      let tcpAt = 0;
      let settled = false;
      let socket: Socket | undefined;
      const client = new MqttClient(() => {
        socket = createConnection({ host: o.host, port: o.port, noDelay: true });
        socket.once('connect', () => (tcpAt = performance.now()));
        return socket;
      }, options);
      if (socket === undefined) throw new Error('mqtt.js did not open its stream');
      const conn: Conn = { client, socket, up: false, pending: new Set(), acking: 0, lastRx: o.clock.now(), probeAt: undefined, watch: undefined, draining: [], detach: () => {} };
      const fail = (err: Error, timedOut: boolean): void => {
        if (settled) return;
        settled = true;
        o.clock.clearTimeout(timer);
        this.#timeouts = timedOut ? this.#timeouts + 1 : 0;
        this.#stats.connectFailures++;
        client.removeListener('error', onError);
        client.removeListener('close', onClose);
        client.removeListener('connect', onConnect);
        client.removeListener('message', this.#onMessage);
        client.on('error', () => {});
        client.end(true);
        reject(err);
      };
      let timer = o.clock.setTimeout(
        () => fail(new TimeoutError(`no CONNACK from ${o.host}:${o.port} within ${Math.round(timeoutMs)} ms: dead path`, timeoutMs), true),
        timeoutMs,
      );
      const onError = (e: Error): void => fail(connectError(e, o), false);
      const onClose = (): void => fail(new LinkDownError(`connection to ${o.host}:${o.port} closed before it was up`), false);
      client.on('error', onError);
      client.on('close', onClose);
      // A resumed MQTT 5 session delivers what was queued right after CONNACK, before SUBACK.
      client.on('message', this.#onMessage);
      const onConnect = (connack: IConnackPacket): void => {
        if (tcpAt > 0) this.#rtt.sample(performance.now() - tcpAt);
        this.#timeouts = 0;
        o.clock.clearTimeout(timer);
        timer = o.clock.setTimeout(() => fail(new TimeoutError(`no SUBACK within ${Math.round(timeoutMs)} ms`, timeoutMs), true), timeoutMs);
        let filter = o.role === 'box' ? o.topics.downFilter(o.id) : o.topics.upFilter();
        if (o.shareGroup !== undefined) {
          if (connack.properties?.sharedSubscriptionAvailable === false) {
            o.log({ event: 'fallback', reason: 'noSharedSubscriptions', detail: 'the broker offers no shared subscriptions; reading the whole ingress' });
          } else {
            filter = o.topics.sharedUpFilter(o.shareGroup);
          }
        }
        client.subscribe(filter, { qos: 1 }, (err, granted) => {
          if (err) {
            const refused = (err as { packet?: { granted?: unknown[] } }).packet?.granted?.some((g) => typeof g === 'number' && g >= 0x80);
            return fail(refused ? new BrokerRefusedError(`the broker refused the subscription ${filter}`, 0x80, { cause: err }) : new LinkDownError(`subscribe to ${filter} failed: ${err.message}`, { cause: err }), false);
          }
          if (granted?.[0]?.qos !== 1 && granted?.[0]?.qos !== 0) return fail(new BrokerRefusedError(`the broker refused the subscription ${filter}`), false);
          if (settled) return;
          settled = true;
          o.clock.clearTimeout(timer);
          client.removeListener('error', onError);
          client.removeListener('close', onClose);
          resolve(conn);
        });
      };
      client.once('connect', onConnect);
    });
  }

  #adopt(conn: Conn): void {
    const { client } = conn;
    conn.up = true;
    conn.lastRx = this.#o.clock.now();
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
    const err = cause instanceof LinkDownError ? cause : new LinkDownError(`link to the broker lost: ${cause.message}`, { cause });
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
    if (conn.watch !== undefined) this.#o.clock.clearTimeout(conn.watch);
    conn.watch = undefined;
    const waiting = [...conn.pending];
    conn.pending.clear();
    for (const p of waiting) p.reject(err);
    conn.detach();
  }

  async #reconnect(): Promise<void> {
    if (this.#closed) return;
    try {
      const conn = await this.#connectOnce();
      if (this.#closed) {
        await endClient(conn.client);
        return;
      }
      this.#adopt(conn);
      this.#reconnector.succeeded();
      this.#o.log({ event: 'link', reason: 'up' });
      this.#o.onLink?.('up');
    } catch {
      if (!this.#closed) this.#reconnector.failed();
    }
  }

  /**
   * Established-link liveness: QoS 1 sends waiting and nothing heard for linkSilenceMs -> PINGREQ;
   * still nothing within the RTT-derived timeout -> the path is dead: fail the sends, reconnect.
   */
  #armWatch(conn: Conn): void {
    if (conn.watch !== undefined || this.#o.linkSilenceMs === 0) return;
    conn.watch = this.#o.clock.setTimeout(() => this.#checkWatch(conn, false), this.#o.linkSilenceMs);
  }

  #checkWatch(conn: Conn, confirming: boolean): void {
    conn.watch = undefined;
    if (!conn.up || conn.acking === 0) {
      conn.probeAt = undefined;
      return;
    }
    const clock = this.#o.clock;
    const now = clock.now();
    const again = (ms: number, c = false): void => void (conn.watch = clock.setTimeout(() => this.#checkWatch(conn, c), Math.max(0, ms)));
    if (conn.probeAt !== undefined) {
      if (conn.lastRx > conn.probeAt) conn.probeAt = undefined;
      else {
        const limit = this.connectTimeoutMs;
        if (now - conn.probeAt < limit) return again(limit - (now - conn.probeAt));
        // Check once more after pending I/O is read: a busy event loop is not a dead path.
        if (!confirming) return again(0, true);
        return this.#lost(conn, new LinkDownError(`no answer from the broker for ${Math.round(now - conn.lastRx)} ms: dead path`));
      }
    }
    const silent = now - conn.lastRx;
    if (silent < this.#o.linkSilenceMs) return again(this.#o.linkSilenceMs - silent);
    conn.probeAt = now;
    conn.client.once('packetreceive', () => void (conn.lastRx = clock.now())); // PINGRESP, or anything
    conn.client.sendPing();
    again(this.connectTimeoutMs);
  }
}

/** A plain mqtt.js client (its defaults, no reconnect) on a TCP_NODELAY socket, for tests, benchmarks and diagnostics. */
export function openRawClient(url: string, options: IClientOptions = {}): Promise<MqttClient> {
  const u = new URL(url);
  const host = u.hostname;
  const port = u.port === '' ? 1883 : Number(u.port);
  return new Promise((resolve, reject) => {
    const client = new MqttClient(() => createConnection({ host, port, noDelay: true }), { reconnectPeriod: 0, ...options });
    const onError = (e: Error): void => {
      client.end(true);
      reject(e);
    };
    const onClose = (): void => onError(new Error('closed before CONNACK'));
    client.once('error', onError);
    client.once('close', onClose);
    client.once('connect', () => {
      client.removeListener('error', onError);
      client.removeListener('close', onClose);
      client.on('error', () => {});
      resolve(client);
    });
  });
}

function endClient(client: MqttClient): Promise<void> {
  return new Promise((resolve) => {
    const force = !client.connected || Object.keys(client.outgoing).length > 0;
    const guard = setTimeout(() => client.end(true, {}, () => resolve()), 1000);
    client.end(force, {}, () => {
      clearTimeout(guard);
      resolve();
    });
  });
}

function connectError(e: Error & { code?: unknown }, o: ResolvedMqttOptions): Error {
  const where = `${o.host}:${o.port}`;
  if (typeof e.code === 'number') {
    // CONNACK return codes: 3 (v3) / 0x88, 0x89, 0x97 (v5) mean "not now": retry later.
    if (e.code === 3 || e.code === 0x88 || e.code === 0x89 || e.code === 0x97) return new LinkDownError(`broker at ${where} is unavailable: ${e.message}`, { cause: e });
    return new BrokerRefusedError(`broker at ${where} refused ${o.id}: ${e.message}`, e.code, { cause: e });
  }
  return new LinkDownError(`cannot connect to ${where}: ${e.message}`, { cause: e });
}

function publishError(e: Error & { code?: unknown }): Error {
  if (typeof e.code === 'number' && e.code >= 0x80) return new BrokerRefusedError(`the broker refused the message: ${e.message}`, e.code, { cause: e });
  return new LinkDownError(`publish failed: ${e.message}`, { cause: e });
}
