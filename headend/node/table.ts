// The node's local address tables [c8-c12, c31]: main-thread endpoints and hosted modules by
// virtual address, and the small address helpers dispatch uses. Data only: no routing, no I/O.

import { sameUdp, type Address, type Envelope } from '../../runtime/index.ts';

export interface Hosted {
  module: string;
  iids: string[];
}

/** The node's local tables, kept in one place so routing reads one structure. */
export class DispatchTable {
  /** Main-thread endpoints by vaddr: sessions, stats, control, services, modules. */
  readonly endpoints = new Map<string, (env: Envelope) => void>();
  /** Hosted modules by vaddr: which instances serve it. */
  readonly hosted = new Map<string, Hosted>();

  /** The vaddrs each instance serves (the index of `hosted` by instance: a stop touches its own, not every one). */
  readonly #byIid = new Map<string, Set<string>>();

  host(vaddr: string, module: string, iid: string): void {
    const h = this.hosted.get(vaddr);
    if (h === undefined) this.hosted.set(vaddr, { module, iids: [iid] });
    else if (!h.iids.includes(iid)) h.iids.push(iid);
    const mine = this.#byIid.get(iid);
    if (mine === undefined) this.#byIid.set(iid, new Set([vaddr]));
    else mine.add(vaddr);
  }

  /** The instance serves an address here. */
  hosts(iid: string): boolean {
    return this.#byIid.has(iid);
  }

  /** The addresses an instance serves here (none: empty). */
  vaddrsOf(iid: string): ReadonlySet<string> {
    return this.#byIid.get(iid) ?? NONE;
  }

  /** Stop routing one address to an instance (its others stay); true when it served it. */
  unhostAt(vaddr: string, iid: string): boolean {
    const h = this.hosted.get(vaddr);
    const at = h === undefined ? -1 : h.iids.indexOf(iid);
    if (h === undefined || at < 0) return false;
    h.iids.splice(at, 1);
    if (h.iids.length === 0) this.hosted.delete(vaddr);
    const mine = this.#byIid.get(iid);
    mine?.delete(vaddr);
    if (mine?.size === 0) this.#byIid.delete(iid);
    return true;
  }

  /** Remove an instance; returns the vaddrs no instance serves any more. Touches only its own
   *  addresses: with 10,000 sessions, a scan of every address per stop made a burst of session
   *  closes quadratic and held the node's loop for tens of seconds (bench scale, issue 19.6). */
  unhost(iid: string): string[] {
    const gone: string[] = [];
    const mine = this.#byIid.get(iid);
    if (mine === undefined) return gone;
    this.#byIid.delete(iid);
    for (const v of mine) {
      const h = this.hosted.get(v);
      if (h === undefined) continue;
      const at = h.iids.indexOf(iid);
      if (at >= 0) h.iids.splice(at, 1);
      if (h.iids.length === 0) {
        this.hosted.delete(v);
        gone.push(v);
      }
    }
    return gone;
  }
}

const NONE: ReadonlySet<string> = new Set();

/** `dst` without the parts that point at this node (a stale location after a move). */
export function withoutLocal(dst: Address, selfUdp: Address['udp']): Address {
  const out: Address = {};
  if (dst.vaddr !== undefined) out.vaddr = dst.vaddr;
  if (dst.udp !== undefined && !sameUdp(dst.udp, selfUdp)) out.udp = dst.udp;
  return out;
}
