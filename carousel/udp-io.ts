// The UDP adapter of the carousel: paces a Broadcaster's datagrams onto a multicast group (or a
// unicast address where multicast is unavailable) and hands received datagrams to a callback.
// The only socket code of the carousel; time comes from an injected clock.

import { type Socket, createSocket } from 'node:dgram';
import { ArgumentError, type Clock, type TimerHandle, isIpLiteral, positiveInt, rejectUnknown, systemClock } from '../runtime/index.ts';
import type { Broadcaster } from './broadcaster.ts';
import { isLoopback, listenShared } from './udp-share.ts';

export interface ServeUdpOptions {
  /** Multicast group (e.g. 239.10.0.1); with `port`. */
  group?: string;
  port?: number;
  /** Unicast destination instead of a group (loopback tests, networks without multicast). */
  unicast?: { host: string; port: number };
  /** Multicast TTL. Default 1: the carousel stays on the local segment unless told otherwise. */
  ttl?: number;
  /** Address of the interface to send multicast on. Default: the system's choice. */
  interface?: string;
  clock?: Clock;
  /** Pacing tick, ms. Default: four datagrams' stream time, within 4-20 ms (2 Mbit/s: 20 ms bursts
   *  of ~4 datagrams, 5 KB). Every tick wakes the sender's loop and, one datagram a wake-up, every
   *  receiver's: a 4 ms tick was 250 wake-ups a second on each side for 190 datagrams. */
  tickMs?: number;
  /** Stop after this many datagrams (tests, one-shot sends). Default: never. */
  limit?: number;
  /** Send failures are reported at most once per this many ms. Default 10000. */
  reportEveryMs?: number;
  /** Gets the one-line report of an interval with failed sends. Default: a line on stderr. */
  onSendErrors?: (line: string) => void;
}

export interface UdpServerStats {
  sent: number;
  sendErrors: number;
  lastSendError: string | undefined;
}

export interface UdpServer {
  readonly sent: number;
  readonly errors: number;
  stats(): UdpServerStats;
  /** Resolves when `limit` datagrams went out (never without a limit). */
  readonly finished: Promise<void>;
  close(): Promise<void>;
}

export interface ListenUdpOptions {
  /** Port to bind; 0 picks a free one. */
  port: number;
  /** Address to bind. Default 127.0.0.1, or 0.0.0.0 when joining a group. */
  host?: string;
  group?: string;
  interface?: string;
  /** A socket error after listening began (the socket is unusable; the caller closes it). */
  onError?: (e: Error) => void;
  /**
   * Share this unicast loopback port with other listeners on the host (udp-share.ts): the first
   * holds it and forwards to the rest, so several boxes tune one unicast carousel. Default false.
   */
  share?: boolean;
}

export interface UdpListener {
  readonly port: number;
  readonly received: number;
  close(): Promise<void>;
}

/** Send `b`'s stream at its bitrate until closed. */
export async function serveUdp(b: Broadcaster, options: ServeUdpOptions): Promise<UdpServer> {
  rejectUnknown('serveUdp', options, ['group', 'port', 'unicast', 'ttl', 'interface', 'clock', 'tickMs', 'limit', 'reportEveryMs', 'onSendErrors']);
  const dest = destination(options);
  const clock = options.clock ?? systemClock;
  const tickMs = options.tickMs ?? Math.min(20, Math.max(4, 4 * b.datagramMs));
  const limit = options.limit ?? Infinity;
  const report = sendErrorReport(`carousel ${dest.host}:${dest.port}`, positiveInt('serveUdp', 'reportEveryMs', options.reportEveryMs ?? 10_000), options.onSendErrors);
  const socket = createSocket({ type: 'udp4' });
  await bind(socket, 0, undefined);
  socket.on('error', (e) => report.failed(e, b)); // never an unhandled 'error' event
  if (options.group !== undefined) {
    socket.setMulticastTTL(options.ttl ?? 1);
    socket.setMulticastLoopback(true);
    if (options.interface !== undefined) socket.setMulticastInterface(options.interface);
  }
  const start = clock.now();
  let sent = 0;
  let closed = false;
  let timer: TimerHandle | undefined;
  let finish: () => void = () => {};
  const finished = new Promise<void>((r) => (finish = r));
  const tick = (): void => {
    if (closed) return;
    const due = Math.min(limit, Math.floor((clock.now() - start) / b.datagramMs) + 1);
    // Catch up after a late tick, but never flood: at most 64 datagrams per tick.
    for (let n = 0; sent < due && n < 64; n++) {
      const d = b.nextDatagram();
      if (d === undefined) break;
      sent++;
      socket.send(d, dest.port, dest.host, (err) => (err ? report.failed(err, b) : report.ok()));
    }
    report.tick(clock.now());
    if (sent >= limit) {
      finish();
      return;
    }
    timer = clock.setTimeout(tick, tickMs);
  };
  tick();
  return {
    get sent() {
      return sent;
    },
    get errors() {
      return report.total;
    },
    stats: () => ({ sent, sendErrors: report.total, lastSendError: report.last }),
    finished,
    close: async () => {
      if (closed) return;
      closed = true;
      if (timer !== undefined) clock.clearTimeout(timer);
      await new Promise<void>((r) => socket.close(() => r()));
    },
  };
}

