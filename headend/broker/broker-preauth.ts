// What strangers can make the embedded broker hold before they authenticate (issue 12, finding
// 7): a small limit per connection until its CONNECT is accepted, and global caps on the bytes
// and connections held for unauthenticated clients. Pure accounting: no sockets, no timers.

import { positiveInt, rejectUnknown } from '../../runtime/index.ts';

export interface PreauthLimits {
  /**
   * Bytes one connection may send before its CONNECT is accepted, bytes. Default 4096: a Weft
   * CONNECT is a few hundred bytes (client id and username <= 73, a 43-byte derived password).
   */
  maxConnectBytes: number;
  /** Bytes held for all unauthenticated connections together. Default 1 MiB (256 full CONNECTs). */
  maxBytes: number;
  /** Connections not yet authenticated (TLS handshakes included). Default 1024. */
  maxConnections: number;
}

export const DEFAULT_PREAUTH_LIMITS: Readonly<PreauthLimits> = { maxConnectBytes: 4096, maxBytes: 1 << 20, maxConnections: 1024 };

/** Why an unauthenticated connection was cut. */
export type PreauthRefusal = 'preauthConnections' | 'preauthBytes' | 'connectTooLarge' | 'notConnect';

export function preauthLimits(where: string, given: Partial<PreauthLimits> | undefined): PreauthLimits {
  const o = given ?? {};
  rejectUnknown(where, o, ['maxConnectBytes', 'maxBytes', 'maxConnections']);
  const d = DEFAULT_PREAUTH_LIMITS;
  return {
    maxConnectBytes: positiveInt(where, 'maxConnectBytes', o.maxConnectBytes ?? d.maxConnectBytes, 1 << 20),
    maxBytes: positiveInt(where, 'maxBytes', o.maxBytes ?? d.maxBytes),
    maxConnections: positiveInt(where, 'maxConnections', o.maxConnections ?? d.maxConnections),
  };
}

/** One unauthenticated connection's share of the budget. */
export class PreauthTicket {
  bytes = 0;
  released = false;
  /** Parse state of the first packet's fixed header: type byte seen, length so far. */
  headerBytes = 0;
  declared = 0;
  mul = 1;
  headerDone = false;
}

/**
 * Admits connections up to `maxConnections`, then counts every byte each one sends until it is
 * released (authenticated or closed). The first packet must be a CONNECT whose declared size fits
 * `maxConnectBytes`: that is known from its first five bytes, before its body is buffered.
 */
export class PreauthGuard {
  readonly limits: PreauthLimits;
  #bytes = 0;
  #connections = 0;

  constructor(limits: PreauthLimits = DEFAULT_PREAUTH_LIMITS) {
    this.limits = limits;
  }

  /** Bytes held for unauthenticated connections now. */
  get heldBytes(): number {
    return this.#bytes;
  }

  /** Unauthenticated connections now. */
  get heldConnections(): number {
    return this.#connections;
  }

  /** A ticket for a new connection, or undefined when the cap on unauthenticated ones is reached. */
  admit(): PreauthTicket | undefined {
    if (this.#connections >= this.limits.maxConnections) return undefined;
    this.#connections++;
    return new PreauthTicket();
  }

  /** Account `chunk`, read from the ticket's connection; a refusal means: cut it and release. */
  feed(t: PreauthTicket, chunk: Uint8Array): PreauthRefusal | undefined {
    if (t.released) return undefined;
    const bad = this.#header(t, chunk);
    if (bad !== undefined) return bad;
    if (t.bytes + chunk.length > this.limits.maxConnectBytes) return 'connectTooLarge';
    if (this.#bytes + chunk.length > this.limits.maxBytes) return 'preauthBytes';
    t.bytes += chunk.length;
    this.#bytes += chunk.length;
    return undefined;
  }

  /** The connection authenticated or closed: its bytes and its slot are free again. Idempotent. */
  release(t: PreauthTicket): void {
    if (t.released) return;
    t.released = true;
    this.#bytes -= t.bytes;
    this.#connections--;
  }

  #header(t: PreauthTicket, chunk: Uint8Array): PreauthRefusal | undefined {
    for (let i = 0; i < chunk.length && !t.headerDone; i++) {
      const b = chunk[i] as number;
      if (t.headerBytes++ === 0) {
        if (b !== 0x10) return 'notConnect'; // [MQTT-3.1.0-1] the first packet is CONNECT
        continue;
      }
      t.declared += (b & 0x7f) * t.mul;
      t.mul *= 128;
      if ((b & 0x80) === 0) t.headerDone = true;
      else if (t.headerBytes >= 5) return 'connectTooLarge'; // [MQTT-2.2.3] at most four length bytes
      if (t.declared + t.headerBytes > this.limits.maxConnectBytes) return 'connectTooLarge';
    }
    return undefined;
  }
}
