// The box's message switch [c18, c39, c40]: routes what modules send to a module running here,
// to the head-end over the return channel (the proxy of a module placed there), or holds it while
// a module is downloaded or moved; routes what arrives to the loader or to the module addressed.
// It never runs guest code synchronously: every entry goes through the CPU port.

import { type Address, Channel, type Envelope, type Transport, VADDR_SCHEME, formatVaddr, parseVaddr } from '../runtime/index.ts';
import type { MessageLink, ModuleSandbox } from '../sandbox/index.ts';
import { UnreachableError, notHere } from './errors.ts';
import { NoSessionRetries } from './session-liveness.ts';
import { SessionWait } from './session-wait.ts';
import { type Held, MAX_HELD, enqueueHeld, holdRequest } from './switch-held.ts';
import { RequestLedger, type Tracked } from './request-ledger.ts';
import { SwitchLinger, settle } from './switch-linger.ts';
import type { SwitchOptions, SwitchStats } from './switch-options.ts';

/** The session id of module addresses inside the box before (and besides) the real session. */
export const LOCAL_SESSION = 'local';

/** Where a module name leads: here, held (moving or loading here), or the head-end (the default once a session exists). */
type Route = { kind: 'local'; module: ModuleSandbox } | { kind: 'held'; queue: Held[] } | { kind: 'remote' };

export type { SwitchOptions, SwitchStats } from './switch-options.ts';

export class BoxSwitch {
  readonly app: string;
  readonly loaderAddress: Address;
  #o: SwitchOptions;
  #routes = new Map<string, Route>();
  #session: string | undefined;
  #transport: Transport | undefined;
  #loader: Channel | undefined;
  #channels = new Map<string, Channel>();
  #stats = { local: 0, remote: 0, held: 0, unreachable: 0, forwarded: 0, unroutable: 0 };
  #retries: NoSessionRetries;
  #wait: SessionWait;
  #ledger: RequestLedger;
  #linger: SwitchLinger;
  /** Requests of this version not yet ended, each with its place (a switch waits for those sent). */
  #inflight = new Map<Promise<unknown>, Tracked>();

  constructor(options: SwitchOptions) {
    this.#o = options;
    this.app = options.app;
    this.loaderAddress = { vaddr: `${VADDR_SCHEME}box/${options.boxId}/loader` };
    this.#retries = new NoSessionRetries(options.clock, MAX_HELD);
    this.#wait = new SessionWait(options.clock);
    this.#ledger = options.ledger ?? new RequestLedger(options.clock);
    this.#linger = options.linger ?? new SwitchLinger(options.clock);
  }

  get session(): string | undefined {
    return this.#session;
  }

  /** The loader's endpoint channel on the current return channel (undefined without one). */
  get loader(): Channel | undefined {
    return this.#loader;
  }

