// Options of the MQTT adapter: names, defaults, validation (unknown names are refused by name).
// Each default says why it is what it is; docs/OPERATIONS.md repeats them for operators.

import {
  type Address,
  ArgumentError,
  type Clock,
  DEFAULT_MAX_ENVELOPE_BYTES,
  checkAddress,
  nonNegative,
  positiveInt,
  rejectUnknown,
  systemClock,
} from '../runtime/index.ts';
import { type Socket, createConnection, isIP } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { MqttLogEvent, RateLimit } from './mqtt-ingress.ts';
import type { ClientSpec, MqttClientFactory } from './mqtt-client.ts';

export type { MqttLogEvent } from './mqtt-ingress.ts';
import { TopicScheme, boxAddress, headendAddress, isEndpointId } from './mqtt-topics.ts';
import { type BackoffPolicy, type DeadPathPolicy, backoffPolicy, deadPathPolicy } from './reconnect.ts';

export type MqttRole = 'box' | 'headend';
export type LinkState = 'up' | 'down' | 'closed';

export interface MqttTransportOptions {
  /** `box`: one set-top box; publishes on its `up` topics, reads its inbox. `headend`: a node; reads every box's `up` topics, publishes to inboxes. */
  role: MqttRole;
  /** Broker URL `mqtt://host:port` (loopback or the plant's broker cluster), or `mqtts://host:port` (TLS, default port 8883). */
  url: string;
  /** TLS settings of an `mqtts://` url. Default: the system's CAs, no client certificate. */
  tls?: MqttTlsOptions;
  /** Box id or head-end node id. The MQTT username and client id the broker ACL keys on: the box id, or `<node id>@headend` (`mqttUsername`). */
  id: string;
  /** The broker password of this identity. */
  password?: string;
  /** First topic levels. Default `weft`: one broker can host several plants under different prefixes. */
  prefix?: string;
  /** 4 = MQTT 3.1.1 (default; aedes speaks only this), 5 = MQTT 5 (session and message expiry, shared subscriptions). */
  protocolVersion?: 4 | 5;
  /** MQTT 5: how long the broker keeps this session (its inbox subscription and queued QoS 1 messages) after a drop, s. Default 120 for a box (rides out a reconnect), 0 for a head-end node. */
  sessionExpirySec?: number;
  /** MQTT 5, head-end: read the ingress through `$share/<group>/...` so several nodes split the boxes. Default none. */
  shareGroup?: string;
  /** What peers put in `dst` to reach this endpoint. Default `weft://box/<id>/inbox` or `weft://headend/<id>/ingress`. */
  address?: Address;
  /** Head-end: the box hosting a virtual address (the registry). Consulted before the learned routes. */
  locate?: (vaddr: string) => string | undefined;
  /** MQTT keepalive, s. Default 30: the broker drops a silent box within 45 s. */
  keepaliveSec?: number;
  /** An established link with QoS 1 sends waiting and nothing heard for this long gets a PINGREQ probe; no answer within the connect timeout means the path is dead. Default 1000 ms. */
  linkSilenceMs?: number;
  deadPath?: Partial<DeadPathPolicy>;
  backoff?: Partial<BackoffPolicy>;
  /** Largest envelope, bytes (the codec limit). Default 1 MiB. */
  maxBytes?: number;
  /** Head-end: per-box ingress rate; excess is dropped and counted. Default 200/s, burst 400. */
  rateLimit?: RateLimit;
  /** QoS of `msg`. Default 0 (fire and forget; `stat` is always 0; req/rep/err/ctl/ack always 1). */
  msgQos?: 0 | 1;
  /** Envelopes kept while no handler is set. Default 1024. */
  maxQueued?: number;
  /** QoS 1 message ids remembered to drop broker redeliveries (only a persistent MQTT 5 session gets those). Default 16384. */
  dedupWindow?: number;
  clock?: Clock;
  /** Jitter source of the reconnect backoff. Default Math.random. */
  random?: () => number;
  /** Rejections, link changes and fallbacks. Default: one stderr line per (reason, box), then every 1000th. */
  log?: (e: MqttLogEvent) => void;
  /** Called when the link goes up or down after the first connect, and on close. */
  onLink?: (state: LinkState, cause?: Error) => void;
  /** The MQTT client of each connection. Default mqtt.js (3.1.1 and 5); the box firmware gives `liteMqttClient` (mqtt-lite.ts, 3.1.1 only, ~6 KB). */
  client?: MqttClientFactory;
}

