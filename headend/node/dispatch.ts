// Where an envelope goes on a node [c8-c12, c31]: a portion instance by queue id, a main-thread
// endpoint by virtual address, a hosted module by virtual address (least-loaded instance), else
// onward through the router (UDP to the node the registry names, MQTT to a box). Envelopes for an
// instance being moved wait in the held queue here. Starts and stops nothing; sees its node only
// through DispatchHost.

import { Codes, Router, VADDR_SCHEME, parseVaddr, type Address, type Envelope, type Transport, type UdpAddress } from '../../runtime/index.ts';
import { BOX_APP, HEADEND_APP } from '../../transport/mqtt-topics.ts';
import type { NodeCounters } from '../node-options.ts';
import type { PortionManager } from '../portions/portions.ts';
import type { Registry } from '../registry/registry.ts';
import type { RegistryResolver } from '../registry/resolver.ts';
import type { BoxLocations } from './box-locations.ts';
import { DispatchTable, withoutLocal } from './table.ts';

const BOX_PREFIX = `${VADDR_SCHEME}${BOX_APP}/`;
/** Endpoints any node may serve (`weft://headend/*` and below): with broadcast ingress only the leader does. */
const SHARED_HEADEND_PREFIX = `${VADDR_SCHEME}${HEADEND_APP}/*/`;

/** What dispatch needs of its node. */
export interface DispatchHost {
  /** This node's id: a session whose record names it, but that it cannot route, was lost here (a restart). */
  readonly id: string;
  readonly udpAddress: UdpAddress;
  readonly resolver: RegistryResolver;
  readonly registry: Pick<Registry, 'getSession'>;
  readonly portions: Pick<PortionManager, 'has' | 'deliver' | 'pick' | 'spec'>;
  /** App-wide modules (issue 16): the writer's front (duplicates, forwarding) and a session's view of them. */
  readonly appWide?: { front(iid: string, module: string, env: Envelope): boolean; sharedAddress(vaddr: string): string | Promise<string | undefined> | undefined };
  /** [c30] the node a share of a spread portion's requests goes to, or undefined for here. */
  replicaRoute(env: Envelope, vaddr: string): UdpAddress | undefined;
  /** With broadcast ingress: does this node serve the shared `weft://headend/*` endpoints? */
  leader(): boolean;
  /** Where this node's error replies come from. */
  controlVaddr(): string;
  /** Is `udp` a registered node's (this one included)? Only those are sent requests and messages. */
  isNodeUdp(udp: UdpAddress): Promise<boolean>;
  /** A box's client-started to `vaddr`, its session's server portion (the session manager stops waiting for it). */
  clientStarted?(vaddr: string): void;
  /** An envelope could not be delivered (the tracer records a sampled one's failure). */
  onUndeliverable?(env: Envelope, why: string): void;
  /**
   * A start of `vaddr` in flight here (settles when it ends, either way), else undefined. The
   * registry names this node from the start's claim on, before the worker runs the instance.
   */
  starting?(vaddr: string): Promise<unknown> | undefined;
}

/** Kinds that answer an envelope that came in: they go back to its source, wherever that is. */
const ANSWERS: ReadonlySet<Envelope['kind']> = new Set(['rep', 'err', 'ack']);

/** What dispatch refused to do (docs/SECURITY.md). */
export interface DispatchRefusals {
  /** Requests and messages not sent to a UDP address that is no registered node (no relaying). */
  relay: number;
  /** Envelopes whose queue id names an instance that does not serve their virtual address. */
  queueMismatch: number;
  /** Envelopes refused because the held queue of a moving instance was full (UNAVAILABLE: retry). */
  heldFull: number;
}


/** Envelopes held for one moving instance; more are refused (UNAVAILABLE) rather than kept. */
export const MAX_HELD = 10_000;


export interface DispatchOptions {
  host: DispatchHost;
  udp: Transport;
  mqtt?: Transport | undefined;
  boxes: BoxLocations;
}

export class NodeDispatch {
  readonly table = new DispatchTable();
  readonly counters: NodeCounters = { dispatched: 0, forwarded: 0, undeliverable: 0, clientStarted: 0, moved: 0, notMine: 0, orphans: 0, orphansForwarded: 0, orphansRerouted: 0, orphansAnswered: 0, orphansExpired: 0 };
  readonly refused: DispatchRefusals = { relay: 0, queueMismatch: 0, heldFull: 0 };
  readonly #host: DispatchHost;
  readonly #boxes: BoxLocations;
  readonly #hasMqtt: boolean;
  readonly #router: Router;
  /** Instances being moved: envelopes for them wait here [c31]. */
  readonly #holding = new Map<string, Envelope[]>();
  /** Addresses whose start is in flight here: envelopes for them wait until it ends [c31]. */
  readonly #starting = new Map<string, Envelope[]>();
  #closed = false;

