// The embedded MQTT broker (aedes, MQTT 3.1.1) the head-end's composition root starts by
// default: loopback TCP (or TLS, with client certificates) with TCP_NODELAY, per-box identity and
// ACL, per-box rate limit, frame size and pre-authentication guards; every rejection counted and
// logged. The only file that imports aedes.

import type { Socket } from 'node:net';
import type { PeerCertificate } from 'node:tls';
import { Aedes, type AedesOptions, type AuthenticateError, type Client, type PublishPacket } from 'aedes';
import {
  ArgumentError,
  type Clock,
  DEFAULT_MAX_ENVELOPE_BYTES,
  nonNegative,
  positiveInt,
  rejectUnknown,
  systemClock,
} from '../../runtime/index.ts';
import { type RateLimit, TokenBuckets } from '../../transport/mqtt-ingress.ts';
import { mqttUsername, throttledStderrLog } from '../../transport/mqtt-options.ts';
import { TopicScheme } from '../../transport/mqtt-topics.ts';
import { type AclPolicy, type Identity, weftAcl } from './broker-acl.ts';
import type { CredentialStore } from './broker-auth.ts';
import type { LocalBroker } from './broker-local.ts';
import { type ListenRefusal, listen } from './broker-listen.ts';
import { type PreauthLimits, PreauthGuard, preauthLimits } from './broker-preauth.ts';
import { type BrokerTlsOptions, type ResolvedBrokerTls, certificateIdentity, resolveBrokerTls } from './broker-tls.ts';
import { ConnectGate, type ConnectGateOptions, type ConnectGateStats, loopDelay, resolveConnectGate } from './broker-connect-gate.ts';

/** The gate with its lag source: the options', else the broker loop's delay (stopped at close). */
function gateOf(o: ReturnType<typeof resolveConnectGate>, clock: Clock): { gate: ConnectGate; lag: () => number; stop: () => void } | undefined {
  if (o === undefined) return undefined;
  const own = o.lag === undefined ? loopDelay() : undefined;
  return { gate: new ConnectGate(o, () => clock.now()), lag: o.lag ?? own?.lag ?? (() => 0), stop: () => own?.stop() };
}

export interface BrokerLogEvent {
  event: 'reject';
  reason: BrokerRejection;
  who?: string;
  topic?: string;
  detail?: string;
}

export type BrokerRejection =
  | 'authFailed' | 'idMismatch' | 'penalized' | 'forbiddenPublish' | 'forbiddenSubscribe' | 'forbiddenForward'
  | 'tooLarge' | 'rateLimited' | Exclude<ListenRefusal, 'tooLarge'> | 'badCertificate' | 'busy';

export interface AedesBrokerOptions {
  /** Who may connect, and as what. Required: the broker has no anonymous access. */
  credentials: CredentialStore;
  /** Listen address. Default 127.0.0.1 (the embedded head-end and boxes on one machine). */
  host?: string;
  /** Default 0: a free port (see `port` on the result). */
  port?: number;
  /** Topic prefix, as in the transports. Default `weft`. */
  prefix?: string;
  /** Replace the Weft ACL (tests prove the default is what keeps boxes apart). */
  acl?: AclPolicy;
  /** Largest MQTT packet, bytes; checked on the socket before buffering. Default 1 MiB + 4 KiB. */
  maxPacketBytes?: number;
  /** Per-box publish rate. Default 200/s with a burst of 400 (a box sends far less). */
  rateLimit?: RateLimit;
  /** A box over its rate is slowed (its reads held) up to this long; past it, it is disconnected. Default 1000 ms. */
  maxThrottleMs?: number;
  /** A box disconnected for flooding is refused this long. Default 10000 ms. */
  penaltyMs?: number;
  /** Caps on what unauthenticated connections may hold (see broker-preauth.ts). Default 4 KiB each, 1 MiB and 1024 connections in all. */
  preauth?: Partial<PreauthLimits>;
  /** A connection whose CONNECT is not accepted within this long is cut (`connectTimeout`). Default 5000 ms. */
  connectTimeoutMs?: number;
  /** [19.6] Connections the kernel holds for the broker before its loop accepts them. Default LISTEN_BACKLOG. */
  listenBacklog?: number;
  /** Serve MQTT over TLS (mqtts://), optionally with client certificates as identity. Default: plain TCP. */
  tls?: BrokerTlsOptions;
  /** [19.6] Past its connect capacity the broker answers a box's CONNECT with CONNACK 3 (broker-connect-gate.ts); `'off'`: never. Default on: 8 box CONNECTs in a row that waited over 100 ms (sojourn from the CONNECT's first read plus the loop's delay). */
  connectGate?: ConnectGateOptions | 'off';
  clock?: Clock;
  log?: (e: BrokerLogEvent) => void;
}