/** PEM text or bytes, as read from a file. */
export type Pem = string | Uint8Array;

export interface MqttTlsOptions {
  /** CA certificate(s) the broker's certificate must chain to. Default: the system's. */
  ca?: Pem | Pem[];
  /** This endpoint's client certificate (mTLS): the broker takes the identity from it, not from the username. Needs `key`. */
  cert?: Pem;
  /** Private key of `cert`. */
  key?: Pem;
  /** Name the broker's certificate must carry. Default: the url's host name (for an IP address, its IP SAN). */
  servername?: string;
}

export interface ResolvedMqttOptions {
  role: MqttRole;
  host: string;
  port: number;
  tls: MqttTlsOptions | undefined;
  id: string;
  password: string | undefined;
  topics: TopicScheme;
  protocolVersion: 4 | 5;
  sessionExpirySec: number;
  shareGroup: string | undefined;
  address: Address;
  locate: ((vaddr: string) => string | undefined) | undefined;
  keepaliveSec: number;
  linkSilenceMs: number;
  deadPath: DeadPathPolicy;
  backoff: BackoffPolicy;
  maxBytes: number;
  rateLimit: RateLimit;
  msgQos: 0 | 1;
  maxQueued: number;
  dedupWindow: number;
  clock: Clock;
  random: () => number;
  log: (e: MqttLogEvent) => void;
  onLink: ((state: LinkState, cause?: Error) => void) | undefined;
  client: MqttClientFactory | undefined;
}

const KEYS = [
  'role', 'url', 'tls', 'id', 'password', 'prefix', 'protocolVersion', 'sessionExpirySec', 'shareGroup', 'address', 'locate',
  'keepaliveSec', 'linkSilenceMs', 'deadPath', 'backoff', 'maxBytes', 'rateLimit', 'msgQos', 'maxQueued', 'dedupWindow',
  'clock', 'random', 'log', 'onLink', 'client',
];

const W = 'MqttTransport';

export function resolveMqttOptions(o: MqttTransportOptions): ResolvedMqttOptions {
  if (o === null || typeof o !== 'object') throw new ArgumentError(`${W}: options are required`);
  rejectUnknown(W, o, KEYS);
  if (o.role !== 'box' && o.role !== 'headend') throw new ArgumentError(`${W}: role must be "box" or "headend"`, 'role');
  if (!isEndpointId(o.id)) throw new ArgumentError(`${W}: id must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,63}`, 'id');
  const { host, port, secure } = parseUrl(o.url);
  const tls = tlsOptions(o.tls, secure);
  const version = o.protocolVersion ?? 4;
  if (version !== 4 && version !== 5) throw new ArgumentError(`${W}: protocolVersion must be 4 or 5`, 'protocolVersion');
  if (o.shareGroup !== undefined) {
    if (o.role !== 'headend' || version !== 5) throw new ArgumentError(`${W}: shareGroup needs role "headend" and protocolVersion 5`, 'shareGroup');
    if (!isEndpointId(o.shareGroup)) throw new ArgumentError(`${W}: bad shareGroup`, 'shareGroup');
  }
  if (o.client !== undefined && typeof o.client !== 'function') throw new ArgumentError(`${W}: client must be a function`, 'client');
  if (o.locate !== undefined && typeof o.locate !== 'function') throw new ArgumentError(`${W}: locate must be a function`, 'locate');
  const msgQos = o.msgQos ?? 0;
  if (msgQos !== 0 && msgQos !== 1) throw new ArgumentError(`${W}: msgQos must be 0 or 1`, 'msgQos');
  const rate = o.rateLimit ?? { perSec: 200, burst: 400 };
  rejectUnknown(`${W}.rateLimit`, rate, ['perSec', 'burst']);
  nonNegative(W, 'rateLimit.perSec', rate.perSec);
  positiveInt(W, 'rateLimit.burst', rate.burst);
  return {
    role: o.role,
    host,
    port,
    tls,
    id: o.id,
    password: o.password,
    topics: new TopicScheme(o.prefix),
    protocolVersion: version,
    sessionExpirySec: nonNegative(W, 'sessionExpirySec', o.sessionExpirySec ?? (o.role === 'box' ? 120 : 0)),
    shareGroup: o.shareGroup,
    address: o.address === undefined ? (o.role === 'box' ? boxAddress(o.id) : headendAddress(o.id)) : checkAddress(o.address),
    locate: o.locate,
    keepaliveSec: positiveInt(W, 'keepaliveSec', o.keepaliveSec ?? 30, 65535),
    linkSilenceMs: nonNegative(W, 'linkSilenceMs', o.linkSilenceMs ?? 1000),
    deadPath: deadPathPolicy(`${W}.deadPath`, o.deadPath),
    backoff: backoffPolicy(`${W}.backoff`, o.backoff),
    maxBytes: positiveInt(W, 'maxBytes', o.maxBytes ?? DEFAULT_MAX_ENVELOPE_BYTES, 256 * 1024 * 1024),
    rateLimit: { perSec: rate.perSec, burst: rate.burst },
    msgQos,
    maxQueued: positiveInt(W, 'maxQueued', o.maxQueued ?? 1024),
    dedupWindow: positiveInt(W, 'dedupWindow', o.dedupWindow ?? 16_384),
    clock: o.clock ?? systemClock,
    random: o.random ?? Math.random,
    // A box's dialer always passes its log (loader/dialer-mqtt.ts): the firmware drops the stderr default (its size budget).
    log: o.log ?? (globalThis.WEFT_FIRMWARE === true ? () => {} : throttledStderrLog('weft mqtt')),
    onLink: o.onLink,
    client: o.client,
  };
}

