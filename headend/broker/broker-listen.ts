// The embedded broker's listener: TCP or TLS connections reach the broker only through the
// pre-authentication guard (connection and byte caps, connect timeout) and the frame size guard.
// Knows MQTT only as framing; must not import aedes.

import { type Server, type Socket, createServer } from 'node:net';
import { type PeerCertificate, type Server as TlsServer, type TLSSocket, createServer as createTlsServer } from 'node:tls';
import { lateOnce, type Clock, type TimerHandle } from '../../runtime/index.ts';
import { FrameGuard, guardReads } from './broker-guard.ts';
import type { PreauthGuard, PreauthRefusal, PreauthTicket } from './broker-preauth.ts';
import type { ResolvedBrokerTls } from './broker-tls.ts';

export type ListenRefusal = PreauthRefusal | 'connectTimeout' | 'tooLarge' | 'tlsFailed';

export interface ListenOptions {
  host: string;
  port: number;
  tls: ResolvedBrokerTls | undefined;
  preauth: PreauthGuard;
  /** A connection not authenticated within this long is cut. */
  connectTimeoutMs: number;
  maxPacketBytes: number;
  /** [19.6] The kernel's queue of connections not yet accepted (capped by net.core.somaxconn). */
  backlog: number;
  clock: Clock;
  onRefuse(reason: ListenRefusal, detail?: string): void;
  /** A connection for the broker; `peer` is the verified client certificate (mTLS), if any. */
  handle(conn: Socket, peer: PeerCertificate | undefined): void;
}

export interface Listener {
  readonly port: number;
  /** The broker accepted this connection's CONNECT: it no longer counts against the caps. */
  authenticated(conn: unknown): void;
  /** [19.6] How long ago this connection was accepted, ms on the listener's clock (NaN: not one of ours). */
  sojournMs(conn: unknown): number;
  close(): void;
}

interface Held {
  ticket: PreauthTicket;
  timer: TimerHandle;
  /** When the TCP connection was accepted, on the clock. */
  at: number;
  /** When its first bytes were read (the CONNECT's start), on the clock. */
  readAt?: number;
}

/** The TLS server raw connections are handed to once admitted; a presented certificate must verify. */
function tlsEntry(
  o: ListenOptions,
  tls: ResolvedBrokerTls,
  claim: (s: TLSSocket) => Held | undefined,
  start: (conn: Socket, h: Held, peer: PeerCertificate | undefined) => void,
): TlsServer {
  const server = createTlsServer({ ...tls.server });
  server.on('secureConnection', (s: TLSSocket) => {
    const h = claim(s);
    if (h === undefined) return void s.destroy();
    s.on('error', () => {});
    const peer = s.getPeerCertificate(true);
    const presented = Object.keys(peer).length > 0;
    if (presented && !s.authorized) {
      o.onRefuse('tlsFailed', `client certificate: ${String(s.authorizationError)}`);
      return void s.destroy();
    }
    start(s, h, presented ? peer : undefined);
  });
  server.on('tlsClientError', (e: Error) => o.onRefuse('tlsFailed', e.message.slice(0, 120)));
  return server;
}

// [19.6] From the CONNECT's first read, not the accept: a box slow to send it (a busy set-top CPU,
// a TLS handshake on one) is not a queue here; the wait before the read is the loop's delay, which
// the gate adds.
const sojourn = (clock: Clock, h: Held | undefined): number => clock.now() - (h?.readAt ?? h?.at ?? NaN);

const heldOf = (held: WeakMap<object, Held>, conn: unknown): Held | undefined => (typeof conn === 'object' && conn !== null ? held.get(conn) : undefined);

/** Listen on `host:port`; each connection is admitted by the guard before any byte is read. */
export async function listen(o: ListenOptions): Promise<Listener> {
  const sockets = new Set<Socket>();
  const held = new WeakMap<object, Held>();
  // tls.Server hands out the TLS socket with no link to the raw one we admitted: the peer's
  // address and port name the connection between the two (unique while it is open).
  const handshaking = new Map<string, Held>();
  const peerKey = (s: Socket): string => `${s.remoteAddress ?? ''}|${s.remotePort ?? 0}`;
  const release = (h: Held): void => {
    o.preauth.release(h.ticket);
    o.clock.clearTimeout(h.timer);
  };
  const start = (conn: Socket, h: Held, peer: PeerCertificate | undefined): void => {
    held.set(conn, h);
    const frames = new FrameGuard(o.maxPacketBytes);
    guardReads(conn, (chunk) => {
      h.readAt ??= o.clock.now();
      const over = frames.feed(chunk);
      if (over !== undefined) {
        o.onRefuse('tooLarge', `packet of ${over} bytes`);
        return false;
      }
      const refusal = o.preauth.feed(h.ticket, chunk);
      if (refusal !== undefined) o.onRefuse(refusal, `${h.ticket.bytes + chunk.length} bytes before CONNECT was accepted`);
      return refusal === undefined;
    });
    o.handle(conn, peer);
  };
  const tlsServer = o.tls === undefined ? undefined : tlsEntry(o, o.tls, (s) => {
    const key = peerKey(s);
    const h = handshaking.get(key);
    handshaking.delete(key);
    return h;
  }, start);

  const server: Server = createServer({ noDelay: true }, (raw) => {
    raw.on('error', () => {});
    const ticket = o.preauth.admit();
    if (ticket === undefined) {
      o.onRefuse('preauthConnections', `${o.preauth.heldConnections} unauthenticated connections held`);
      return void raw.destroy();
    }
    sockets.add(raw);
    const h: Held = { ticket, timer: 0 as TimerHandle, at: o.clock.now() };
    h.timer = lateOnce(o.clock, o.connectTimeoutMs, (t) => (h.timer = t), () => {
      if (h.ticket.released) return;
      o.onRefuse('connectTimeout', `no accepted CONNECT within ${o.connectTimeoutMs} ms`);
      raw.destroy();
    });
    const key = peerKey(raw);
    raw.once('close', () => {
      sockets.delete(raw);
      handshaking.delete(key);
      release(h);
    });
    if (tlsServer === undefined) return start(raw, h, undefined);
    handshaking.set(key, h);
    tlsServer.emit('connection', raw);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: o.port, host: o.host, backlog: o.backlog }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr !== null ? addr.port : 0,
    authenticated(conn) {
      const h = heldOf(held, conn);
      if (h !== undefined) release(h);
    },
    sojournMs: (conn) => sojourn(o.clock, heldOf(held, conn)),
    close() {
      server.close();
      for (const s of sockets) s.destroy();
    },
  };
}
