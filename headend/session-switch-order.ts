// [D96] The order of one session's version switches on the node that hosts it. A shared ingress
// (MQTT shared subscriptions, broadcast) may hand a box's forward switch to one node and the
// revert right behind it to another; both reach the host, in any order. The host applies them one
// at a time, and refuses one the box sent before the last it applied: the box's order is the
// envelope id of each open (its loader channel's counter, +1 per message, kept across versions;
// uint32, compared as serial numbers). Identity is the ingress's (the open's box is the record's),
// so a box can only misorder its own session, which it could do by sending its opens the other way.

import { KeyedChain } from './keyed-chain.ts';

/** Is `a` later than `b` on a uint32 counter that wraps (RFC 1982 serial numbers)? */
export function laterId(a: number, b: number): boolean {
  const d = (a - b) >>> 0;
  return d !== 0 && d < 0x8000_0000;
}

/** Why a switch was not applied: the box sent a later one, applied here first. */
export interface Superseded {
  superseded: true;
  /** The id of the later switch's open. */
  by: number;
}

/** Fewest sessions kept before pruning those that are no longer hosted here. */
const MIN_PRUNE = 64;

export class SwitchOrder {
  /** session -> the envelope id of the last switch applied here. */
  readonly #last = new Map<string, number>();
  /** One chain of switches per session (gone once nothing follows). */
  readonly #chain = new KeyedChain<string>();
  readonly #hosted: (session: string) => boolean;
  #pruneAt = MIN_PRUNE;

  /** `hosted`: does this node still host the session (its id is forgotten once it does not)? */
  constructor(hosted: (session: string) => boolean) {
    this.#hosted = hosted;
  }

  /** How many sessions' last switch ids are kept (bounded by the sessions hosted here). */
  get size(): number {
    return this.#last.size;
  }

  /**
   * Run `work` for the switch sent as `id` once the session's earlier switches here are done, or
   * answer `Superseded` without running it when a later one was applied. `ok(result)` says whether
   * the switch took effect (only then is its id the session's last). No id (an open that did not
   * come as an envelope): run in turn, unordered, as before D96.
   * [D99] `recorded`, the id the session record keeps (the last switch applied on whichever node
   * hosted it), orders it too unless this node's memory refuses the switch already: a session
   * re-placed or migrated here has no id in memory, and one that left and came back has an old
   * one. A function is called in turn (it must not reject); a value is one the caller read.
   */
  run<T>(session: string, id: number | undefined, work: () => Promise<T>, ok: (r: T) => boolean, recorded?: number | (() => Promise<number | undefined>)): Promise<T | Superseded> {
    return this.#chain.run(session, async (): Promise<T | Superseded> => {
      const last = this.#last.get(session);
      if (id !== undefined && last !== undefined && laterId(last, id)) return { superseded: true, by: last };
      const stored = id === undefined ? undefined : typeof recorded === 'function' ? await recorded() : recorded;
      if (id !== undefined && stored !== undefined && laterId(stored, id)) {
        this.#remember(session, stored);
        return { superseded: true, by: stored };
      }
      const r = await work();
      if (id !== undefined && ok(r)) this.#remember(session, id); // not older than the last: checked above, and only this chain writes it
      return r;
    });
  }

  #remember(session: string, id: number): void {
    this.#last.set(session, id);
    if (this.#last.size < this.#pruneAt) return;
    for (const s of this.#last.keys()) if (!this.#hosted(s)) this.#last.delete(s);
    this.#pruneAt = Math.max(MIN_PRUNE, 2 * this.#last.size);
  }
}

export function isSuperseded(r: unknown): r is Superseded {
  return typeof r === 'object' && r !== null && (r as Partial<Superseded>).superseded === true;
}
