// Descriptors inside DSM-CC messages: the compatibilityDescriptor (13818-6 6.1), the DVB
// name_descriptor (EN 301 192, tag 0x02), and Weft's private descriptors (tags 0x80-0x83) that
// carry module metadata in DII moduleInfo [c1]. Pure byte work; decoding throws CarouselError.

import { Reader, Writer, decodeText, encodeText } from './bytes.ts';
import { CarouselError } from './errors.ts';
import { MAX_NAME_BYTES, MAX_VERSION_BYTES, type ModuleKind, type Tier } from './module-set.ts';

export const TAG_NAME = 0x02;
export const TAG_WEFT_MODULE = 0x80;
export const TAG_WEFT_APP = 0x81;
export const TAG_WEFT_FEC = 0x82;
export const TAG_WEFT_GROUP = 0x83;
export const WEFT_FORMAT = 1;
/** FEC scheme 1: systematic Reed-Solomon over GF(2^8) with a Cauchy generator (fec.ts). */
export const FEC_SCHEME_RS8 = 1;

/** Module kinds on the wire; `fec` is the repair module of a group. Append-only. */
export type WireKind = ModuleKind | 'fec';
const KIND_CODES: readonly WireKind[] = ['client', 'server', 'mutable', 'peer', 'manifest', 'signature', 'data', 'fec'];
const TIER_CODES: readonly Tier[] = ['boot', 'fallback-1', 'fallback-2'];

export interface FecLayout {
  scheme: number;
  /** Module ids whose blocks, concatenated in this order, form the source symbols. */
  covered: number[];
  /** Source blocks of the code: k source and r repair symbols each (k + r <= 255). */
  blocks: { k: number; r: number }[];
}

export interface ModuleInfo {
  name: string;
  kind: WireKind;
  tier: Tier;
  sha256: Uint8Array;
  appId: string;
  appVersion: string;
  fec?: FecLayout;
}

export interface Compatibility {
  /** IEEE OUI of the specifier (24 bits). */
  oui: number;
  model: number;
  version: number;
}

export function tierCode(t: Tier): number {
  return TIER_CODES.indexOf(t);
}

export function tierFromCode(c: number, r: Reader): Tier {
  return TIER_CODES[c] ?? r.fail(`unknown tier code ${c}`);
}

export function encodeModuleInfo(info: ModuleInfo): Uint8Array {
  const w = new Writer(160);
  const name = encodeText(info.name);
  if (name.length === 0 || name.length > MAX_NAME_BYTES) throw new CarouselError('input', `module name must be 1..${MAX_NAME_BYTES} bytes`);
  w.u8(TAG_NAME).u8(name.length).bytes(name);
  if (info.sha256.length !== 32) throw new CarouselError('input', 'sha256 must be 32 bytes');
  w.u8(TAG_WEFT_MODULE).u8(35).u8(WEFT_FORMAT).u8(KIND_CODES.indexOf(info.kind)).u8(tierCode(info.tier)).bytes(info.sha256);
  w.bytes(encodeApp(info.appId, info.appVersion));
  if (info.fec !== undefined) {
    const f = info.fec;
    const len = 3 + 2 * f.covered.length + 2 * f.blocks.length;
    if (len > 255 || f.covered.length > 255 || f.blocks.length > 255) throw new CarouselError('input', 'FEC layout too large for one descriptor');
    w.u8(TAG_WEFT_FEC).u8(len).u8(f.scheme).u8(f.covered.length);
    for (const id of f.covered) w.u16(id);
    w.u8(f.blocks.length);
    for (const b of f.blocks) {
      if (b.k < 1 || b.r < 0 || b.k + b.r > 255) throw new CarouselError('input', `bad FEC block k=${b.k} r=${b.r}`);
      w.u8(b.k).u8(b.r);
    }
  }
  const out = w.finish();
  if (out.length > 255) throw new CarouselError('input', `moduleInfo of ${JSON.stringify(info.name)} is ${out.length} bytes (max 255)`);
  return out;
}

export function encodeApp(appId: string, appVersion: string): Uint8Array {
  const id = encodeText(appId);
  const ver = encodeText(appVersion);
  if (id.length === 0 || id.length > 63 || ver.length > MAX_VERSION_BYTES) throw new CarouselError('input', 'app id or version too long');
  return new Writer(8 + id.length + ver.length).u8(TAG_WEFT_APP).u8(2 + id.length + ver.length).u8(id.length).bytes(id).u8(ver.length).bytes(ver).finish();
}

function decodeApp(r: Reader): { appId: string; appVersion: string } {
  const appId = decodeText(r.take(r.u8('app id length'), 'app id'), 'descriptor', 'app id');
  const appVersion = decodeText(r.take(r.u8('app version length'), 'app version'), 'descriptor', 'app version');
  r.end('app descriptor');
  if (appId.length === 0) r.fail('empty app id');
  return { appId, appVersion };
}

