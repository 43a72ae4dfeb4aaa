// Requests left waiting in a portion instance that stopped (its claim lost to another node, its
// thread gone, a move, a drain, a session's end) [c31]: each ends at once, not at its caller's
// deadline. One whose address an instance here serves (or starts) again goes to it; one the
// registry gives to another node is forwarded there; the rest are answered as a new request would
// be (NO_SESSION when the session is gone or was lost here: the box opens it again and sends the
// request once more; else UNAVAILABLE: retry). Each request is re-routed at most once by this
// node (no forwarding loop; its deadline bounds every hop), and one past its deadline is dropped:
// its caller gave up. Counted in the node's counters. Sees its node only through OrphanHost.

import { Codes, parseVaddr, type Address, type Clock, type Envelope, type UdpAddress } from '../../runtime/index.ts';
import type { NodeCounters } from '../node-options.ts';
import type { Registry } from '../registry/registry.ts';

export interface OrphanHost {
  readonly id: string;
  readonly udpAddress: UdpAddress;
  readonly clock: Clock;
  readonly registry: Pick<Registry, 'lookup' | 'getSession'>;
  readonly counters: Pick<NodeCounters, 'orphans' | 'orphansForwarded' | 'orphansRerouted' | 'orphansAnswered' | 'orphansExpired'>;
  /** An instance here serves `vaddr` now, or its start is in flight here. */
  serves(vaddr: string): boolean;
  /** Route an envelope as the node does (dispatch: the relay check, the held queues). */
  dispatch(env: Envelope): void;
  /** Where this node's error replies come from. */
  controlVaddr(): string;
}

/** Requests remembered as re-routed by this node (until their deadline); past it the oldest go. */
export const MAX_REROUTED = 10_000;

export class OrphanRoute {
  readonly #h: OrphanHost;
  /** Request key -> its deadline (ms; Infinity without one). */
  readonly #rerouted = new Map<string, number>();

  constructor(host: OrphanHost) {
    this.#h = host;
  }

  /** End each of `requests`, which the stopped instance `iid` had not answered. Never throws. */
  take(iid: string, requests: Envelope[]): void {
    for (const env of requests) {
      if (env.kind !== 'req' && env.kind !== 'ctl') continue;
      this.#h.counters.orphans++;
      this.#end(env).catch((e: unknown) => this.#answer(env, Codes.UNAVAILABLE, `${iid} stopped; ${(e as Error).message}`));
    }
  }

  async #end(env: Envelope): Promise<void> {
    const h = this.#h;
    if (env.deadline !== undefined && env.deadline <= h.clock.now()) {
      h.counters.orphansExpired++;
      return;
    }
    const v = env.dst.vaddr;
    if (v === undefined) return this.#answer(env, Codes.UNAVAILABLE, 'its instance stopped; retry');
    const key = requestKey(env);
    if (this.#rerouted.has(key)) return this.#answer(env, Codes.UNAVAILABLE, `${v}: its instance stopped again; retry`);
    if (h.serves(v)) return this.#reroute(key, env, { vaddr: v }, false);
    const rec = await h.registry.lookup(v);
    if (rec !== undefined && rec.node !== h.id) return this.#reroute(key, env, rec.udp === undefined ? { vaddr: v } : { vaddr: v, udp: rec.udp }, true);
    // Nobody else has it (unbound, or still in this node's name with nothing here to run it).
    const lost = await this.#sessionLost(v);
    this.#answer(env, lost ? Codes.NO_SESSION : Codes.UNAVAILABLE, `${v}: its instance stopped; ${lost ? 'open the session again' : 'retry'}`);
  }

  #reroute(key: string, env: Envelope, dst: Address, away: boolean): void {
    this.#remember(key, env.deadline ?? Number.POSITIVE_INFINITY);
    if (away) this.#h.counters.orphansForwarded++;
    else this.#h.counters.orphansRerouted++;
    this.#h.dispatch({ ...env, dst });
  }

  #remember(key: string, deadline: number): void {
    if (this.#rerouted.size >= MAX_REROUTED) {
      const now = this.#h.clock.now();
      for (const [k, d] of this.#rerouted) if (d <= now) this.#rerouted.delete(k);
      for (const k of this.#rerouted.keys()) {
        if (this.#rerouted.size < MAX_REROUTED * 0.75) break;
        this.#rerouted.delete(k);
      }
    }
    this.#rerouted.set(key, deadline);
  }

  // As dispatch answers a request for an address nobody has: a session with no record, or one
  // this node should have, is lost (NO_SESSION: the box opens it again).
  async #sessionLost(v: string): Promise<boolean> {
    const session = sessionOf(v);
    if (session === undefined) return false;
    const rec = await this.#h.registry.getSession(session);
    return rec === undefined || rec.node === this.#h.id;
  }

  #answer(env: Envelope, code: number, message: string): void {
    const h = this.#h;
    h.counters.orphansAnswered++;
    const reply: Envelope = { v: 1, kind: 'err', id: 0, corr: env.id, src: { vaddr: h.controlVaddr(), udp: h.udpAddress }, dst: env.src, body: { code, message } };
    if (env.op !== undefined) reply.op = env.op;
    h.dispatch(reply);
  }
}

/** One request among all this node sees: its id is its sender's. */
function requestKey(env: Envelope): string {
  const s = env.src;
  return `${env.id} ${s.vaddr ?? ''} ${s.queue ?? ''} ${s.udp?.host ?? ''} ${s.udp?.port ?? ''}`;
}

/** The session a vaddr of an app names (not a node's or a box's endpoint, not `*`). */
function sessionOf(v: string): string | undefined {
  try {
    const a = parseVaddr(v);
    return a.session !== '*' && a.app !== 'headend' && a.app !== 'box' ? a.session : undefined;
  } catch {
    return undefined;
  }
}
