// The part of an MQTT client the MQTT transport (mqtt.ts) uses: what mqtt.js's MqttClient offers
// and what the box's own minimal client (mqtt-lite.ts) implements. Types only; the transport
// takes a factory, so the firmware can leave mqtt.js out (docs/DECISIONS.md, "a minimal MQTT
// client for the box").

import type { Socket } from 'node:net';
import type { Clock } from '../runtime/index.ts';

/** The CONNACK as the transport reads it (MQTT 5 properties only from mqtt.js). */
export interface ConnackLike {
  returnCode?: number;
  sessionPresent?: boolean;
  properties?: { sharedSubscriptionAvailable?: boolean };
}

export interface PublishOptionsLike {
  qos: 0 | 1;
  properties?: { messageExpiryInterval?: number };
}

type Listener<A extends unknown[]> = (...args: A) => void;

export interface MqttClientLike {
  /** CONNACK with return code 0 seen, and the stream not closed since. */
  readonly connected: boolean;
  /** QoS 1 sends waiting for their PUBACK, by packet id. */
  readonly outgoing: Record<number, unknown>;
  on(event: 'connect', l: Listener<[ConnackLike]>): this;
  on(event: 'message', l: Listener<[string, Buffer]>): this;
  on(event: 'error', l: Listener<[Error]>): this;
  on(event: 'close' | 'packetreceive', l: Listener<[]>): this;
  once(event: 'connect', l: Listener<[ConnackLike]>): this;
  once(event: 'error', l: Listener<[Error]>): this;
  once(event: 'close' | 'packetreceive', l: Listener<[]>): this;
  removeListener(event: 'connect', l: Listener<[ConnackLike]>): this;
  removeListener(event: 'message', l: Listener<[string, Buffer]>): this;
  removeListener(event: 'error', l: Listener<[Error]>): this;
  removeListener(event: 'close' | 'packetreceive', l: Listener<[]>): this;
  /** QoS 1: `cb` at the PUBACK, or with an error when the client ends first. */
  publish(topic: string, payload: Buffer, opts: PublishOptionsLike, cb?: (err?: Error) => void): unknown;
  /** `granted[0].qos` is the SUBACK return code (0x80: refused). */
  subscribe(filter: string, opts: { qos: 0 | 1 }, cb: (err: Error | null | undefined, granted?: { qos: number }[]) => void): unknown;
  /** UNSUBSCRIBE (mqtt.js; the head-end's drain). The box's lite client has none: it never leaves a filter. */
  unsubscribe?(filter: string, cb: (err?: Error | null) => void): unknown;
  /** One PINGREQ now (the transport's dead-path probe: the broker answers it). */
  sendPing(): void;
  /** `force`: drop the stream now; else DISCONNECT and end it. `cb` once it is closed. */
  end(force?: boolean, opts?: object, cb?: () => void): unknown;
  /** A client of a broker in the same process opens no stream; this stands in for it (headend/broker/broker-local.ts). */
  readonly local?: StreamLike;
}

/** What the transport reads of a connection's stream: whether a QoS 0 send must wait for its drain. */
export interface StreamLike {
  readonly writableNeedDrain: boolean;
  once(event: 'drain', l: () => void): unknown;
}

/** What one connection's client is told: the CONNECT fields and the bounds. */
export interface ClientSpec {
  clientId: string;
  username: string;
  password: string | undefined;
  protocolVersion: 4 | 5;
  clean: boolean;
  /** MQTT 5 only. */
  sessionExpirySec: number | undefined;
  keepaliveSec: number;
  /** Largest packet accepted from the broker, bytes: larger ones end the connection. */
  maxPacketBytes: number;
  clock: Clock;
}

/** Makes one connection's client; `open` opens its stream (TCP with TCP_NODELAY, or TLS) and is called once, at once. */
export type MqttClientFactory = (open: () => Socket, spec: ClientSpec) => MqttClientLike;
