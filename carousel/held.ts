// What the receiver holds for modules, against a quota [issue 12]: bytes reserved per module
// state from its DII until it is superseded, and the DIIs refused for passing the quota (so a
// repeated DII is refused once and its blocks are dropped on arrival). No I/O, no events.

import type { DiiMessage } from './dsmcc.ts';
import type { ModState } from './acquisition.ts';
import type { Tier } from './module-set.ts';

/** Refused (module id, version) pairs remembered; past this the oldest set is forgotten. */
const MAX_REFUSED = 4096;

export interface DiiNeed {
  /** Bytes of the modules this DII adds (wanted, not already held at the same version). */
  bytes: number;
  modules: string[];
  /** Bytes held beside them once the group this DII replaces is let go. */
  held: number;
}

export class HeldBytes {
  readonly quota: number;
  #reserved = new Map<ModState, number>();
  #total = 0;
  #refusedDii = new Map<number, number>();
  /** (module id << 8) | version: numbers, so asking builds no string. */
  #refusedKeys = new Set<number>();

  constructor(quota: number) {
    this.quota = quota;
  }

  get reserved(): number {
    return this.#total;
  }

  /** What accepting `m` (replacing `old`, a group's current modules) would take. */
  need(m: DiiMessage, tiers: readonly Tier[], current: ReadonlyMap<number, ModState>, old: readonly ModState[]): DiiNeed {
    let bytes = 0;
    const modules: string[] = [];
    for (const e of m.modules) {
      const prev = current.get(e.id);
      const kept = prev !== undefined && this.#reserved.has(prev) && prev.version === e.version && prev.size === e.size && prev.name === e.info.name;
      if (kept || !tiers.includes(e.info.tier)) continue;
      bytes += e.size;
      modules.push(e.info.name);
    }
    const replaced = old.reduce((a, s) => a + (this.#reserved.get(s) ?? 0), 0);
    return { bytes, modules, held: this.#total - replaced };
  }

  /** Remember a refused DII: its repeats are ignored and its modules' blocks dropped. */
  refuse(ident: number, m: DiiMessage): void {
    if (this.#refusedKeys.size + m.modules.length > MAX_REFUSED) this.#refusedKeys.clear();
    for (const e of m.modules) this.#refusedKeys.add((e.id << 8) | e.version);
    this.#refusedDii.set(ident, m.transactionId);
  }

  refusedDii(ident: number, transactionId: number): boolean {
    return this.#refusedDii.get(ident) === transactionId;
  }

  refusedBlock(key: number): boolean {
    return this.#refusedKeys.has(key);
  }

  reserve(st: ModState): void {
    if (this.#reserved.has(st)) return;
    this.#reserved.set(st, st.size);
    this.#total += st.size;
    this.#refusedKeys.delete((st.id << 8) | st.version);
  }

  release(st: ModState): void {
    const n = this.#reserved.get(st);
    if (n === undefined) return;
    this.#reserved.delete(st);
    this.#total -= n;
  }
}