  stats(): SwitchStats {
    const r = this.#retries.stats; // retried, noSessionFailed, failed
    return { ...this.#stats, ...r, failed: { ...r.failed }, sessionWait: { ...this.#wait.stats }, requests: this.#ledger.counts(), overdueAt: this.#ledger.overdueByStage() };
  }

  /** A return channel is established: incoming envelopes come here. */
  attach(transport: Transport): void {
    if (this.#transport === transport) return;
    this.#dropChannels();
    this.#transport = transport;
    this.#loader = this.#channel(this.loaderAddress, {
      onRequest: (env) => (this.#o.onLoaderRequest ?? notHere)(env),
      onMessage: (env) => this.#o.onLoaderMessage?.(env),
    }, '');
    transport.onEnvelope((env) => this.receive(env));
  }

  /** The return channel is gone for good (closed): remote calls fail at once. */
  detach(): void {
    this.#dropChannels();
    this.#transport = undefined;
  }

  /** Session id shared with the server portion [c26], or undefined when there is none. */
  setSession(session: string | undefined): void {
    if (session === this.#session) return;
    this.#closeModuleChannels();
    this.#session = session;
    if (session !== undefined) this.#retries.opened(session);
  }

  /** The session is set up (placements applied): requests that waited for it go now. */
  sessionReady(): void {
    if (this.#session !== undefined) this.#wait.opened();
  }

  /** No session is coming now (degraded, stopped): requests waiting for one fail at once. */
  abandonWaiting(why: string): void {
    this.#wait.abandon(why);
  }

  /** The address a module has on the network now: its session vaddr, or its box-local one. */
  addressOf(module: string): Address {
    return { vaddr: formatVaddr({ app: this.app, session: this.#session ?? LOCAL_SESSION, module }) };
  }

  /** What a module's weft.send / weft.request use. */
  link(from: string): MessageLink {
    return {
      send: (dst, body) => this.#send(from, dst, body),
      request: (dst, body, options) => this.#request(from, dst, body, options?.timeoutMs),
    };
  }

  /** Ask a module something as the loader (tests, the emulator's screen, diagnostics). */
  ask(module: string, body: unknown, timeoutMs?: number): Promise<unknown> {
    return this.#request(undefined, this.addressOf(module), body, timeoutMs);
  }

  // ---- routes ---------------------------------------------------------------------------

  /** The module runs here: it replaces the proxy that forwarded its messages [c18]. */
  setLocal(name: string, module: ModuleSandbox): void {
    const before = this.#routes.get(name);
    this.#routes.set(name, { kind: 'local', module });
    if (before?.kind === 'held') this.#release(name, before.queue);
  }

  /** The module runs on the head-end: its messages go over the return channel. */
  setRemote(name: string): void {
    const before = this.#routes.get(name);
    this.#routes.set(name, { kind: 'remote' });
    if (before?.kind === 'held') this.#release(name, before.queue);
  }

  /** The module is being downloaded or moved: its messages wait (bounded) until it lands. */
  hold(name: string): void {
    if (this.#routes.get(name)?.kind !== 'held') this.#routes.set(name, { kind: 'held', queue: [] });
  }

  /** Forget a route (the module stopped); with no session its messages are then unreachable. */
  remove(name: string): void {
    const before = this.#routes.get(name);
    this.#routes.delete(name);
    if (before?.kind === 'held') this.#release(name, before.queue);
  }

  where(name: string): 'local' | 'held' | 'remote' | 'absent' {
    return this.#routeOf(name)?.kind ?? 'absent';
  }

  // ---- incoming -------------------------------------------------------------------------

  /** One envelope from the return channel. Never throws. */
  receive(env: Envelope): void {
    this.#linger.receive(env); // a reply to an earlier version's request
    const v = env.dst.vaddr;
    if (v === this.loaderAddress.vaddr) return this.#loader?.receive(env);
    const name = this.#moduleOf(v, true);
    if (name === undefined) {
      this.#stats.unroutable++;
      return;
    }
    this.#moduleChannel(name)?.receive(env);
  }

  // ---- internals ------------------------------------------------------------------------

  #send(from: string | undefined, dst: Address, body: unknown): Promise<void> {
    const name = this.#moduleOf(dst.vaddr, false);
    if (name !== undefined) {
      const route = this.#routeOf(name);
      if (route?.kind === 'local') return this.#deliver(route.module, body, this.#from(from));
      if (route?.kind === 'held') return enqueueHeld(name, route.queue, { kind: 'msg', body, sender: from, from: this.#from(from) }, this.#stats);
      if (route === undefined) return Promise.reject(this.#unreachable(name));
    }
    try {
      const ch = this.#remote(from, name ?? dst.vaddr ?? 'address');
      this.#stats.remote++;
      return ch.send(name === undefined ? dst : this.#sessionAddress(name), body);
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }

  // Every request that does not run here at once is followed to its end by the ledger [13.8], from
  // the module's call: one that waits for the session and expires is counted too.
  #request(from: string | undefined, dst: Address, body: unknown, timeoutMs: number | undefined): Promise<unknown> {
    const name = this.#moduleOf(dst.vaddr, false);
    const ms = timeoutMs ?? this.#o.timeoutMs;
    // Before the session is up, a module's request for the head-end waits for it (its deadline).
    if (this.#session === undefined && from !== undefined && this.#o.expecting?.() === true) {
      const r = name === undefined ? undefined : this.#routes.get(name);
      if (r === undefined || r.kind === 'remote') return this.#track(ms, (t) => ((t.stage = 'awaiting-session'), this.#wait.wait(name ?? dst.vaddr ?? 'address', ms, () => this.#again(from, dst, name, body, t))));
    }
    const route = name === undefined ? undefined : this.#routeOf(name);
    if (route?.kind === 'local') return this.#serve(route.module, body, this.#from(from));
    if (name !== undefined && route === undefined) return Promise.reject(this.#unreachable(name));
    return this.#track(ms, (t) => this.#onward(from, dst, name, route, body, t));
  }

  #track(ms: number, run: (t: Tracked) => Promise<unknown>): Promise<unknown> {
    let t: Tracked | undefined;
    const p = this.#ledger.track(ms, (x) => run((t = x)));
    const end = (): void => void this.#inflight.delete(p);
    this.#inflight.set(p, t as Tracked);
    p.then(end, end);
    return p;
  }

  /** [issue 15.6] Before a version switch: resolves once no request this version sent is left (each
   *  answered to its caller, which still runs, or ended by its own deadline), at most `ms`; closing
   *  the session first failed them CLOSED. Requests waiting for a session do not hold it. */
  settled(ms?: number): Promise<void> {
    return settle(this.#inflight, this.#o.clock, ms);
  }

  /** [issue 15] The next version takes over once this one settled: what it still has on the wire
   *  keeps its channel, for the reply (switch-linger.ts); closing them failed it CLOSED. */
  async retire(): Promise<void> {
    await this.settled();
    this.#linger.keep([...this.#channels.values(), ...(this.#loader === undefined ? [] : [this.#loader])]);
    this.#channels.clear();
    this.#loader = undefined;
  }

  // A request that goes again [13.1] goes to the module it named, wherever that runs now.
  #again(from: string | undefined, dst: Address, name: string | undefined, body: unknown, t: Tracked): Promise<unknown> {
    const route = name === undefined ? undefined : this.#routeOf(name);
    if (route?.kind === 'local') return this.#serve(route.module, body, this.#from(from));
    if (name !== undefined && route === undefined) return Promise.reject(this.#unreachable(name));
    return this.#onward(from, dst, name, route, body, t);
  }

  // Held until its module lands, or across the return channel; a retry gets only what is left of
  // the request's own deadline, so the caller hears by then [13.8].
  #onward(from: string | undefined, dst: Address, name: string | undefined, route: Route | undefined, body: unknown, t: Tracked): Promise<unknown> {
    t.stage = route?.kind === 'held' ? 'held' : 'sent';
    if (name !== undefined && route?.kind === 'held') return this.#held(name, route, body, from, this.#from(from), t.remaining());
    let ch: Channel;
    try {
      ch = this.#remote(from, name ?? dst.vaddr ?? 'address');
    } catch (e) {
      return Promise.reject(e as Error);
    }
    this.#stats.remote++;
    const sentOn = this.#session;
    const p = ch.request(name === undefined ? dst : this.#sessionAddress(name), body, { timeoutMs: Math.max(1, t.remaining()) });
    if (name === undefined || t.wentAgain) return p.catch((e: unknown) => this.#retries.fail(e));
    return p.catch((e: unknown) =>
      this.#retries.retry(e, sentOn, () => {
        t.retried();
        return this.#again(from, dst, name, body, t);
      }, t.remaining(), { now: this.#session, stage: (stage) => (t.stage = stage) }),
    );
  }

  #serve(module: ModuleSandbox, body: unknown, from: Address): Promise<unknown> {
    this.#stats.local++;
    return this.#o.cpu.run(() => {
      const p = module.serve(body, from);
      this.#o.afterEntry?.(module.name);
      return p;
    });
  }

  #deliver(module: ModuleSandbox, body: unknown, from: Address): Promise<void> {
    this.#stats.local++;
    return this.#o.cpu.run(() => {
      const r = module.deliver(body, from);
      this.#o.afterEntry?.(module.name);
      if (!r.ok) throw r.error;
    });
  }

  #held(name: string, route: Route & { kind: 'held' }, body: unknown, sender: string | undefined, from: Address, timeoutMs: number | undefined): Promise<unknown> {
    return holdRequest(this.#o.clock, this.#stats, name, route.queue, body, sender, from, timeoutMs ?? this.#o.timeoutMs);
  }

  // A held module landed (here or on the head-end), or was dropped: what waited goes on, in order.
  #release(name: string, queue: Held[]): void {
    const route = this.#routeOf(name);
    for (const item of queue) {
      if (item.kind === 'req') this.#o.clock.clearTimeout(item.timer as never);
      let p: Promise<unknown>;
      if (route?.kind === 'local') {
        p = item.kind === 'req' ? this.#serve(route.module, item.body, item.from) : this.#deliver(route.module, item.body, item.from);
      } else if (route === undefined) {
        p = Promise.reject(this.#unreachable(name));
      } else {
        try {
          const ch = this.#remote(item.sender, name);
          // What is left of the request's own deadline, not a fresh one: its caller hears by then [13.8].
          p = item.kind === 'req' ? ch.request(this.#sessionAddress(name), item.body, { timeoutMs: Math.max(1, item.deadline - this.#o.clock.now()) }) : ch.send(this.#sessionAddress(name), item.body);
        } catch (e) {
          p = Promise.reject(e as Error);
        }
      }
      if (item.kind === 'req') p.then(item.resolve, item.reject);
      else p.catch(() => undefined);
    }
  }

  // Without a session nothing is remote: a module not on the box is unreachable (degraded mode).
  #routeOf(name: string): Route | undefined {
    const r = this.#routes.get(name);
    if (r !== undefined && r.kind !== 'remote') return r;
    return this.#session === undefined ? undefined : { kind: 'remote' };
  }

  #unreachable(name: string): UnreachableError {
    this.#stats.unreachable++;
    return new UnreachableError(name, `${name} is not on this box and there is no session with the head-end (degraded)`);
  }

  // The module a vaddr names when it is this app's, in the box-local session or the real one.
  #moduleOf(v: string | undefined, incoming: boolean): string | undefined {
    if (v === undefined) return undefined;
    try {
      const a = parseVaddr(v);
      if (a.app !== this.app) return undefined;
      if (a.session === this.#session || (!incoming && a.session === LOCAL_SESSION)) return a.module;
    } catch {
      /* not a vaddr: not ours */
    }
    return undefined;
  }

  #from(from: string | undefined): Address {
    return from === undefined ? this.loaderAddress : this.addressOf(from);
  }

  #sessionAddress(name: string): Address {
    return { vaddr: formatVaddr({ app: this.app, session: this.#session as string, module: name }) };
  }

  // The channel a remote send or request leaves by: the sending module's, or the loader's.
  #remote(from: string | undefined, target: string): Channel {
    const ch = this.#transport === undefined ? undefined : from === undefined || this.#session === undefined ? this.#loader : this.#moduleChannel(from);
    if (ch === undefined || this.#transport === undefined) {
      this.#stats.unreachable++;
      throw new UnreachableError(target, `${target}: not here, no two-way channel`);
    }
    return ch;
  }

  // One Channel per module for traffic across the return channel, its source the session vaddr.
  #moduleChannel(name: string): Channel | undefined {
    if (this.#transport === undefined || this.#session === undefined) return undefined;
    let ch = this.#channels.get(name);
    if (ch !== undefined) return ch;
    ch = this.#channel(this.#sessionAddress(name), {
      onRequest: (env) => this.#incomingRequest(name, env),
      onMessage: (env) => this.#incomingMessage(name, env),
    }, name, true);
    this.#channels.set(name, ch);
    return ch;
  }

  #incomingRequest(name: string, env: Envelope): Promise<unknown> {
    const route = this.#routes.get(name);
    if (route?.kind === 'local') return this.#serve(route.module, env.body, env.src);
    if (route?.kind === 'held') return this.#held(name, route, env.body, undefined, env.src, undefined);
    // [c31] it moved to the head-end while this was in flight: forward, do not lose it.
    this.#stats.forwarded++;
    const loader = this.#loader;
    if (loader === undefined) return Promise.reject(new UnreachableError(name, `${name} is not on this box`));
    return loader.request(this.#sessionAddress(name), env.body, env.op === undefined ? {} : { op: env.op });
  }

  #incomingMessage(name: string, env: Envelope): void {
    const route = this.#routes.get(name);
    if (route?.kind === 'local') {
      this.#deliver(route.module, env.body, env.src).catch(() => undefined);
    } else if (route?.kind === 'held') {
      enqueueHeld(name, route.queue, { kind: 'msg', body: env.body, sender: undefined, from: env.src }, this.#stats).catch(() => undefined);
    } else {
      this.#stats.forwarded++;
      this.#loader?.send(this.#sessionAddress(name), env.body, env.op === undefined ? {} : { op: env.op }).catch(() => undefined);
    }
  }

  // Module channels start traces when the box samples them; ids go on across versions (switch-linger.ts).
  #channel(self: Address, handlers: { onRequest: (env: Envelope) => unknown; onMessage: (env: Envelope) => void }, key: string, traced = false): Channel {
    const t = this.#transport as Transport;
    const tp = traced ? this.#o.traceparent : undefined;
    const ids = this.#linger.ids;
    return new Channel({ self, firstId: ids.get(key), write: (env) => (ids.set(key, env.id + 1), t.send(env)), clock: this.#o.clock, timeoutMs: this.#o.timeoutMs, ...handlers, traceparent: tp }); // (no options are exact: undefined is absent)
  }

  #closeModuleChannels(): void {
    for (const ch of this.#channels.values()) ch.close();
    this.#channels.clear();
  }

  #dropChannels(): void {
    this.#closeModuleChannels();
    this.#loader?.close();
    this.#loader = undefined;
  }
}