export type BrokerStats = Record<BrokerRejection | 'connections' | 'throttled' | 'clientErrors' | 'preauthHeldBytes' | 'preauthHeldConnections' | 'announcementsSkipped' | 'retainCleared', number>;

export interface EmbeddedBroker {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** For the node of this process only: publish and subscribe by function call (broker-local.ts). */
  readonly local: LocalBroker;
  stats(): Readonly<BrokerStats>;
  /** [19.6] The connect gate's counters (undefined with `connectGate: 'off'`). */
  gateStats(): ConnectGateStats | undefined;
  close(): Promise<void>;
}

const KEYS = [
  'credentials', 'host', 'port', 'prefix', 'acl', 'maxPacketBytes', 'rateLimit', 'maxThrottleMs', 'penaltyMs', 'preauth',
  'connectTimeoutMs', 'listenBacklog', 'tls', 'connectGate', 'clock', 'log',
];
const W = 'startAedesBroker';

interface Resolved {
  creds: CredentialStore;
  host: string;
  port: number;
  acl: AclPolicy;
  maxPacket: number;
  rate: RateLimit;
  maxThrottleMs: number;
  penaltyMs: number;
  clock: Clock;
  preauth: PreauthGuard;
  connectTimeoutMs: number;
  backlog: number;
  tls: ResolvedBrokerTls | undefined;
  gate: ReturnType<typeof gateOf>;
  log: (e: BrokerLogEvent) => void;
}

function resolve(options: AedesBrokerOptions): Resolved {
  rejectUnknown(W, options, KEYS);
  const creds = options.credentials;
  if (creds === undefined || typeof creds.verify !== 'function') throw new ArgumentError(`${W}: credentials are required`, 'credentials');
  const rate = options.rateLimit ?? { perSec: 200, burst: 400 };
  rejectUnknown(`${W}.rateLimit`, rate, ['perSec', 'burst']);
  return {
    creds,
    host: options.host ?? '127.0.0.1',
    port: options.port ?? 0,
    acl: options.acl ?? weftAcl(new TopicScheme(options.prefix)),
    maxPacket: positiveInt(W, 'maxPacketBytes', options.maxPacketBytes ?? DEFAULT_MAX_ENVELOPE_BYTES + 4096),
    rate: { perSec: nonNegative(W, 'rateLimit.perSec', rate.perSec), burst: positiveInt(W, 'rateLimit.burst', rate.burst) },
    maxThrottleMs: nonNegative(W, 'maxThrottleMs', options.maxThrottleMs ?? 1000),
    penaltyMs: nonNegative(W, 'penaltyMs', options.penaltyMs ?? 10_000),
    clock: options.clock ?? systemClock,
    preauth: new PreauthGuard(preauthLimits(`${W}.preauth`, options.preauth)),
    connectTimeoutMs: positiveInt(W, 'connectTimeoutMs', options.connectTimeoutMs ?? 5000),
    backlog: positiveInt(W, 'listenBacklog', options.listenBacklog ?? LISTEN_BACKLOG, 65_535),
    tls: resolveBrokerTls(options.tls),
    gate: gateOf(resolveConnectGate(options.connectGate), options.clock ?? systemClock),
    log: options.log ?? throttledStderrLog('weft broker'),
  };
}

