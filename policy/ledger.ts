// Optimistic local increments [c13, c43]: a balancer counts its own recent placements against a
// node until a statistics report measured after them arrives, so several balancers reading the
// same stale view do not all pile onto the node that looked emptiest. Holds no clock of its own.

interface Entry {
  at: number[];
  cost: number[];
  mem: number[];
  head: number;
  cost_: number;
  mem_: number;
}

/** What this balancer placed on a node that the node's last report cannot have counted yet. */
export interface Pending {
  readonly cost: number;
  readonly mem: number;
  readonly count: number;
}

const NONE: Pending = { cost: 0, mem: 0, count: 0 };

export class PlacementLedger {
  #nodes = new Map<string, Entry>();

  /**
   * Count a placement made at `at` (the balancer's clock) of `cost` units and `mem` bytes; a
   * departure is a negative cost. Calls must come in time order (one balancer's clock).
   */
  record(node: string, at: number, cost: number, mem = 0): void {
    let e = this.#nodes.get(node);
    if (e === undefined) {
      e = { at: [], cost: [], mem: [], head: 0, cost_: 0, mem_: 0 };
      this.#nodes.set(node, e);
    }
    e.at.push(at);
    e.cost.push(cost);
    e.mem.push(mem);
    e.cost_ += cost;
    e.mem_ += mem;
  }

  /**
   * Placements on `node` later than `reportAt` (the time its newest report was measured): those
   * the report has not seen. Older ones are dropped, as the report now includes them.
   */
  pending(node: string, reportAt: number): Pending {
    const e = this.#nodes.get(node);
    if (e === undefined) return NONE;
    while (e.head < e.at.length && (e.at[e.head] as number) <= reportAt) {
      e.cost_ -= e.cost[e.head] as number;
      e.mem_ -= e.mem[e.head] as number;
      e.head++;
    }
    if (e.head === e.at.length) {
      this.#nodes.delete(node);
      return NONE;
    }
    if (e.head > 1024 && e.head * 2 > e.at.length) {
      e.at = e.at.slice(e.head);
      e.cost = e.cost.slice(e.head);
      e.mem = e.mem.slice(e.head);
      e.head = 0;
    }
    return { cost: e.cost_, mem: e.mem_, count: e.at.length - e.head };
  }

  /** Forget a node (it left the cluster). */
  forget(node: string): void {
    this.#nodes.delete(node);
  }

  /** Nodes with placements not yet covered by a report. */
  get size(): number {
    return this.#nodes.size;
  }
}
