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

  host(vaddr: string, module: string, iid: string): void {
    const h = this.hosted.get(vaddr);
    if (h === undefined) this.hosted.set(vaddr, { module, iids: [iid] });
    else if (!h.iids.includes(iid)) h.iids.push(iid);
  }

  /** Remove an instance; returns the vaddrs no instance serves any more. */
  unhost(iid: string): string[] {
    const gone: string[] = [];
    for (const [v, h] of this.hosted) {
      h.iids = h.iids.filter((x) => x !== iid);
      if (h.iids.length === 0) {
        this.hosted.delete(v);
        gone.push(v);
      }
    }
    return gone;
  }
}

/** `dst` without the parts that point at this node (a stale location after a move). */
export function withoutLocal(dst: Address, selfUdp: Address['udp']): Address {
  const out: Address = {};
  if (dst.vaddr !== undefined) out.vaddr = dst.vaddr;
  if (dst.udp !== undefined && !sameUdp(dst.udp, selfUdp)) out.udp = dst.udp;
  return out;
}
