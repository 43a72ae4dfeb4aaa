// Errors of the MQTT adapter, as WeftError subclasses with wire codes from runtime/codes.ts.
// A send never hangs: it resolves, or rejects with one of these or a runtime error class.

import { Codes, TimeoutError, WeftError, type WeftErrorOptions } from '../runtime/index.ts';
import type { MqttTransport } from './mqtt.ts';

/** The link to the broker is down (dropped, reconnecting, or never came up). Retryable. */
export class LinkDownError extends WeftError {
  constructor(message: string, options?: WeftErrorOptions) {
    super(Codes.UNAVAILABLE, message, options);
  }
}

/**
 * A dead-path verdict (no CONNACK by the deadline: the box's fallback starts, as for any
 * TimeoutError) whose connection stays open for a late CONNACK (issue 13.4): `transport` comes up
 * on it if the broker answers within `deadPath.lateMs` (its `late` resolves true), with no second
 * CONNECT. Close `transport` when it is no longer wanted.
 */
export class SuspectPathError extends TimeoutError {
  readonly transport: MqttTransport;
  constructor(message: string, afterMs: number, transport: MqttTransport, options?: WeftErrorOptions) {
    super(message, afterMs, options);
    this.transport = transport;
  }
}

/**
 * The broker is alive and busy (issue 19.6): it answered CONNACK "server unavailable" (3.1.1 rc 3;
 * MQTT 5 0x88, 0x89 "server busy", 0x97), or took a plain TCP connection and closed it before any
 * CONNACK (mosquitto past max_connections, a pre-authentication cap; over TLS such a close may be
 * a refused certificate, so only a CONNACK code says busy there). Not a dead path: the dial
 * waits its backoff plus jitter and tries again (mqtt-dial.ts), counted as `busy`.
 */
export class BrokerBusyError extends LinkDownError {}

/** The broker refused: bad credentials, an identity it does not know, or a topic the ACL denies. */
export class BrokerRefusedError extends WeftError {
  /** The MQTT return/reason code the broker sent, when it sent one. */
  readonly reasonCode: number | undefined;
  constructor(message: string, reasonCode?: number, options?: WeftErrorOptions) {
    super(Codes.FORBIDDEN, message, options);
    this.reasonCode = reasonCode;
  }
}

/** A failed connect attempt as a typed error: refusals by CONNACK code, busy (`tcp`: the TCP connection was up, no CONNACK came), else link-down. */
export function connectError(e: Error & { code?: unknown }, where: string, id: string, tcp?: boolean): Error {
  const c = e.code;
  if (typeof c === 'number' && c !== 3 && c !== 0x88 && c !== 0x89 && c !== 0x97) return new BrokerRefusedError(`broker at ${where} refused ${id}: ${e.message}`, c, { cause: e });
  // CONNACK return codes 3 (3.1.1) and 0x88, 0x89, 0x97 (5) mean "not now": retry later.
  return tcp === true || typeof c === 'number' ? new BrokerBusyError(`broker at ${where} is busy: ${e.message}`, { cause: e }) : new LinkDownError(`cannot connect to ${where}: ${e.message}`, { cause: e });
}

/** A publish the broker did not take: an MQTT 5 reason code >= 0x80 is a refusal (e.g. 0x87, ACL). */
export function publishError(e: Error & { code?: unknown }): Error {
  if (typeof e.code === 'number' && e.code >= 0x80) return new BrokerRefusedError(`message refused: ${e.message}`, e.code, { cause: e });
  return new LinkDownError(`publish failed: ${e.message}`, { cause: e });
}

/** The outcome of the one subscription a transport makes: undefined when granted (QoS 0 or 1). */
export function subscribeError(err: (Error & { packet?: { granted?: unknown[] } }) | undefined, granted: number | undefined, filter: string): Error | undefined {
  const refused = err !== undefined ? (err.packet?.granted?.some((g) => typeof g === 'number' && g >= 0x80) ?? false) : granted !== 0 && granted !== 1;
  if (refused) return new BrokerRefusedError(`subscription ${filter} refused`, 0x80, { cause: err });
  if (err !== undefined) return new LinkDownError(`subscribe to ${filter} failed: ${err.message}`, { cause: err });
  return undefined;
}
