// Several listeners of one unicast carousel on one host (several `weft box run` processes): the
// first binds the port and becomes the hub; the others bind an ephemeral loopback port and
// subscribe to the hub, which forwards each datagram to them. SO_REUSEPORT would hand each
// unicast datagram to one socket only, so it cannot do this [issue 13]. A follower tries to take
// the port over at each renewal, so the stream survives the hub's exit. Loopback only.

import { type RemoteInfo, type Socket, createSocket } from 'node:dgram';
import { type Clock, type TimerHandle, systemClock } from '../runtime/index.ts';

/** Where `weft headend up` sends its carousel and where boxes listen by default: one place. */
export const DEFAULT_CAROUSEL = { host: '127.0.0.1', port: 5500 } as const;
/** The box's `--carousel` default. */
export const DEFAULT_CAROUSEL_URL = `udp://${DEFAULT_CAROUSEL.host}:${DEFAULT_CAROUSEL.port}`;
/** The head-end's `--carousel` default (host:port). */
export const DEFAULT_CAROUSEL_TARGET = `${DEFAULT_CAROUSEL.host}:${DEFAULT_CAROUSEL.port}`;

// Not a multiple of 188 bytes, so never mistaken for TS packets.
const SUB = Buffer.from('WEFT-CAROUSEL-SUB1');
const BYE = Buffer.from('WEFT-CAROUSEL-BYE1');
const GONE = Buffer.from('WEFT-CAROUSEL-GONE');

export interface ShareOptions {
  port: number;
  /** A loopback address (127.0.0.0/8). */
  host: string;
  clock?: Clock;
  /** A follower renews its subscription (and tries to take the port) this often. Default 1000 ms. */
  renewMs?: number;
  /** Followers one hub forwards to; more are refused (counted). Default 64. */
  maxFollowers?: number;
  onError?: (e: Error) => void;
}

export interface SharedListener {
  readonly port: number;
  readonly received: number;
  /** 'hub' while this process holds the port, else 'follower'. */
  role(): 'hub' | 'follower';
  stats(): { followers: number; forwarded: number; refusedFollowers: number; takeovers: number };
  close(): Promise<void>;
}

export function isLoopback(address: string): boolean {
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address);
}

/** Listen on a shared unicast port: whoever holds it forwards to the rest. */
export async function listenShared(o: ShareOptions, onDatagram: (d: Uint8Array) => void): Promise<SharedListener> {
  const clock = o.clock ?? systemClock;
  const renewMs = o.renewMs ?? 1000;
  const leaseMs = renewMs * 3;
  const maxFollowers = o.maxFollowers ?? 64;
  const followers = new Map<string, { address: string; port: number; until: number }>();
  const stats = { followers: 0, forwarded: 0, refusedFollowers: 0, takeovers: 0 };
  let received = 0;
  let hub: Socket | undefined;
  let follower: Socket | undefined;
  let timer: TimerHandle | undefined;
  let closed = false;
  const deliver = (msg: Buffer): void => {
    received++;
    onDatagram(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength));
  };
  const onHub = (msg: Buffer, from: RemoteInfo): void => {
    const key = `${from.address}:${from.port}`;
    if (isControl(msg)) {
      if (!isLoopback(from.address)) return; // never forward off the host
      if (msg.equals(BYE)) followers.delete(key);
      else if (msg.equals(SUB) && (followers.has(key) || followers.size < maxFollowers)) followers.set(key, { address: from.address, port: from.port, until: clock.now() + leaseMs });
      else if (msg.equals(SUB)) stats.refusedFollowers++;
      stats.followers = followers.size;
      return;
    }
    deliver(msg);
    const now = clock.now();
    for (const [k, f] of followers) {
      if (f.until < now) followers.delete(k);
      else {
        (hub as Socket).send(msg, f.port, f.address, () => undefined);
        stats.forwarded++;
      }
    }
    stats.followers = followers.size;
  };
  // Take the port if it is free; true when this process is the hub now.
  const takeOver = async (): Promise<boolean> => {
    const s = createSocket({ type: 'udp4' });
    try {
      await bind(s, o.port, o.host);
    } catch {
      closeQuietly(s);
      return false;
    }
    if (closed) {
      s.close();
      return false;
    }
    s.on('message', onHub);
    s.on('error', (e) => o.onError?.(e));
    hub = s;
    return true;
  };
  const renew = async (): Promise<void> => {
    timer = undefined;
    if (closed || hub !== undefined) return;
    if (await takeOver()) {
      stats.takeovers++;
      const f = follower;
      follower = undefined;
      f?.close();
      return;
    }
    follower?.send(SUB, o.port, o.host, () => undefined);
    if (!closed) timer = clock.setTimeout(() => void renew(), renewMs);
  };
  if (!(await takeOver())) {
    const f = createSocket({ type: 'udp4' });
    await bind(f, 0, '127.0.0.1');
    f.on('message', (msg, from) => {
      if (from.port !== o.port || from.address !== o.host) return; // only the hub's datagrams
      if (msg.equals(GONE)) {
        if (timer !== undefined) clock.clearTimeout(timer);
        return void renew();
      }
      if (!isControl(msg)) deliver(msg);
    });
    f.on('error', (e) => o.onError?.(e));
    follower = f;
    await renew();
  }
  return {
    get port() {
      return o.port;
    },
    get received() {
      return received;
    },
    role: () => (hub !== undefined ? 'hub' : 'follower'),
    stats: () => ({ ...stats }),
    close: async () => {
      if (closed) return;
      closed = true;
      if (timer !== undefined) clock.clearTimeout(timer);
      const h = hub;
      const f = follower;
      if (h !== undefined) await Promise.all([...followers.values()].map((x) => new Promise<void>((r) => h.send(GONE, x.port, x.address, () => r()))));
      if (f !== undefined) await new Promise<void>((r) => f.send(BYE, o.port, o.host, () => r()));
      await Promise.all([h, f].map((s) => (s === undefined ? undefined : new Promise<void>((r) => s.close(() => r())))));
    },
  };
}

function closeQuietly(s: Socket): void {
  try {
    s.close();
  } catch {
    /* a socket whose bind failed may be closed already */
  }
}

function isControl(msg: Buffer): boolean {
  return msg.length === SUB.length && (msg.equals(SUB) || msg.equals(BYE) || msg.equals(GONE));
}

function bind(socket: Socket, port: number, host: string): Promise<void> {
  return new Promise((resolveBind, reject) => {
    socket.once('error', reject);
    socket.bind({ port, address: host, exclusive: true }, () => {
      socket.off('error', reject);
      resolveBind();
    });
  });
}
