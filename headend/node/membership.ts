// Cluster membership of one node [c13, c16]: its member record in the registry, the peers it
// knows (UDP pairs, from the registry only: a heartbeat never introduces a node by itself), the
// leader among the live nodes, and the reports it sends to every peer. Holds no portions and
// routes nothing itself.

import { formatVaddr, sameUdp, type Clock, type Envelope, type UdpAddress } from '../../runtime/index.ts';
import { HEADEND_APP } from '../../transport/mqtt-topics.ts';
import type { Registry } from '../registry/registry.ts';

/** An unknown UDP pair re-reads the member records at most this often, ms (a stranger cannot make us hammer the registry). */
export const REFRESH_MIN_MS = 1000;

/** Prefix of the member records (`weft://headend/*\/member-<node>`). */
const MEMBER_PREFIX = 'member-';

/** What membership needs of its node. */
export interface MembershipHost {
  readonly id: string;
  readonly udpAddress: UdpAddress;
  readonly clock: Clock;
  readonly registry: Pick<Registry, 'bind' | 'unbind' | 'listBySession'>;
  /** Start watching a newly known peer's heartbeats. */
  expect(node: string): void;
  /** Liveness as the timing process sees it (undefined: not heard yet). */
  isAlive(node: string): boolean | undefined;
  /** Send over UDP (best effort). */
  sendUdp(env: Envelope): void;
}

export class Membership {
  readonly #host: MembershipHost;
  readonly #peers = new Map<string, UdpAddress>();
  #refreshedAt = Number.NEGATIVE_INFINITY;
  #strangers = 0;

  constructor(host: MembershipHost) {
    this.#host = host;
  }

  /** `weft://headend/<node>/<name>`. */
  static vaddr(node: string, name: string): string {
    return formatVaddr({ app: HEADEND_APP, session: node, module: name });
  }

  /** Register this node and learn the others. */
  async join(): Promise<void> {
    const h = this.#host;
    await h.registry.bind(memberVaddr(h.id), { node: h.id, udp: h.udpAddress });
    await this.refresh();
  }

  async leave(): Promise<void> {
    await this.#host.registry.unbind(memberVaddr(this.#host.id)).catch(() => undefined);
  }

  /** Re-read cluster membership from the registry. */
  async refresh(): Promise<void> {
    const h = this.#host;
    for (const r of await h.registry.listBySession(HEADEND_APP, '*')) {
      if (!r.vaddr.includes(`/${MEMBER_PREFIX}`) || r.node === h.id || r.udp === undefined) continue;
      if (!this.#peers.has(r.node)) h.expect(r.node);
      this.#peers.set(r.node, r.udp);
    }
  }

  /**
   * A peer's leave notice (node/drain.ts): from that peer's own UDP pair only, it is no longer a
   * peer nor a candidate leader. Gives the node that left, or undefined when the notice is refused.
   */
  left(env: Envelope): string | undefined {
    const node = (env.body as { node?: unknown } | undefined)?.node;
    if (typeof node !== 'string' || node === this.#host.id) return undefined;
    const udp = this.#peers.get(node);
    if (udp === undefined || env.src.udp === undefined || !sameUdp(udp, env.src.udp)) return undefined;
    this.#peers.delete(node);
    return node;
  }

  peers(): string[] {
    return [...this.#peers.keys()];
  }

  peerUdp(node: string): UdpAddress | undefined {
    return node === this.#host.id ? this.#host.udpAddress : this.#peers.get(node);
  }

  /** Is `udp` this node's or a known peer's? An unknown pair re-reads the registry (rate-limited) first. */
  async isNodeUdp(udp: UdpAddress): Promise<boolean> {
    if (this.#known(udp)) return true;
    await this.#refreshLimited();
    return this.#known(udp);
  }

  /** Is `node` this node or a peer with a member record? */
  isMember(node: string): boolean {
    return node === this.#host.id || this.#peers.has(node);
  }

  /** Reports from nodes without a member record, dropped (docs/SECURITY.md). */
  get strangers(): number {
    return this.#strangers;
  }

  /** Count a report from a stranger, and look in the registry (rate-limited): it may have just joined. */
  stranger(): void {
    this.#strangers++;
    void this.#refreshLimited().catch(() => undefined);
  }

  async #refreshLimited(): Promise<void> {
    const now = this.#host.clock.now();
    if (now - this.#refreshedAt < REFRESH_MIN_MS) return;
    this.#refreshedAt = now;
    await this.refresh();
  }

  #known(udp: UdpAddress): boolean {
    if (sameUdp(udp, this.#host.udpAddress)) return true;
    for (const p of this.#peers.values()) if (sameUdp(udp, p)) return true;
    return false;
  }

  /**
   * A heartbeat or node report arrived: true when its node is a member. A node not known yet is
   * looked up in the registry (it may have just joined); its own claim of a UDP pair is never used.
   */
  heard(env: Envelope): boolean {
    const node = (env.body as { node?: unknown } | undefined)?.node;
    if (typeof node === 'string' && this.isMember(node)) return true;
    this.stranger();
    return false;
  }

  /** The lowest id among the nodes this one believes alive (itself included). */
  leader(): boolean {
    const h = this.#host;
    return [h.id, ...this.peers().filter((p) => h.isAlive(p) !== false)].sort()[0] === h.id;
  }

  /** One `stat` envelope to `endpoint` on every known peer. */
  toPeers(endpoint: string, op: string, body: unknown): void {
    const h = this.#host;
    for (const [node, udp] of this.#peers) {
      h.sendUdp({ v: 1, kind: 'stat', id: 0, op, src: { vaddr: Membership.vaddr(h.id, endpoint), udp: h.udpAddress }, dst: { vaddr: Membership.vaddr(node, endpoint), udp }, body });
    }
  }
}

function memberVaddr(node: string): string {
  return formatVaddr({ app: HEADEND_APP, session: '*', module: `${MEMBER_PREFIX}${node}` });
}