/**
 * Suffix of a head-end node's MQTT username and client id. `@` is outside the endpoint id
 * alphabet, so no box id can ever name a node: the two namespaces are disjoint by construction
 * (issue 12, finding 3: a box provisioned as `headend.<node>` logged in as the node).
 */
export const NODE_USER_SUFFIX = '@headend';

/** The MQTT username (= client id) of an identity: a box id as is, a node id with `@headend`. */
export function mqttUsername(role: MqttRole, id: string): string {
  return role === 'headend' ? `${id}${NODE_USER_SUFFIX}` : id;
}

/**
 * What the mqtt.js client of one connection is given (a plain object; mqtt.ts passes it on).
 * No reconnects and no offline queue of its own: the transport owns both. Its CONNACK timer is
 * pushed out of the way: ours, derived from the RTT, decides first.
 */
export function clientOptions(o: ResolvedMqttOptions) {
  const keep = o.protocolVersion === 5 && o.sessionExpirySec > 0;
  return {
    clientId: mqttUsername(o.role, o.id),
    username: mqttUsername(o.role, o.id),
    ...(o.password === undefined ? {} : { password: o.password }),
    protocolVersion: o.protocolVersion,
    clean: !keep,
    ...(keep ? { properties: { sessionExpiryInterval: o.sessionExpirySec } } : {}),
    keepalive: o.keepaliveSec,
    reconnectPeriod: 0,
    connectTimeout: 86_400_000,
    resubscribe: false,
    queueQoSZero: false,
    log: (): void => {}, // mqtt.js otherwise formats a debug call per packet step even with debug off
  };
}

/** Room for a PUBLISH's topic and header beside the largest envelope. */
const PACKET_OVERHEAD = 64 * 1024;

/** What one connection's client is told by the transport: the client factory's input (the mqtt.js default reads clientOptions(o) instead). */
export function clientSpec(o: ResolvedMqttOptions): ClientSpec {
  const keep = o.protocolVersion === 5 && o.sessionExpirySec > 0;
  return {
    clientId: mqttUsername(o.role, o.id),
    username: mqttUsername(o.role, o.id),
    password: o.password,
    protocolVersion: o.protocolVersion,
    clean: !keep,
    sessionExpirySec: keep ? o.sessionExpirySec : undefined,
    keepaliveSec: o.keepaliveSec,
    maxPacketBytes: o.maxBytes + PACKET_OVERHEAD,
    clock: o.clock,
  };
}

/** The connection under one mqtt.js client: TCP with TCP_NODELAY, or TLS over it. */
export function openSocket(o: Pick<ResolvedMqttOptions, 'host' | 'port' | 'tls'>): Socket {
  if (o.tls === undefined) return afterDetach(createConnection({ host: o.host, port: o.port, noDelay: true }));
  const { ca, cert, key, servername } = o.tls;
  const name = servername ?? (isIP(o.host) === 0 ? o.host : undefined);
  return tlsConnect({
    socket: afterDetach(createConnection({ host: o.host, port: o.port, noDelay: true })),
    host: o.host,
    minVersion: 'TLSv1.2',
    ...(ca === undefined ? {} : { ca: pems(ca) }),
    ...(cert === undefined ? {} : { cert: pem(cert) }),
    ...(key === undefined ? {} : { key: pem(key) }),
    ...(name === undefined ? {} : { servername: name }),
  });
}

