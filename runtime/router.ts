// Routing by address [c8-c12]: picks the transport for an envelope's destination. A queue id on
// this server goes to the local queues, an IP/UDP pair to UDP, a box to MQTT; a virtual address
// is resolved through the Resolver port first [c12, c31]. Pure policy over injected transports.

import type { Address } from './address.ts';
import { formatAddress } from './address.ts';
import type { Envelope } from './envelope.ts';
import { AddressError, ArgumentError, ChannelClosedError } from './errors.ts';
import { rejectUnknown } from './options.ts';
import { postVia, type SendDone, type Transport } from './transport.ts';

/** Maps a virtual address to where it lives now [c12, c32]. */
export interface Resolver {
  /** The current location (queue and/or udp), or undefined when no record exists. */
  resolve(vaddr: string): Promise<Address | undefined> | Address | undefined;
  /** Forget a cached location (after a delivery failure or a MOVED reply). */
  invalidate?(vaddr: string): void;
}

export interface Route {
  name: string;
  transport: Transport;
  /** Whether this route can deliver to `dst` as it stands (without resolving a vaddr). */
  accepts(dst: Address): boolean;
}

export interface RouterOptions {
  /** Tried in order; the first that accepts the destination carries the envelope. */
  routes: Route[];
  resolver?: Resolver;
}

export interface RouterStats {
  routed: Record<string, number>;
  resolved: number;
  unroutable: number;
}

export class Router {
  #routes: Route[];
  #resolver: Resolver | undefined;
  #closed = false;
  #stats: RouterStats = { routed: {}, resolved: 0, unroutable: 0 };

  constructor(options: RouterOptions) {
    rejectUnknown('Router', options, ['routes', 'resolver']);
    if (!Array.isArray(options.routes) || options.routes.length === 0) throw new ArgumentError('Router: routes must be a non-empty array', 'routes');
    this.#routes = options.routes;
    this.#resolver = options.resolver;
    for (const r of this.#routes) this.#stats.routed[r.name] = 0;
  }

  stats(): RouterStats {
    return { routed: { ...this.#stats.routed }, resolved: this.#stats.resolved, unroutable: this.#stats.unroutable };
  }

  /** Send along the first route that accepts `dst`, resolving a virtual address when none does. */
  async send(env: Envelope): Promise<void> {
    if (this.#closed) throw new ChannelClosedError('router closed');
    const direct = this.#pick(env.dst);
    if (direct !== undefined) return this.#via(direct, env);
    const vaddr = env.dst.vaddr;
    if (vaddr !== undefined && this.#resolver !== undefined) {
      const where = await this.#resolver.resolve(vaddr);
      if (where !== undefined) {
        this.#stats.resolved++;
        // Keep the vaddr: the receiver dispatches on it, and forwards it if the portion moved.
        const dst: Address = { ...where, vaddr };
        const route = this.#pick(dst);
        if (route !== undefined) return this.#via(route, { ...env, dst });
      }
    }
    this.#stats.unroutable++;
    throw new AddressError(`no route to ${formatAddress(env.dst)}`, env.dst);
  }

  /**
   * [issue 19] `send` without a promise where the route is direct (the request path: replies,
   * datagrams to a node, envelopes to a box): `done` is told the outcome. Never throws.
   */
  post(env: Envelope, done: SendDone): void {
    if (this.#closed) return done(new ChannelClosedError('router closed'), env);
    const direct = this.#pick(env.dst);
    if (direct === undefined) {
      this.send(env).then(
        () => done(undefined, env),
        (e: unknown) => done(e instanceof Error ? e : new Error(String(e)), env),
      );
      return;
    }
    this.#stats.routed[direct.name] = (this.#stats.routed[direct.name] ?? 0) + 1;
    postVia(direct.transport, env, done);
  }

  close(): void {
    this.#closed = true;
  }

  #pick(dst: Address): Route | undefined {
    for (const r of this.#routes) if (r.accepts(dst)) return r;
    return undefined;
  }

  #via(route: Route, env: Envelope): Promise<void> {
    this.#stats.routed[route.name] = (this.#stats.routed[route.name] ?? 0) + 1;
    return route.transport.send(env);
  }
}
