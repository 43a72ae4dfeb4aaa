// The layout of one carousel version: module ids and versions, DII groups per tier, FEC repair
// modules, and every section pre-encoded. Pure; `PlanMemory` carries ids and versions across
// republishing so that unchanged modules keep their (id, version) and receivers keep them [c1].

import { fromHex, toHex } from './bytes.ts';
import { type FecLayout, type ModuleInfo, FEC_SCHEME_RS8, encodeModuleInfo } from './descriptors.ts';
import { type DiiModule, MAX_MESSAGE, encodeDdb, encodeDii, encodeDsi } from './dsmcc.ts';
import { CarouselError } from './errors.ts';
import { encodeRepair, splitBlocks } from './fec.ts';
import { sha256 } from './hash.ts';
import type { ResolvedOptions } from './options.ts';
import { type CarouselModule, type ModuleSet, TIERS, type Tier } from './module-set.ts';
import { encodePat, encodePmt } from './psi.ts';

export interface PlanModule {
  id: number;
  name: string;
  version: number;
  size: number;
  tier: Tier;
  fec: boolean;
  /** One DDB section per block. */
  ddb: Uint8Array[];
}

export interface PlanGroup {
  tier: Tier;
  transactionId: number;
  modules: PlanModule[];
  dii: Uint8Array;
  /** Source blocks of every module, then the repair blocks. */
  ring: Uint8Array[];
  sourceBytes: number;
  /** Airtime of one copy of the source blocks (section bytes): what a tier's share is scaled by. */
  sourceAirtime: number;
}

export interface Plan {
  downloadId: number;
  dsiTransactionId: number;
  dsi: Uint8Array;
  pat: Uint8Array;
  pmt: Uint8Array;
  groups: PlanGroup[];
}

/** What a broadcaster remembers between versions. */
export interface PlanMemory {
  ids: Map<string, number>;
  nextId: number;
  modules: Map<string, { version: number; digest: string }>;
  groups: Map<number, { version: number; digest: string }>;
  dsi: { version: number; digest: string } | undefined;
}

export function newMemory(): PlanMemory {
  return { ids: new Map(), nextId: 1, modules: new Map(), groups: new Map(), dsi: undefined };
}

const ORIGINATOR = 0x80000000; // transactionId bits 31-30 = 10: assigned by the network side

export function transactionId(version: number, identification: number): number {
  return (ORIGINATOR | ((version & 0x3fff) << 16) | ((identification & 0x7fff) << 1)) >>> 0;
}

/** downloadId from the app id (FNV-1a): stable across versions, different between apps. */
export function defaultDownloadId(appId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < appId.length; i++) h = Math.imul(h ^ appId.charCodeAt(i), 0x01000193) >>> 0;
  return h >>> 0;
}

interface Draft {
  key: string;
  info: ModuleInfo;
  bytes: Uint8Array;
}

export function buildPlan(set: ModuleSet, o: ResolvedOptions, mem: PlanMemory): Plan {
  const downloadId = o.downloadId ?? defaultDownloadId(set.appId);
  const groups: PlanGroup[] = [];
  for (const tier of TIERS) {
    const mods = set.modules.filter((m) => m.tier === tier);
    for (const chunk of splitGroups(mods, set, o)) groups.push(buildGroup(tier, chunk, groups.length + 1, set, o, mem, downloadId));
  }
  const groupDigest = groups.map((g) => g.transactionId).join(',');
  const dsiVersion = bump(mem, 'dsi', groupDigest);
  const dsiTransactionId = transactionId(dsiVersion, 0);
  const dsi = encodeDsi({
    transactionId: dsiTransactionId,
    groups: groups.map((g) => ({ groupId: g.transactionId, size: g.sourceBytes, tier: g.tier })),
    appId: set.appId,
    appVersion: set.version,
    compat: o.compat,
  });
  if (dsi.length > 4096) throw new CarouselError('input', 'too many DII groups for one DSI');
  return {
    downloadId,
    dsiTransactionId,
    dsi,
    pat: encodePat(o.transportStreamId, o.programNumber, o.pmtPid),
    pmt: encodePmt(o.programNumber, o.pid, 1),
    groups,
  };
}

function bump(mem: PlanMemory, what: 'dsi', digest: string): number {
  const prev = mem[what];
  const version = prev === undefined ? 0 : prev.digest === digest ? prev.version : (prev.version + 1) & 0x3fff;
  mem[what] = { version, digest };
  return version;
}

function infoOf(m: CarouselModule, set: ModuleSet): ModuleInfo {
  return { name: m.name, kind: m.kind, tier: m.tier, sha256: fromHex(m.sha256), appId: set.appId, appVersion: set.version };
}

function symbolsOf(size: number, blockSize: number): number {
  return Math.ceil(size / blockSize);
}

