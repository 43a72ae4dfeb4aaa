// One rollout driver per cluster (issue 15): the registry decides which node drives, by a lease
// on one virtual address (`weft://headend/*/rollout-driver`, bound with the registry's
// compare-and-set like a portion's start-once claim); a node takes it over only when its holder
// is declared dead or has left. Every other node relays its boxes' reports to the holder, so the
// driver counts each wave over the whole fleet, not over the boxes of one node: a box's report is
// relayed when the box is new to this node or its rollout outcomes changed, and all of them again
// when the holder changes. Relayed reports are `stats.box` stat envelopes from this node's stats
// endpoint (node-to-node UDP, MAC'd like every peer datagram). A changed report goes to a known
// holder at once (the holder decides on reports, not only on ticks); the tick catches up the rest.
import { SessionOps, formatVaddr, type Envelope, type ResourceReport, type UdpAddress } from '../../runtime/index.ts';
import type { Registry } from '../registry/registry.ts';
import { Endpoint } from '../node/endpoints.ts';
import { Membership } from '../node/membership.ts';
import { HEADEND_APP } from '../../transport/mqtt-topics.ts';
import type { RolloutLoop } from './rollout-start.ts';

export const DRIVER_VADDR = formatVaddr({ app: HEADEND_APP, session: '*', module: 'rollout-driver' });
/** Reports relayed per tick at most (a new holder is caught up over a few ticks, not in one burst). */
const MAX_RELAY_PER_TICK = 2000;
/** Boxes remembered for relaying at most (as the tally's own bound). */
const MAX_BOXES = 200_000;

/** The part of a node the cluster driver needs (HeadendNode satisfies it). */
export interface ClusterNode {
  readonly id: string;
  readonly udpAddress: UdpAddress;
  readonly registry: Pick<Registry, 'bind' | 'move' | 'lookup' | 'unbind'>;
  readonly timing: { isAlive(node: string): boolean | undefined };
  peers(): string[];
  peerUdp(node: string): UdpAddress | undefined;
  dispatch(env: Envelope): void;
}

export interface ClusterRolloutStats {
  /** Ticks this node drove (held the lease), and ticks it relayed instead. */
  drove: number;
  relayedTicks: number;
  /** Box reports relayed to the holder; taken over leases. */
  relayed: number;
  takeovers: number;
  /** Reports not remembered for relaying because `MAX_BOXES` boxes are known. */
  overflow: number;
}

/** A box's last report heard here and whether the holder has it. */
interface Relayed {
  body: ResourceReport;
  key: string;
  sent: boolean;
}

export class ClusterRollout {
  readonly #n: ClusterNode;
  readonly #loop: RolloutLoop;
  /** boxId -> the last report body heard here and whether the holder has it. */
  readonly #boxes = new Map<string, Relayed>();
  #holder: string | undefined;
  readonly #stats: ClusterRolloutStats = { drove: 0, relayedTicks: 0, relayed: 0, takeovers: 0, overflow: 0 };

  /** Takes the reports the loop's tally was fed (`reports.onReport`) so they reach the holder too. */
  constructor(node: ClusterNode, loop: RolloutLoop, reports: { onReport: (r: ResourceReport) => void }) {
    this.#n = node;
    this.#loop = loop;
    loop.driver.active = false; // until a tick finds this node holds the lease: never two drivers
    const local = reports.onReport;
    reports.onReport = (r) => {
      local(r);
      const b = this.#note(r);
      const holder = this.#holder;
      if (b !== undefined && holder !== undefined && holder !== node.id) this.#send(holder, b);
    };
  }

  stats(): ClusterRolloutStats & { holder?: string } {
    return { ...this.#stats, ...(this.#holder === undefined ? {} : { holder: this.#holder }) };
  }

  /** The node that holds the lease now (this one takes it when free or its holder is gone). */
  async holder(): Promise<string | undefined> {
    const n = this.#n;
    const here = { node: n.id, queue: 'rollout-driver', udp: n.udpAddress };
    const cur = await n.registry.lookup(DRIVER_VADDR);
    if (cur === undefined) {
      const b = await n.registry.bind(DRIVER_VADDR, here);
      return b.ok ? n.id : b.error.current?.node;
    }
    if (cur.node === n.id) return n.id;
    const gone = n.timing.isAlive(cur.node) === false || !n.peers().includes(cur.node);
    if (!gone) return cur.node;
    const m = await n.registry.move(DRIVER_VADDR, here, cur.epoch);
    if (m.ok) this.#stats.takeovers++;
    return m.ok ? n.id : m.error.current?.node;
  }

  /** One tick: the holder decides the waves; any other node relays what its boxes reported. */
  async tick(): Promise<void> {
    const holder = await this.holder();
    if (holder !== this.#holder) for (const b of this.#boxes.values()) b.sent = false; // a new holder hears everything
    this.#holder = holder;
    this.#loop.driver.active = holder === this.#n.id;
    if (holder === this.#n.id) {
      this.#stats.drove++;
      await this.#loop.driver.tick();
      return;
    }
    this.#stats.relayedTicks++;
    if (holder !== undefined) this.#relay(holder);
  }

  /** Give the lease up (a node that stops or drains), so another node drives at once. */
  async release(): Promise<void> {
    const cur = await this.#n.registry.lookup(DRIVER_VADDR);
    if (cur !== undefined && cur.node === this.#n.id) await this.#n.registry.unbind(DRIVER_VADDR, cur.epoch);
  }

  // The box's entry when its report is new or changed (to relay), else undefined.
  #note(r: ResourceReport): Relayed | undefined {
    const key = `${r.profile}|${JSON.stringify((r as { rollout?: unknown }).rollout ?? [])}`;
    const had = this.#boxes.get(r.boxId);
    if (had !== undefined && had.key === key) return undefined;
    if (had === undefined && this.#boxes.size >= MAX_BOXES) {
      this.#stats.overflow++;
      return undefined;
    }
    const b = { body: r, key, sent: false };
    this.#boxes.set(r.boxId, b);
    return b;
  }

  #relay(holder: string): void {
    let left = MAX_RELAY_PER_TICK;
    for (const b of this.#boxes.values()) {
      if (b.sent) continue;
      if (left-- === 0 || !this.#send(holder, b)) return;
    }
  }

  #send(holder: string, b: Relayed): boolean {
    const n = this.#n;
    const udp = n.peerUdp(holder);
    if (udp === undefined) return false; // not a known peer yet: the next tick
    const { boxId, profile } = b.body;
    const rollout = (b.body as { rollout?: unknown }).rollout;
    const body = { boxId, profile, ...(rollout === undefined ? {} : { rollout }) };
    n.dispatch({ v: 1, kind: 'stat', id: 0, op: SessionOps.report, src: { vaddr: Membership.vaddr(n.id, Endpoint.stats), udp: n.udpAddress }, dst: { vaddr: Membership.vaddr(holder, Endpoint.stats), udp }, body });
    b.sent = true;
    this.#stats.relayed++;
    return true;
  }
}
