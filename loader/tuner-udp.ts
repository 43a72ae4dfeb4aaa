// The Tuner port over UDP (carousel/udp-io.ts): join the carousel's multicast group, or listen
// on a unicast port where multicast is unavailable, and hand every datagram to the acquirer.
// A tune that fails (no interface can join the group, a socket error) is retried with capped,
// jittered backoff, counted, and reported as a one-line TunerError; it never throws at the box.

import { type ListenUdpOptions, type UdpListener, isLoopback, listenUdp } from '../carousel/index.ts';
import { ArgumentError, type Clock, type TimerHandle, rejectUnknown, systemClock } from '../runtime/index.ts';
import { type BackoffPolicy, backoffPolicy, reconnectDelay } from '../transport/reconnect.ts';
import { TunerError } from './errors.ts';
import type { Tuned, Tuner, TunerStatus } from './ports.ts';

export interface UdpTunerOptions {
  clock?: Clock;
  random?: () => number;
  /** Retry delays (`baseMs` doubling to `capMs`, `jitter`). Default 1 s doubling to 30 s, jitter 0.5. */
  backoff?: Partial<BackoffPolicy>;
  /** The listener (tests inject failures). Default carousel/udp-io.ts `listenUdp`. */
  listen?: (o: ListenUdpOptions, onDatagram: (d: Uint8Array) => void) => Promise<UdpListener>;
  /** Local interface address to join a multicast carousel on. Default: the system's choice. */
  interface?: string;
}

export interface TunerStats {
  attempts: number;
  failures: number;
  tuned: number;
  /** Socket errors after a tune succeeded (each one closes the socket and tunes again). */
  socketErrors: number;
  lastError: string | undefined;
}

export interface UdpTuner extends Tuner {
  stats(): TunerStats;
}

const TUNER_BACKOFF: Partial<BackoffPolicy> = { baseMs: 1000, factor: 2, capMs: 30_000, jitter: 0.5 };

/** `udp://239.10.0.1:5500` (a multicast group) or `udp://127.0.0.1:5500` (listen on that address;
 *  on loopback the port is shared with the other boxes of this host). */
export function udpTuner(url: string, options: UdpTunerOptions = {}): UdpTuner {
  rejectUnknown('udpTuner', options, ['clock', 'random', 'backoff', 'listen', 'interface']);
  const u = parseUdpUrl(url);
  const first = Number(u.host.split('.')[0]);
  const multicast = first >= 224 && first <= 239;
  // A unicast carousel on loopback is shared by every box process on the host (udp-share.ts).
  const spec: ListenUdpOptions = multicast ? { port: u.port, group: u.host, ...(options.interface === undefined ? {} : { interface: options.interface }) } : { port: u.port, host: u.host, ...(isLoopback(u.host) ? { share: true } : {}) };
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const policy = backoffPolicy('udpTuner', { ...TUNER_BACKOFF, ...options.backoff });
  const listen = options.listen ?? listenUdp;
  const stats: TunerStats = { attempts: 0, failures: 0, tuned: 0, socketErrors: 0, lastError: undefined };
  const tune = async (onData: (d: Uint8Array) => void, onStatus: (s: TunerStatus) => void = () => {}): Promise<Tuned> => {
    let closed = false;
    let failed = 0;
    let timer: TimerHandle | undefined;
    let listener: UdpListener | undefined;
    const fail = (e: unknown, attempt: number): void => {
      const error = tunerError(url, e);
      stats.failures++;
      stats.lastError = error.message;
      if (closed) return;
      const retryInMs = reconnectDelay(++failed, policy, random);
      timer = clock.setTimeout(() => void attempt_(), retryInMs);
      onStatus({ kind: 'tune-failed', attempt, error, retryInMs });
    };
    const attempt_ = async (): Promise<void> => {
      timer = undefined;
      const n = ++stats.attempts;
      let l: UdpListener;
      try {
        l = await listen({ ...spec, onError: (e) => void lost(e, l) }, onData);
      } catch (e) {
        return fail(e, n);
      }
      if (closed) return void l.close().catch(() => undefined);
      listener = l;
      failed = 0;
      stats.tuned++;
      onStatus({ kind: 'tuned', attempt: n });
    };
    // A socket that fails after tuning is closed and tuned again, on the same backoff.
    const lost = async (e: Error, l: UdpListener | undefined): Promise<void> => {
      stats.socketErrors++;
      if (l !== listener || closed) return;
      listener = undefined;
      await l?.close().catch(() => undefined);
      fail(e, stats.attempts);
    };
    await attempt_();
    return {
      close: async () => {
        closed = true;
        if (timer !== undefined) clock.clearTimeout(timer);
        timer = undefined;
        const l = listener;
        listener = undefined;
        await l?.close();
      },
    };
  };
  return { tune, stats: () => ({ ...stats }) };
}

const HINTS: Record<string, string> = {
  ENODEV: 'no interface can join this multicast group; add a multicast route (ip route add 224.0.0.0/4 dev <if>) or tune a unicast carousel',
  EADDRNOTAVAIL: 'the address or interface is not on this host; check the carousel URL',
  EADDRINUSE: 'another process holds this port; use the shared default carousel or another port',
  EACCES: 'not allowed to bind this port; use a port above 1023',
  ENETUNREACH: 'no route to this network; check the interface and routes',
};

function tunerError(url: string, e: unknown): TunerError {
  const x = e as { code?: unknown; syscall?: unknown; message?: unknown };
  const code = typeof x.code === 'string' ? x.code : 'unknown';
  const syscall = typeof x.syscall === 'string' ? x.syscall : undefined;
  const hint = HINTS[code] ?? String(x.message ?? e).split('\n')[0] ?? 'failed';
  return new TunerError(url, code, syscall, hint, { cause: e });
}

export function parseUdpUrl(url: string): { host: string; port: number } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ArgumentError(`bad carousel url "${url}" (udp://host:port)`, 'carousel');
  }
  const port = Number(u.port);
  if (u.protocol !== 'udp:' || u.hostname === '' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ArgumentError(`bad carousel url "${url}" (udp://host:port)`, 'carousel');
  }
  return { host: u.hostname, port };
}