/** What the hooks share: the options, the counters, who each client is. */
interface Ctx {
  o: Resolved;
  stats: BrokerStats;
  identities: WeakMap<Client, Identity>;
  penalties: Map<string, number>;
  certs: WeakMap<object, PeerCertificate>;
  buckets: TokenBuckets;
  reject(reason: BrokerRejection, who: string | undefined, topic?: string, detail?: string): void;
  /** The CONNECT of this connection was accepted (the pre-authentication guard lets go of it). */
  authenticated(conn: unknown): void;
  /** How long ago this connection was accepted, ms (the listener's). */
  sojournMs(conn: unknown): number;
}

function newContext(o: Resolved): Ctx {
  const stats: BrokerStats = {
    connections: 0, authFailed: 0, idMismatch: 0, penalized: 0, forbiddenPublish: 0, forbiddenSubscribe: 0,
    forbiddenForward: 0, tooLarge: 0, rateLimited: 0, throttled: 0, clientErrors: 0, preauthConnections: 0, preauthBytes: 0,
    connectTooLarge: 0, notConnect: 0, connectTimeout: 0, tlsFailed: 0, badCertificate: 0, preauthHeldBytes: 0, preauthHeldConnections: 0,
    busy: 0, announcementsSkipped: 0, retainCleared: 0,
  };
  return {
    o,
    stats,
    identities: new WeakMap(),
    penalties: new Map(),
    certs: new WeakMap(),
    buckets: new TokenBuckets(o.rate, o.clock),
    reject(reason, who, topic, detail) {
      stats[reason]++;
      const e: BrokerLogEvent = { event: 'reject', reason };
      if (who !== undefined) e.who = who;
      if (topic !== undefined) e.topic = topic.length > 200 ? `${topic.slice(0, 200)}...` : topic;
      if (detail !== undefined) e.detail = detail;
      o.log(e);
    },
    authenticated: () => {},
    sojournMs: () => NaN,
  };
}

const refuse = (returnCode: number, message: string): AuthenticateError => Object.assign(new Error(message), { returnCode });

/** CONNECT: the identity from the client certificate (mTLS) or the credentials; client id = that identity's username. */
function authenticate(c: Ctx): NonNullable<AedesOptions['authenticate']> {
  return (client, username, password, done) => {
    const peer = c.certs.get(client.conn);
    const who = peer !== undefined ? certificateIdentity(peer, c.o.tls?.nodeCas ?? []) : typeof username === 'string' ? c.o.creds.verify(username, password) : undefined;
    if (who === undefined) {
      if (peer !== undefined) {
        c.reject('badCertificate', undefined, undefined, `subject "${String(peer.subject?.CN).slice(0, 80)}"`);
        return done(refuse(5, 'the client certificate names no Weft identity'), null); // [MQTT-3.2.2-3] 5: not authorized
      }
      c.reject('authFailed', typeof username === 'string' ? username.slice(0, 64) : undefined);
      return done(refuse(4, 'bad username or password'), null); // [MQTT-3.2.2-3] return code 4
    }
    if (peer !== undefined && typeof username === 'string' && username !== '' && username !== mqttUsername(who.role, who.id)) {
      c.reject('idMismatch', who.id, undefined, `username "${username.slice(0, 64)}" is not the certificate's`);
      return done(refuse(4, 'username differs from the client certificate'), null);
    }
    if (client.id !== mqttUsername(who.role, who.id)) {
      c.reject('idMismatch', who.id, undefined, `client id "${String(client.id).slice(0, 64)}"`);
      return done(refuse(2, 'client id must equal the username'), null); // so no box can take over another's (or a node's) session
    }
    // [19.6] Past its connect capacity: CONNACK 3 now, before the box subscribes, opens a session and probes on this loop.
    const g = c.o.gate;
    if (who.role === 'box' && g !== undefined && !g.gate.admit(c.sojournMs(client.conn), g.lag())) {
      c.reject('busy', who.id, undefined, `CONNECT authenticated ${Math.round(c.sojournMs(client.conn))} ms after its first read, loop ${Math.round(g.lag())} ms late`);
      return done(refuse(3, 'server busy; come back later'), null); // [MQTT-3.2.2-3] 3: server unavailable
    }
    const until = c.penalties.get(who.id);
    if (until !== undefined && until > c.o.clock.now()) {
      c.reject('penalized', who.id);
      return done(refuse(3, 'flooding; come back later'), null);
    }
    c.penalties.delete(who.id);
    c.identities.set(client, who);
    c.authenticated(client.conn);
    done(null, true);
  };
}

