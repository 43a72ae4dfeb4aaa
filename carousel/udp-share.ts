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
  const l = new SharedPort(o, onDatagram);
  await l.start();
  return l;
}

interface Follower {
  address: string;
  port: number;
  until: number;
}

class SharedPort implements SharedListener {
  #o: ShareOptions;
  #clock: Clock;
  #renewMs: number;
  #maxFollowers: number;
  #onDatagram: (d: Uint8Array) => void;
  #followers = new Map<string, Follower>();
  #stats = { followers: 0, forwarded: 0, refusedFollowers: 0, takeovers: 0 };
  #received = 0;
  #hub: Socket | undefined;
  #follower: Socket | undefined;
  #timer: TimerHandle | undefined;
  #closed = false;

  constructor(o: ShareOptions, onDatagram: (d: Uint8Array) => void) {
    this.#o = o;
    this.#clock = o.clock ?? systemClock;
    this.#renewMs = o.renewMs ?? 1000;
    this.#maxFollowers = o.maxFollowers ?? 64;
    this.#onDatagram = onDatagram;
  }

  get port(): number {
    return this.#o.port;
  }

  get received(): number {
    return this.#received;
  }

  role(): 'hub' | 'follower' {
    return this.#hub !== undefined ? 'hub' : 'follower';
  }

  stats(): { followers: number; forwarded: number; refusedFollowers: number; takeovers: number } {
    return { ...this.#stats };
  }

  async start(): Promise<void> {
    if (await this.#takeOver()) return;
    const f = createSocket({ type: 'udp4' });
    await bind(f, 0, '127.0.0.1');
    f.on('message', (msg, from) => this.#onFollower(msg, from));
    f.on('error', (e) => this.#o.onError?.(e));
    this.#follower = f;
    await this.#renew();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    const h = this.#hub;
    const f = this.#follower;
    // Followers race for the port at once instead of at their next renewal.
    if (h !== undefined) await Promise.all([...this.#followers.values()].map((x) => new Promise<void>((r) => h.send(GONE, x.port, x.address, () => r()))));
    if (f !== undefined) await new Promise<void>((r) => f.send(BYE, this.#o.port, this.#o.host, () => r()));
    await Promise.all([h, f].map((s) => (s === undefined ? undefined : new Promise<void>((r) => s.close(() => r())))));
  }

  #deliver(msg: Buffer): void {
    this.#received++;
    this.#onDatagram(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength));
  }

  #onHub(msg: Buffer, from: RemoteInfo): void {
    if (isControl(msg)) return this.#control(msg, from);
    this.#deliver(msg);
    const now = this.#clock.now();
    for (const [k, f] of this.#followers) {
      if (f.until < now) {
        this.#followers.delete(k);
        continue;
      }
      (this.#hub as Socket).send(msg, f.port, f.address, () => undefined);
      this.#stats.forwarded++;
    }
    this.#stats.followers = this.#followers.size;
  }

  #control(msg: Buffer, from: RemoteInfo): void {
    if (!isLoopback(from.address)) return; // never forward off the host
    const key = `${from.address}:${from.port}`;
    if (msg.equals(BYE)) this.#followers.delete(key);
    else if (!msg.equals(SUB)) return;
    else if (this.#followers.has(key) || this.#followers.size < this.#maxFollowers) {
      this.#followers.set(key, { address: from.address, port: from.port, until: this.#clock.now() + this.#renewMs * 3 });
    } else this.#stats.refusedFollowers++;
    this.#stats.followers = this.#followers.size;
  }

  #onFollower(msg: Buffer, from: RemoteInfo): void {
    if (from.port !== this.#o.port || from.address !== this.#o.host) return; // only the hub's datagrams
    if (msg.equals(GONE)) {
      if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
      void this.#renew();
      return;
    }
    if (!isControl(msg)) this.#deliver(msg);
  }

  // Take the port if it is free; true when this process is the hub now.
  async #takeOver(): Promise<boolean> {
    const s = createSocket({ type: 'udp4' });
    try {
      await bind(s, this.#o.port, this.#o.host);
    } catch {
      closeQuietly(s);
      return false;
    }
    if (this.#closed) {
      closeQuietly(s);
      return false;
    }
    s.on('message', (msg, from) => this.#onHub(msg, from));
    s.on('error', (e) => this.#o.onError?.(e));
    this.#hub = s;
    return true;
  }

  // A follower's renewal: take the port if the hub left, else renew the subscription.
  async #renew(): Promise<void> {
    this.#timer = undefined;
    if (this.#closed || this.#hub !== undefined) return;
    if (await this.#takeOver()) {
      this.#stats.takeovers++;
      const f = this.#follower;
      this.#follower = undefined;
      if (f !== undefined) closeQuietly(f);
      return;
    }
    this.#follower?.send(SUB, this.#o.port, this.#o.host, () => undefined);
    if (!this.#closed) this.#timer = this.#clock.setTimeout(() => void this.#renew(), this.#renewMs);
  }
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