/** Bind a socket (joining `group` if given) and pass each datagram to `onDatagram`. */
export async function listenUdp(options: ListenUdpOptions, onDatagram: (d: Uint8Array) => void): Promise<UdpListener> {
  rejectUnknown('listenUdp', options, ['port', 'host', 'group', 'interface', 'onError', 'share']);
  if (options.group !== undefined && !isIpLiteral(options.group)) throw new ArgumentError('listenUdp: group must be an IP literal', 'group');
  if (options.share === true) {
    const host = options.host ?? '127.0.0.1';
    if (options.group !== undefined || !isLoopback(host) || options.port === 0) throw new ArgumentError('listenUdp: share needs a loopback host and a fixed port (a group is shared already)', 'share');
    return listenShared({ port: options.port, host, ...(options.onError === undefined ? {} : { onError: options.onError }) }, onDatagram);
  }
  const socket = createSocket({ type: 'udp4', reuseAddr: options.group !== undefined });
  let received = 0;
  socket.on('message', (msg) => {
    received++;
    onDatagram(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength));
  });
  try {
    await bind(socket, options.port, options.host ?? (options.group !== undefined ? '0.0.0.0' : '127.0.0.1'));
    if (options.group !== undefined) socket.addMembership(options.group, options.interface);
  } catch (e) {
    try {
      socket.close(); // a failed join must not keep the port
    } catch {
      /* already closed by the failed bind */
    }
    throw e;
  }
  // After the bind an error event without a listener would end the process: hand it over.
  socket.on('error', (e) => options.onError?.(e));
  return {
    port: socket.address().port,
    get received() {
      return received;
    },
    close: () => new Promise<void>((r) => socket.close(() => r())),
  };
}

// Counts failed sends and reports an interval that had any, in one line, once per interval.
function sendErrorReport(what: string, everyMs: number, out = (line: string): void => void process.stderr.write(`${line}\n`)) {
  let since: number | undefined;
  let failed = 0;
  let done = 0;
  const codes = new Map<string, number>();
  const r = {
    total: 0,
    last: undefined as string | undefined,
    ok: (): void => void done++,
    failed: (e: Error, b: Broadcaster): void => {
      const code = (e as { code?: unknown }).code;
      const key = typeof code === 'string' ? code : e.message.split('\n')[0] ?? 'error';
      r.total++;
      r.last = `${key}: ${e.message.split('\n')[0] ?? ''}`;
      b.noteSendError(r.last);
      failed++;
      done++;
      codes.set(key, (codes.get(key) ?? 0) + 1);
    },
    tick: (now: number): void => {
      since ??= now;
      if (now - since < everyMs) return;
      if (failed > 0) {
        const why = [...codes].map(([k, n]) => (codes.size > 1 ? `${k} x${n}` : k)).join(', ');
        out(`${what}: ${failed} of ${done} sends failed in the last ${Math.round((now - since) / 1000)} s (${why}): check the route to the destination`);
      }
      since = now;
      failed = 0;
      done = 0;
      codes.clear();
    },
  };
  return r;
}

function destination(o: ServeUdpOptions): { host: string; port: number } {
  if ((o.group === undefined) === (o.unicast === undefined)) throw new ArgumentError('serveUdp: give either group + port or unicast', 'group');
  const d = o.unicast ?? { host: o.group as string, port: o.port as number };
  if (!isIpLiteral(d.host)) throw new ArgumentError('serveUdp: destination must be an IP literal', 'group');
  positiveInt('serveUdp', 'port', d.port, 65535);
  return d;
}

function bind(socket: Socket, port: number, host: string | undefined): Promise<void> {
  return new Promise((resolveBind, reject) => {
    socket.once('error', reject);
    socket.bind(port, host, () => {
      socket.off('error', reject);
      resolveBind();
    });
  });
}

/** A UDP port free on loopback now, for a carousel (asked of a UDP socket, since TCP's free ports are another set). */
export async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  const port = s.address().port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