/** PUBLISH: the ACL, the size limit, and a box's rate (held, then cut and penalized). */
function authorizePublish(c: Ctx): NonNullable<AedesOptions['authorizePublish']> {
  const { o } = c;
  return (client, packet, done) => {
    const who = client === null ? undefined : c.identities.get(client);
    if (who === undefined || !o.acl.mayPublish(who, packet.topic)) {
      c.reject('forbiddenPublish', who?.id, packet.topic);
      return done(new Error('publish not allowed on this topic'));
    }
    const size = packet.payload?.length ?? 0;
    if (size > o.maxPacket) {
      c.reject('tooLarge', who.id, packet.topic, `${size} bytes`);
      return done(new Error('payload too large'));
    }
    // No retained messages (aedes would keep each without bound for every later subscriber): the message goes, its flag not.
    if (packet.retain) c.stats.retainCleared++;
    packet.retain = false;
    if (who.role !== 'box') return done(null);
    const wait = c.buckets.reserve(who.id, o.maxThrottleMs);
    if (wait < 0) {
      c.penalties.set(who.id, o.clock.now() + o.penaltyMs);
      if (c.penalties.size > 100_000) sweep(c.penalties, o.clock.now());
      c.reject('rateLimited', who.id, packet.topic, `over ${o.rate.perSec}/s; disconnected for ${o.penaltyMs} ms`);
      return done(new Error('rate limit exceeded'));
    }
    if (wait === 0) return done(null);
    // Hold this message: aedes reads the next batch only when this one is done, so the box is
    // slowed by TCP backpressure instead of losing messages.
    c.stats.throttled++;
    o.clock.setTimeout(() => done(null), wait);
  };
}

/**
 * [19.6] The listen backlog: a reconnect storm brings every box back within the 5 s spread window
 * (1,200 connects/s at 6,000 boxes, 3,600/s at 18,000) while the loop also runs the node. Past
 * the backlog the kernel drops SYNs, and a box's TCP sends them again after 1, 3, 7, 15 s, long
 * past its dial's deadline: Node's 511 is less than half a second of a storm. Held here, a
 * connection is accepted and answered (admitted, or refused at once: CONNACK 3 or the
 * pre-authentication cap, both the box's 0.5-1 s busy backoff). Linux caps it at net.core.somaxconn.
 */
export const LISTEN_BACKLOG = 4096;

/**
 * aedes' `concurrency` for its message emitter: 0, no global queue. Past its default (100
 * deliveries in flight) mqemitter queues messages and drains the queue recursively, so a backlog
 * under a connection storm overflowed the stack and took the node down near 8,000 boxes
 * (bench -- scale; test/headend/broker-backlog.test.ts). Per-client bounds stay: aedes'
 * in-flight limit per client, our per-box rate limit and pre-authentication caps.
 */
export const BROKER_CONCURRENCY = 0;

/**
 * [19.6, D90] aedes announces each client it registers or unregisters, and each SUBSCRIBE and
 * UNSUBSCRIBE, on `$SYS/<its id>/...` so that brokers sharing one emitter (a cluster, the `mq`
 * option) learn of them. The embedded broker has an emitter of its own, and no one may subscribe
 * to `$SYS` (the ACL; the node's code does not): only aedes' own handler hears the client ones,
 * and it ignores its own broker's. A packet, an emit and a match per connect, subscribe and
 * disconnect (2.7% of the loop in a reconnect storm): not published, counted.
 */
class EmbeddedAedes extends Aedes {
  readonly #own: ReadonlySet<string>;
  readonly #skipped: () => void;

  constructor(options: AedesOptions, skipped: () => void) {
    super(options);
    this.#own = new Set(['new/clients', 'disconnect/clients', 'new/subscribes', 'new/unsubscribes'].map((t) => `$SYS/${this.id}/${t}`));
    this.#skipped = skipped;
  }

