// The requests and control messages delivered to one portion instance and not answered yet
// [c31]: what its stop leaves behind (portions.ts hands them to the node, node/orphans.ts, so
// none waits for its caller's deadline). An answer ends only its own request: matched by id and
// checked against the request's source. Bounded; data only, no timers.

import type { Address, Envelope } from '../../runtime/index.ts';

/** Open requests kept per instance; past it the oldest quarter is given up (counted in `untracked`). */
export const MAX_OPEN = 10_000;

export class OpenRequests {
  /** By id: almost every request has an id no other open request of the instance has. */
  #byId: Map<number, Envelope> | undefined;
  /** The rest: an id another source's open request already has (ids are per sender). */
  #clash: Map<string, Envelope> | undefined;
  /** Requests given up when the bound was reached (their caller's deadline ends them). */
  untracked = 0;

  get size(): number {
    return (this.#byId?.size ?? 0) + (this.#clash?.size ?? 0);
  }

  /** A request or control message delivered to the instance. */
  add(env: Envelope): void {
    if (this.size >= MAX_OPEN) this.#shed();
    this.#byId ??= new Map();
    const had = this.#byId.get(env.id);
    if (had === undefined || sameAddress(had.src, env.src)) this.#byId.set(env.id, env);
    else (this.#clash ??= new Map()).set(clashKey(env.id, env.src), env);
  }

  /** An answer (rep, err, ack) the instance sent: the request it answers is no longer open. */
  answered(out: Envelope): void {
    const id = out.corr;
    if (id === undefined || this.#byId === undefined) return;
    const req = this.#byId.get(id);
    if (req !== undefined && sameAddress(req.src, out.dst)) this.#byId.delete(id);
    else this.#clash?.delete(clashKey(id, out.dst));
  }

  /** Every request still open, oldest first; none is kept. */
  take(): Envelope[] {
    const out = [...(this.#byId?.values() ?? []), ...(this.#clash?.values() ?? [])];
    this.#byId = undefined;
    this.#clash = undefined;
    return out;
  }

  // Requests a live instance never answers (past their deadline when served, shed by the fair
  // queue, a handler that never settles) would fill the bound: the oldest quarter goes, at once.
  #shed(): void {
    let n = Math.ceil(MAX_OPEN / 4);
    for (const m of [this.#byId, this.#clash]) {
      if (m === undefined) continue;
      for (const k of m.keys()) {
        if (n-- <= 0) return;
        m.delete(k as never);
        this.untracked++;
      }
    }
  }
}

function sameAddress(a: Address, b: Address): boolean {
  return a.vaddr === b.vaddr && a.queue === b.queue && a.udp?.host === b.udp?.host && a.udp?.port === b.udp?.port;
}

function clashKey(id: number, a: Address): string {
  return `${id} ${a.vaddr ?? ''} ${a.queue ?? ''} ${a.udp?.host ?? ''} ${a.udp?.port ?? ''}`;
}