/**
 * mqtt.js reports a socket's errors while it holds the socket, and lets go of it when the link is
 * ended (a dead-path verdict, close). A reset that arrives after that, common on a cut link, must
 * not become an uncaught exception that ends the process: the link was already judged and closed.
 */
function afterDetach<S extends Socket>(socket: S): S {
  socket.on('error', () => undefined);
  return socket;
}

function tlsOptions(t: MqttTlsOptions | undefined, secure: boolean): MqttTlsOptions | undefined {
  if (!secure) {
    if (t !== undefined) throw new ArgumentError(`${W}: tls needs an mqtts:// url`, 'tls');
    return undefined;
  }
  if (t === undefined) return {};
  if (t === null || typeof t !== 'object') throw new ArgumentError(`${W}: tls must be an object`, 'tls');
  rejectUnknown(`${W}.tls`, t, ['ca', 'cert', 'key', 'servername']);
  for (const p of t.ca === undefined ? [] : Array.isArray(t.ca) ? t.ca : [t.ca]) checkPem(p, 'ca');
  if (t.cert !== undefined) checkPem(t.cert, 'cert');
  if (t.key !== undefined) checkPem(t.key, 'key');
  if ((t.cert === undefined) !== (t.key === undefined)) throw new ArgumentError(`${W}: tls.cert and tls.key go together`, t.cert === undefined ? 'cert' : 'key');
  if (t.servername !== undefined && (typeof t.servername !== 'string' || t.servername === '' || t.servername.length > 253)) {
    throw new ArgumentError(`${W}: tls.servername must be a host name`, 'servername');
  }
  return { ...t };
}

function checkPem(v: unknown, name: string): void {
  const text = typeof v === 'string' ? v : v instanceof Uint8Array ? Buffer.from(v.buffer, v.byteOffset, Math.min(v.length, 64 * 1024)).toString('latin1') : undefined;
  if (text === undefined || !text.includes('-----BEGIN ')) throw new ArgumentError(`${W}: tls.${name} must be PEM text`, name);
}

function pem(v: Pem): string | Buffer {
  return typeof v === 'string' ? v : Buffer.from(v);
}

function pems(v: Pem | Pem[]): (string | Buffer)[] {
  return (Array.isArray(v) ? v : [v]).map(pem);
}

function parseUrl(url: unknown): { host: string; port: number; secure: boolean } {
  if (typeof url !== 'string') throw new ArgumentError(`${W}: url must be a string (mqtt://host:port)`, 'url');
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ArgumentError(`${W}: bad url "${url}"`, 'url');
  }
  const secure = u.protocol === 'mqtts:';
  if (u.protocol !== 'mqtt:' && u.protocol !== 'tcp:' && !secure) throw new ArgumentError(`${W}: url must be mqtt:// or mqtts://, got ${u.protocol}`, 'url');
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  const port = u.port === '' ? (secure ? 8883 : 1883) : Number(u.port);
  return { host, port, secure };
}

/** A log line's fields, as both the adapter and the embedded broker report them. */
export interface LogFields {
  event: string;
  reason: string;
  box?: string;
  who?: string;
  topic?: string;
  detail?: string;
}

/** Default log: the first line per (event, reason, who), then every 1000th, so a flood does not flood stderr. */
export function throttledStderrLog(tag: string): (e: LogFields) => void {
  const seen = new Map<string, number>();
  return (e) => {
    const who = e.box ?? e.who ?? '';
    const key = `${e.event}|${e.reason}|${who}`;
    const n = (seen.get(key) ?? 0) + 1;
    if (seen.size > 10_000) seen.clear();
    seen.set(key, n);
    if (n === 1 || n % 1000 === 0) {
      process.stderr.write(`${tag}: ${e.event} ${e.reason}${who ? ` by=${who}` : ''}${e.topic ? ` topic=${e.topic}` : ''}${e.detail ? ` ${e.detail}` : ''}${n > 1 ? ` (x${n})` : ''}\n`);
    }
  };
}
