// An in-memory network of UDP-addressed transports for deterministic head-end tests: each
// endpoint has a {host, port} pair like a UDP socket, and an envelope goes to the endpoint its
// `dst.udp` names, on a later microtask (never inside send). A test can cut an endpoint off (a
// dead node: nothing in, nothing out) and count what was sent. No sockets, timers or threads.

import { AddressError, ChannelClosedError, type Envelope, type EnvelopeHandler, type Transport, type UdpAddress } from '../../runtime/index.ts';

export class MemoryNet {
  readonly #ends = new Map<string, MemoryUdp>();
  readonly #cut = new Set<string>();
  #nextPort = 40_000;
  /** Envelopes sent, by sender `host:port` and op (heartbeats are `timing.beat`). */
  readonly sent = new Map<string, number>();

  /** How many envelopes with `op` this endpoint has sent. */
  sentBy(udp: UdpAddress, op: string): number {
    return this.sent.get(`${key(udp)} ${op}`) ?? 0;
  }

  /** A new endpoint on 127.0.0.1 with a fresh port. */
  open(): MemoryUdp {
    const udp = { host: '127.0.0.1', port: this.#nextPort++ };
    const t = new MemoryUdp(this, udp);
    this.#ends.set(key(udp), t);
    return t;
  }

  /** From now on nothing reaches or leaves this endpoint (a node that died without a word). */
  cut(udp: UdpAddress): void {
    this.#cut.add(key(udp));
  }

  /** Undo `cut`: the endpoint is reachable again (a node that was only partitioned, not dead). */
  heal(udp: UdpAddress): void {
    this.#cut.delete(key(udp));
  }

  /** @internal */
  route(from: UdpAddress, env: Envelope): Promise<void> {
    const to = env.dst.udp;
    if (to === undefined) return Promise.reject(new AddressError('memory net: no udp address to send to', env.dst));
    const k = `${key(from)} ${env.op ?? env.kind}`;
    this.sent.set(k, (this.sent.get(k) ?? 0) + 1);
    if (this.#cut.has(key(from)) || this.#cut.has(key(to))) return Promise.resolve();
    const target = this.#ends.get(key(to));
    // Like UDP, an envelope to nobody is lost, not an error.
    if (target !== undefined) queueMicrotask(() => target.receive({ ...env, src: { ...env.src, udp: env.src.udp ?? from } }));
    return Promise.resolve();
  }

  /** @internal */
  remove(udp: UdpAddress): void {
    this.#ends.delete(key(udp));
  }
}

export class MemoryUdp implements Transport {
  readonly kind = 'udp';
  readonly address: { udp: UdpAddress };
  #net: MemoryNet;
  #handler: EnvelopeHandler | undefined;
  #closed = false;
  #stats = { sent: 0, received: 0 };

  constructor(net: MemoryNet, udp: UdpAddress) {
    this.#net = net;
    this.address = { udp };
  }

  get closed(): boolean {
    return this.#closed;
  }

  send(env: Envelope): Promise<void> {
    if (this.#closed) return Promise.reject(new ChannelClosedError('memory udp closed'));
    this.#stats.sent++;
    return this.#net.route(this.address.udp, env);
  }

  onEnvelope(handler: EnvelopeHandler): void {
    this.#handler = handler;
  }

  /** @internal */
  receive(env: Envelope): void {
    if (this.#closed) return;
    this.#stats.received++;
    this.#handler?.(env);
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#net.remove(this.address.udp);
    return Promise.resolve();
  }

  stats(): Readonly<Record<string, number>> {
    return { ...this.#stats };
  }
}

function key(u: UdpAddress): string {
  return `${u.host}:${u.port}`;
}