  constructor(o: DispatchOptions) {
    this.#host = o.host;
    this.#boxes = o.boxes;
    this.#hasMqtt = o.mqtt !== undefined;
    const routes = [{ name: 'udp', transport: o.udp, accepts: (d: Address) => d.udp !== undefined }];
    if (o.mqtt !== undefined) {
      routes.push({ name: 'mqtt', transport: o.mqtt, accepts: (d: Address) => d.vaddr !== undefined && d.udp === undefined && d.queue === undefined && this.onBox(d.vaddr) });
    }
    this.#router = new Router({ routes, resolver: o.host.resolver });
  }

  /** Route one envelope (from any transport, a portion or an endpoint). Never throws. */
  dispatch(env: Envelope): void {
    if (this.#closed) return;
    this.counters.dispatched++;
    const dst = env.dst;
    const h = this.#host;
    if (env.kind === 'ctl' && env.op === 'client-started') {
      this.counters.clientStarted++;
      if (dst.vaddr !== undefined) h.clientStarted?.(dst.vaddr); // the session's portion address names the session
    }
    if (dst.queue !== undefined && h.portions.has(dst.queue)) {
      const module = this.#queueModule(dst.queue, dst.vaddr);
      if (module !== undefined && this.#deliver(dst.queue, module, env)) return;
    }
    const v = dst.vaddr;
    if (v !== undefined) {
      const ep = this.table.endpoints.get(v);
      if (ep !== undefined) return ep(env);
      const hosted = this.table.hosted.get(v);
      if (hosted !== undefined) {
        // [c30] a share of a spread portion's requests goes to its replica on another node.
        const away = h.replicaRoute(env, v);
        if (away !== undefined) return this.#forward({ ...env, dst: { vaddr: v, udp: away } });
        const iid = h.portions.pick(hosted.iids);
        if (iid !== undefined && this.#deliver(iid, hosted.module, env)) return;
      }
      // A session's view of an app-wide module (`weft://app/<session>/m`) is its one address `weft://app/*/m`.
      // Its version's instance (issue 15.6); a promise when the session's version or instance is looked up first.
      const shared = hosted === undefined ? h.appWide?.sharedAddress(v) : undefined;
      if (typeof shared === 'string') return this.dispatch({ ...env, dst: { vaddr: shared } });
      if (shared !== undefined) return void shared.then((s) => (s === undefined ? this.#forward(env) : this.dispatch({ ...env, dst: { vaddr: s } })));
      // [c31] the registry may already send it here while the worker still starts it: wait, don't forward.
      const start = hosted === undefined ? h.starting?.(v) : undefined;
      if (start !== undefined) return this.#awaitStart(v, start, env);
    }
    this.#forward(env);
  }

  /** With broadcast ingress: is this box message for something on this node? */
  mine(env: Envelope): boolean {
    const { queue, vaddr } = env.dst;
    if (queue !== undefined && this.#host.portions.has(queue)) return true;
    if (vaddr === undefined) return false;
    if (vaddr.startsWith(SHARED_HEADEND_PREFIX)) return this.#host.leader();
    if (this.table.endpoints.has(vaddr) || this.table.hosted.has(vaddr)) return true;
    // [c31] its start is in flight here (a re-placement: the old host lets go as soon as it sees
    // the claim, before this worker runs the instance); dispatch holds it until the start ends.
    return this.#host.starting?.(vaddr) !== undefined;
  }

  /** Hold envelopes for `iid` (it is being moved); the returned function releases them, in order, to wherever it is then. */
  hold(iid: string): () => void {
    const held: Envelope[] = [];
    this.#holding.set(iid, held);
    return () => {
      if (this.#holding.get(iid) !== held) return;
      this.#holding.delete(iid);
      for (const e of held) this.dispatch(e);
    };
  }

  /** Is `vaddr` on a box (a box endpoint, or a module placed on one)? */
  onBox(vaddr: string): boolean {
    return vaddr.startsWith(BOX_PREFIX) || this.#boxes.has(vaddr);
  }

  /** Send an envelope straight to the router (replies built here). */
  send(env: Envelope): Promise<void> {
    return this.#router.send(env);
  }

  close(): void {
    this.#closed = true;
    this.#router.close();
  }

  // Held in arrival order until the start ends, then routed again: to the instance once it runs
  // here, else wherever the registry says (a failed start gave its claim back).
  #awaitStart(v: string, start: Promise<unknown>, env: Envelope): void {
    const waiting = this.#starting.get(v);
    if (waiting !== undefined) {
      if (waiting.length < MAX_HELD) return void waiting.push(env);
      this.refused.heldFull++;
      return this.#undeliverable(env, `${v} is starting here; retry`, Codes.UNAVAILABLE);
    }
    const held = [env];
    this.#starting.set(v, held);
    const release = (): void => {
      this.#starting.delete(v);
      for (const e of held) this.dispatch(e);
    };
    start.then(release, release);
  }

  #deliver(iid: string, module: string, env: Envelope): boolean {
    if (this.#host.appWide?.front(iid, module, env) === true) return true;
    const held = this.#holding.get(iid);
    if (held !== undefined) {
      if (held.length < MAX_HELD) held.push(env);
      else {
        this.refused.heldFull++;
        this.#undeliverable(env, `instance ${iid} is moving; retry`, Codes.UNAVAILABLE);
      }
      return true;
    }
    return this.#host.portions.deliver(iid, module, env);
  }

  // [c31] a message for a portion that is not (or no longer) here goes where the registry says.
  #forward(env: Envelope): void {
    const h = this.#host;
    const dst = withoutLocal(env.dst, h.udpAddress);
    const v = dst.vaddr;
    if (v !== undefined && dst.udp === undefined && env.dst.udp !== undefined) h.resolver.invalidate(v);
    const out = dst.udp !== env.dst.udp || dst.queue !== env.dst.queue ? { ...env, dst } : env;
    if (v === undefined && dst.udp === undefined) return this.#undeliverable(env, 'no address left to route');
    this.counters.forwarded++;
    // [issue 19] nothing to look up (an answer, or a box already known): posted now, no promise per hop.
    if (!this.#mustLocate(v, dst) && (dst.udp === undefined || ANSWERS.has(env.kind))) return this.#router.post(out, this.#forwarded);
    this.#locateBox(v, dst)
      .then(() => this.#mayRelay(env.kind, dst))
      .then((may) => (may ? this.#router.send(out) : this.#refuseRelay(env)))
      .catch((e: unknown) => this.#undeliverable(env, (e as Error).message));
  }

  #forwarded = (e: Error | undefined, out: Envelope): void => {
    if (e !== undefined) this.#undeliverable(out, e.message);
  };

  #mustLocate(v: string | undefined, dst: Address): v is string {
    return v !== undefined && dst.udp === undefined && this.#hasMqtt && !this.onBox(v);
  }

  // No relaying: a request or message goes over UDP only to a registered node. Answers go back
  // to their request's source (the UDP layer bounds their size against strangers).
  async #mayRelay(kind: Envelope['kind'], dst: Address): Promise<boolean> {
    if (dst.udp === undefined || ANSWERS.has(kind)) return true;
    return this.#host.isNodeUdp(dst.udp);
  }

  #refuseRelay(env: Envelope): void {
    this.refused.relay++;
    this.#undeliverable(env, 'not a registered node');
  }

  // The module a queue id delivers to: only when that instance serves the envelope's virtual
  // address (same app and session), so a queue id cannot reach another session's instance.
  #queueModule(queue: string, vaddr: string | undefined): string | undefined {
    if (vaddr === undefined) return undefined;
    let v;
    try {
      v = parseVaddr(vaddr);
    } catch {
      return undefined;
    }
    const spec = this.#host.portions.spec(queue);
    if (spec !== undefined && spec.app === v.app && spec.session === v.session) return v.module;
    this.refused.queueMismatch++;
    return undefined;
  }

  // A module placed on a box is found through its session record (placements and box); learn
  // it before routing over MQTT.
  async #locateBox(v: string | undefined, dst: Address): Promise<void> {
    if (!this.#mustLocate(v, dst)) return;
    let parts;
    try {
      parts = parseVaddr(v);
    } catch {
      return;
    }
    const rec = await this.#host.registry.getSession(parts.session);
    if (rec !== undefined && rec.app === parts.app && rec.placements[parts.module] === 'box') this.#boxes.set(v, rec.box);
  }

  #undeliverable(env: Envelope, why: string, code: number = Codes.NOT_FOUND): void {
    this.counters.undeliverable++;
    this.#host.onUndeliverable?.(env, why);
    if (env.kind !== 'req' && env.kind !== 'ctl') return;
    const h = this.#host;
    const answer = async (): Promise<void> => {
      // [issue 13.1] a session no node has (no record), or one this node should have but lost (a
      // restart): NO_SESSION tells the box to open it again instead of failing forever.
      const lost = code === Codes.NOT_FOUND && (await this.#sessionLost(env.dst.vaddr));
      const body = { code: lost ? Codes.NO_SESSION : code, message: `undeliverable: ${why}` };
      const reply: Envelope = { v: 1, kind: 'err', id: 0, corr: env.id, src: { vaddr: h.controlVaddr(), udp: h.udpAddress }, dst: env.src, body };
      if (env.op !== undefined) reply.op = env.op;
      await this.#router.send(reply);
    };
    answer().catch(() => undefined);
  }

  async #sessionLost(v: string | undefined): Promise<boolean> {
    const session = sessionOf(v);
    if (session === undefined) return false;
    const rec = await this.#host.registry.getSession(session).catch(() => null);
    return rec === undefined || (rec !== null && rec.node === this.#host.id);
  }
}

/** The session a vaddr of an app names (not a node's or a box's endpoint, not `*`). */
function sessionOf(v: string | undefined): string | undefined {
  try {
    const a = parseVaddr(v as string);
    return a.session !== '*' && a.app !== 'headend' && a.app !== 'box' ? a.session : undefined;
  } catch {
    return undefined;
  }
}
