// Per-group acquisition state of the receiver: blocks of each module, the group's FEC code
// blocks, repair by erasure decoding, and progress counts. No I/O, no events: receiver.ts
// drives it and reports. Blocks are addressed by (module, block number) as on the wire.

import type { FecLayout, WireKind } from './descriptors.ts';
import { decodeSource } from './fec.ts';
import type { Tier } from './module-set.ts';

export interface ModState {
  id: number;
  version: number;
  size: number;
  blockSize: number;
  name: string;
  kind: WireKind;
  tier: Tier;
  sha256: string;
  wanted: boolean;
  blocks: (Uint8Array | undefined)[];
  have: number;
  done: Uint8Array | undefined;
  repaired: boolean;
  cached: boolean;
}

interface CodeBlock {
  k: number;
  r: number;
  /** Index of its first source symbol in the group's symbol list. */
  first: number;
  /** Block number of its first repair symbol in the repair module. */
  repairFirst: number;
}

export interface GroupState {
  ident: number;
  transactionId: number;
  tier: Tier;
  blockSize: number;
  modules: ModState[];
  fec: { repair: ModState; code: CodeBlock[]; symbols: [ModState, number][]; base: Map<number, number> } | undefined;
}

export function blockCount(size: number, blockSize: number): number {
  return Math.ceil(size / blockSize);
}

/** Wire the FEC layout of a group; undefined when it has none or it does not match the DII. */
export function fecState(modules: ModState[], repair: ModState | undefined, layout: FecLayout | undefined, blockSize: number): GroupState['fec'] {
  if (repair === undefined || layout === undefined || layout.scheme !== 1) return undefined;
  const byId = new Map(modules.map((m) => [m.id, m]));
  const symbols: [ModState, number][] = [];
  const base = new Map<number, number>();
  for (const id of layout.covered) {
    const m = byId.get(id);
    if (m === undefined || m.kind === 'fec' || base.has(id)) return undefined;
    base.set(id, symbols.length);
    for (let b = 0; b < m.blocks.length; b++) symbols.push([m, b]);
  }
  const code: CodeBlock[] = [];
  let first = 0;
  let repairFirst = 0;
  for (const b of layout.blocks) {
    code.push({ k: b.k, r: b.r, first, repairFirst });
    first += b.k;
    repairFirst += b.r;
  }
  if (first !== symbols.length || repairFirst * blockSize !== repair.size) return undefined;
  return { repair, code, symbols, base };
}

/** The code block a received block belongs to, if the group has FEC. */
export function codeBlockOf(g: GroupState, m: ModState, block: number): number {
  const f = g.fec;
  if (f === undefined) return -1;
  if (m === f.repair) return f.code.findIndex((c) => block >= c.repairFirst && block < c.repairFirst + c.r);
  const at = f.base.get(m.id);
  if (at === undefined) return -1;
  return f.code.findIndex((c) => at + block >= c.first && at + block < c.first + c.k);
}

function present(g: GroupState, c: CodeBlock): { src: number; rep: number } {
  const f = g.fec as NonNullable<GroupState['fec']>;
  let src = 0;
  let rep = 0;
  for (let i = 0; i < c.k; i++) {
    const [m, b] = f.symbols[c.first + i] as [ModState, number];
    if (m.blocks[b] !== undefined) src++;
  }
  for (let i = 0; i < c.r; i++) if (f.repair.blocks[c.repairFirst + i] !== undefined) rep++;
  return { src, rep };
}

/**
 * Recover the missing source blocks of code block `index` when enough symbols are in. Returns
 * the modules that gained blocks (empty when nothing could be done yet).
 */
export function tryRepair(g: GroupState, index: number): ModState[] {
  const f = g.fec;
  const c = f?.code[index];
  if (f === undefined || c === undefined) return [];
  const { src, rep } = present(g, c);
  if (src === c.k || src + rep < c.k) return [];
  const size = g.blockSize;
  const slots: (Uint8Array | undefined)[] = [];
  for (let i = 0; i < c.k; i++) {
    const [m, b] = f.symbols[c.first + i] as [ModState, number];
    slots.push(padded(m.blocks[b], size));
  }
  for (let i = 0; i < c.r; i++) slots.push(f.repair.blocks[c.repairFirst + i]);
  const out = decodeSource(c.k, c.r, slots, size);
  if (out === undefined) return [];
  const touched = new Set<ModState>();
  for (let i = 0; i < c.k; i++) {
    const [m, b] = f.symbols[c.first + i] as [ModState, number];
    if (m.blocks[b] !== undefined || m.done !== undefined) continue;
    const len = Math.min(size, m.size - b * size); // the last block of a module is short
    m.blocks[b] = (out[i] as Uint8Array).subarray(0, len);
    m.have++;
    m.repaired = true;
    touched.add(m);
  }
  return [...touched];
}

function padded(b: Uint8Array | undefined, size: number): Uint8Array | undefined {
  if (b === undefined || b.length === size) return b;
  const p = new Uint8Array(size);
  p.set(b);
  return p;
}

/** Symbols still useful vs. needed for a group: drives progress bars. */
export function groupProgress(g: GroupState): { have: number; need: number } {
  if (g.fec !== undefined) {
    let have = 0;
    let need = 0;
    for (const c of g.fec.code) {
      const p = present(g, c);
      have += Math.min(c.k, p.src + p.rep);
      need += c.k;
    }
    return { have, need };
  }
  let have = 0;
  let need = 0;
  for (const m of g.modules) {
    if (m.kind === 'fec') continue;
    need += m.blocks.length;
    have += m.done !== undefined ? m.blocks.length : m.have;
  }
  return { have, need };
}

export interface TierProgress {
  fraction: number;
  modulesDone: number;
  modulesTotal: number;
  bytesTotal: number;
}

/** Progress of one tier over the groups known so far (the fraction of symbols still useful). */
export function tierProgress(groups: Iterable<GroupState>, tier: Tier): TierProgress {
  let have = 0;
  let need = 0;
  let done = 0;
  let total = 0;
  let bytes = 0;
  for (const g of groups) {
    if (g.tier !== tier) continue;
    const p = groupProgress(g);
    have += p.have;
    need += p.need;
    for (const m of g.modules) {
      if (m.kind === 'fec') continue;
      total++;
      bytes += m.size;
      if (m.done !== undefined) done++;
    }
  }
  const fraction = done === total ? 1 : need === 0 ? 0 : Math.min(0.999, have / need);
  return { fraction, modulesDone: done, modulesTotal: total, bytesTotal: bytes };
}

/** The module's bytes once every block is in. */
export function assemble(m: ModState): Uint8Array {
  const out = new Uint8Array(m.size);
  let at = 0;
  for (const b of m.blocks) {
    out.set(b as Uint8Array, at);
    at += (b as Uint8Array).length;
  }
  return out;
}