/** Decode a descriptor loop of moduleInfo. Unknown tags are skipped; Weft's three are required. */
export function decodeModuleInfo(bytes: Uint8Array): ModuleInfo {
  const r = new Reader(bytes, 'descriptor');
  let name: string | undefined;
  let mod: { kind: WireKind; tier: Tier; sha256: Uint8Array } | undefined;
  let app: { appId: string; appVersion: string } | undefined;
  let fec: FecLayout | undefined;
  while (r.left > 0) {
    const tag = r.u8('descriptor tag');
    const d = r.sub(r.u8('descriptor length'), `descriptor 0x${tag.toString(16)}`);
    if (tag === TAG_NAME) {
      name = decodeText(d.take(d.left), 'descriptor', 'module name');
      if (name.length === 0) d.fail('empty module name');
    } else if (tag === TAG_WEFT_MODULE) {
      const format = d.u8('format');
      if (format !== WEFT_FORMAT) d.fail(`unsupported Weft descriptor format ${format}`);
      const kindCode = d.u8('kind');
      const kind = KIND_CODES[kindCode] ?? d.fail(`unknown module kind code ${kindCode}`);
      const tier = tierFromCode(d.u8('tier'), d);
      mod = { kind, tier, sha256: d.take(32, 'sha256').slice() };
      d.end('module descriptor');
    } else if (tag === TAG_WEFT_APP) {
      app = decodeApp(d);
    } else if (tag === TAG_WEFT_FEC) {
      const scheme = d.u8('scheme');
      const covered = Array.from({ length: d.u8('covered count') }, () => d.u16('covered id'));
      const blocks = Array.from({ length: d.u8('block count') }, () => ({ k: d.u8('k'), r: d.u8('r') }));
      d.end('FEC descriptor');
      for (const b of blocks) if (b.k === 0 || b.k + b.r > 255) d.fail(`bad FEC block k=${b.k} r=${b.r}`);
      fec = { scheme, covered, blocks };
    }
  }
  if (name === undefined || mod === undefined || app === undefined) {
    throw new CarouselError('descriptor', 'moduleInfo lacks the name, Weft module or Weft app descriptor');
  }
  if ((mod.kind === 'fec') !== (fec !== undefined)) throw new CarouselError('descriptor', 'FEC descriptor must be on the fec module and only there');
  const info: ModuleInfo = { name, ...mod, ...app };
  if (fec !== undefined) info.fec = fec;
  return info;
}

/** compatibilityDescriptor() with one system-software descriptor and no sub-descriptors. */
export function encodeCompat(w: Writer, c: Compatibility | undefined): void {
  if (c === undefined) {
    w.u16(0);
    return;
  }
  w.u16(2 + 11).u16(1);
  w.u8(0x02).u8(9).u8(0x01).u24(c.oui).u16(c.model).u16(c.version).u8(0);
}

export function decodeCompat(r: Reader): Compatibility | undefined {
  const len = r.u16('compatibilityDescriptorLength');
  if (len === 0) return undefined;
  const d = r.sub(len, 'compatibilityDescriptor');
  const count = d.u16('descriptorCount');
  let first: Compatibility | undefined;
  for (let i = 0; i < count; i++) {
    d.u8('descriptorType');
    const e = d.sub(d.u8('descriptorLength'), 'compatibility entry');
    const specType = e.u8('specifierType');
    const oui = e.u24('specifierData');
    const model = e.u16('model');
    const version = e.u16('version');
    const subs = e.u8('subDescriptorCount');
    for (let s = 0; s < subs; s++) {
      e.u8('subDescriptorType');
      e.take(e.u8('subDescriptorLength'), 'subDescriptor');
    }
    e.end('compatibility entry');
    if (first === undefined && specType === 0x01) first = { oui, model, version };
  }
  d.end('compatibilityDescriptor');
  return first ?? { oui: 0, model: 0, version: 0 };
}

/** GroupInfoBytes of one DSI group: Weft's group descriptor (the tier). */
export function encodeGroupInfo(tier: Tier): Uint8Array {
  return Uint8Array.of(TAG_WEFT_GROUP, 1, tierCode(tier));
}

export function decodeGroupInfo(bytes: Uint8Array): Tier {
  const r = new Reader(bytes, 'descriptor');
  let tier: Tier | undefined;
  while (r.left > 0) {
    const tag = r.u8('descriptor tag');
    const d = r.sub(r.u8('descriptor length'), 'group descriptor');
    if (tag === TAG_WEFT_GROUP) {
      tier = tierFromCode(d.u8('tier'), d);
      d.end('group descriptor');
    }
  }
  return tier ?? r.fail('group info lacks the Weft group descriptor');
}

export function decodeAppDescriptor(bytes: Uint8Array): { appId: string; appVersion: string } | undefined {
  const r = new Reader(bytes, 'descriptor');
  let app: { appId: string; appVersion: string } | undefined;
  while (r.left > 0) {
    const tag = r.u8('descriptor tag');
    const d = r.sub(r.u8('descriptor length'), 'private descriptor');
    if (tag === TAG_WEFT_APP) app = decodeApp(d);
  }
  return app;
}