/** Greedy split of a tier into groups whose DII (with its FEC module) fits one section. */
function splitGroups(mods: CarouselModule[], set: ModuleSet, o: ResolvedOptions): CarouselModule[][] {
  const out: CarouselModule[][] = [];
  let cur: CarouselModule[] = [];
  for (const m of mods) {
    if (cur.length > 0 && !fits([...cur, m], set, o)) {
      out.push(cur);
      cur = [];
    }
    if (!fits([m], set, o)) throw new CarouselError('input', `module ${JSON.stringify(m.name)} cannot be described in one DII`);
    cur.push(m);
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

function fits(mods: CarouselModule[], set: ModuleSet, o: ResolvedOptions): boolean {
  if (mods.length > 250) return false;
  let size = 12 + 18 + 15 + 2 + 2; // header, fixed DII fields, compatibility, count, private length
  for (const m of mods) size += 8 + encodeModuleInfo(infoOf(m, set)).length;
  if (o.fec !== false) {
    const k = mods.reduce((n, m) => n + symbolsOf(m.bytes.length, o.blockSize), 0);
    const layout = { scheme: FEC_SCHEME_RS8, covered: mods.map(() => 0), blocks: splitBlocks(k, o.fec.maxSourceSymbols, o.fec.ratio) };
    if (layout.blocks.length > 255) return false;
    try {
      size += 8 + encodeModuleInfo(fecInfo((mods[0] as CarouselModule).tier, 0x7fff, set, layout)).length;
    } catch {
      return false;
    }
  }
  return size <= MAX_MESSAGE;
}

function fecInfo(tier: Tier, ident: number, set: ModuleSet, fec: FecLayout): ModuleInfo {
  return { name: `fec:${tier}:${ident}`, kind: 'fec', tier, sha256: new Uint8Array(32), appId: set.appId, appVersion: set.version, fec };
}

function buildGroup(tier: Tier, mods: CarouselModule[], ident: number, set: ModuleSet, o: ResolvedOptions, mem: PlanMemory, downloadId: number): PlanGroup {
  const drafts: Draft[] = mods.map((m) => ({ key: `m:${m.name}`, info: infoOf(m, set), bytes: m.bytes }));
  if (o.fec !== false && mods.length > 0) {
    const symbols: Uint8Array[] = [];
    for (const m of mods) {
      for (let at = 0; at < m.bytes.length; at += o.blockSize) {
        const s = new Uint8Array(o.blockSize);
        s.set(m.bytes.subarray(at, Math.min(at + o.blockSize, m.bytes.length)));
        symbols.push(s);
      }
    }
    const blocks = splitBlocks(symbols.length, o.fec.maxSourceSymbols, o.fec.ratio);
    const repair: Uint8Array[] = [];
    let first = 0;
    for (const b of blocks) {
      repair.push(...encodeRepair(symbols.slice(first, first + b.k), b.r));
      first += b.k;
    }
    if (repair.length > 0) {
      const bytes = new Uint8Array(repair.length * o.blockSize);
      repair.forEach((r, i) => bytes.set(r, i * o.blockSize));
      const covered = mods.map((m) => idFor(mem, `m:${m.name}`));
      const info = { ...fecInfo(tier, ident, set, { scheme: FEC_SCHEME_RS8, covered, blocks }), sha256: sha256(bytes) };
      drafts.push({ key: `f:${tier}:${ident}`, info, bytes });
    }
  }
  const modules: PlanModule[] = [];
  const entries: DiiModule[] = [];
  for (const d of drafts) {
    const id = idFor(mem, d.key);
    const digest = `${d.info.kind}/${d.info.tier}/${toHex(d.info.sha256)}/${d.bytes.length}`;
    const prev = mem.modules.get(d.key);
    const version = prev === undefined ? 0 : prev.digest === digest ? prev.version : (prev.version + 1) & 0xff;
    mem.modules.set(d.key, { version, digest });
    const n = symbolsOf(d.bytes.length, o.blockSize);
    if (n > 0x10000) throw new CarouselError('input', `module ${JSON.stringify(d.info.name)} needs more than 65536 blocks`);
    const ddb: Uint8Array[] = [];
    for (let b = 0; b < n; b++) {
      const data = d.bytes.subarray(b * o.blockSize, Math.min((b + 1) * o.blockSize, d.bytes.length));
      ddb.push(encodeDdb({ downloadId, moduleId: id, version, block: b, data }, n - 1));
    }
    modules.push({ id, name: d.info.name, version, size: d.bytes.length, tier, fec: d.info.kind === 'fec', ddb });
    entries.push({ id, size: d.bytes.length, version, info: d.info });
  }
  const digest = entries.map((e) => `${e.id}.${e.version}`).join(',');
  const prev = mem.groups.get(ident);
  const gversion = prev === undefined ? 0 : prev.digest === digest ? prev.version : (prev.version + 1) & 0x3fff;
  mem.groups.set(ident, { version: gversion, digest });
  const txid = transactionId(gversion, ident);
  const dii = encodeDii({ transactionId: txid, downloadId, blockSize: o.blockSize, modules: entries, compat: o.compat });
  return {
    tier,
    transactionId: txid,
    modules,
    dii,
    ring: modules.flatMap((m) => m.ddb),
    sourceBytes: mods.reduce((n, m) => n + m.bytes.length, 0),
    sourceAirtime: modules.filter((m) => !m.fec).reduce((n, m) => n + m.ddb.reduce((k, d) => k + d.length, 0), 0),
  };
}

function idFor(mem: PlanMemory, key: string): number {
  let id = mem.ids.get(key);
  if (id === undefined) {
    if (mem.nextId > 0xfffe) throw new CarouselError('input', 'module ids exhausted (65534)');
    id = mem.nextId++;
    mem.ids.set(key, id);
  }
  return id;
}