  // aedes calls publish(packet, done) for its own messages, publish(packet, client, done) for a client's.
  override publish(packet: PublishPacket, callback: (error?: Error) => void, done?: unknown): void {
    if (done === undefined && packet.topic.charCodeAt(0) === 36 /* $ */ && this.#own.has(packet.topic)) {
      this.#skipped();
      return callback();
    }
    (super.publish as (p: PublishPacket, a: unknown, b: unknown) => void).call(this, packet, callback, done);
  }
}

/** Start aedes on a loopback port with the Weft identity, ACL and limits. */
export async function startAedesBroker(options: AedesBrokerOptions): Promise<EmbeddedBroker> {
  const o = resolve(options);
  const c = newContext(o);
  const aedes = new EmbeddedAedes({
    maxClientsIdLength: 73, // a 64-character node id + `@headend`
    drainTimeout: 10_000,
    concurrency: BROKER_CONCURRENCY,
    // Ours (on the injected clock) fires first and may wait once more after a stall (D27): the
    // backstop leaves room for that.
    connectTimeout: 3 * o.connectTimeoutMs,
    authenticate: authenticate(c),
    authorizePublish: authorizePublish(c),
    authorizeSubscribe(client, sub, done) {
      const who = c.identities.get(client);
      if (who === undefined || !o.acl.maySubscribe(who, sub.topic)) {
        c.reject('forbiddenSubscribe', who?.id, sub.topic);
        return done(null, null); // negated: SUBACK 0x80, the connection stays
      }
      done(null, sub);
    },
    authorizeForward(client, packet) {
      const who = c.identities.get(client);
      if (who === undefined || !o.acl.mayRead(who, packet.topic)) {
        c.reject('forbiddenForward', who?.id, packet.topic);
        return null;
      }
      return packet;
    },
  }, () => void c.stats.announcementsSkipped++);
  await aedes.listen();
  aedes.on('clientError', () => void c.stats.clientErrors++);
  aedes.on('connectionError', () => void c.stats.clientErrors++);
  const listener = await listen({
    host: o.host,
    port: o.port,
    tls: o.tls,
    preauth: o.preauth,
    connectTimeoutMs: o.connectTimeoutMs,
    maxPacketBytes: o.maxPacket,
    backlog: o.backlog,
    clock: o.clock,
    onRefuse: (reason, detail) => c.reject(reason, undefined, undefined, detail),
    handle(conn: Socket, peer: PeerCertificate | undefined) {
      if (peer !== undefined) c.certs.set(conn, peer);
      aedes.handle(conn);
    },
  });
  c.authenticated = (conn) => listener.authenticated(conn);
  c.sojournMs = (conn) => listener.sojournMs(conn);
  const { host, preauth } = o;
  let closing: Promise<void> | undefined;
  return {
    url: `${o.tls === undefined ? 'mqtt' : 'mqtts'}://${host.includes(':') ? `[${host}]` : host}:${listener.port}`,
    host,
    port: listener.port,
    local: localBroker(aedes),
    stats: () => ({ ...c.stats, connections: aedes.connectedClients, preauthHeldBytes: preauth.heldBytes, preauthHeldConnections: preauth.heldConnections }),
    gateStats: () => o.gate?.gate.stats,
    close: () =>
      (closing ??= new Promise<void>((done) => {
        listener.close();
        o.gate?.stop();
        aedes.close(() => done());
      })),
  };
}

/** The node of this process publishes and subscribes directly: trusted, so no ACL, rate or frame guard (those stay on every socket). */
function localBroker(aedes: Aedes): LocalBroker {
  return {
    get closed() {
      return aedes.closed;
    },
    publish: (topic, payload, qos, done) => aedes.publish({ cmd: 'publish', topic, payload, qos, retain: false, dup: false }, (err) => done(err ?? undefined)),
    subscribe(filter, deliver, done) {
      const fn = (packet: { topic: string; payload: string | Buffer }, cb: () => void): void => {
        deliver(packet.topic, Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload));
        cb();
      };
      aedes.subscribe(filter, fn, () => done());
      return (off) => aedes.unsubscribe(filter, fn, off);
    },
    onClose(l) {
      aedes.once('closed', l);
      return () => void aedes.removeListener('closed', l);
    },
  };
}

function sweep(penalties: Map<string, number>, now: number): void {
  for (const [id, until] of penalties) if (until <= now) penalties.delete(id);
}
