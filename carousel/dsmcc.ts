// ISO/IEC 13818-6 download messages in MPEG-2 private sections: DSI and DII (table_id 0x3B) and
// DDB (table_id 0x3C), each with a CRC-32 [c1]. Pure byte work; decode throws CarouselError only.
// docs/CAROUSEL.md ("Section layout") specifies every field; change both together.

import { Reader, Writer } from './bytes.ts';
import { crc32mpeg2 } from './crc32.ts';
import {
  type Compatibility,
  type ModuleInfo,
  decodeAppDescriptor,
  decodeCompat,
  decodeGroupInfo,
  decodeModuleInfo,
  encodeApp,
  encodeCompat,
  encodeGroupInfo,
  encodeModuleInfo,
} from './descriptors.ts';
import { CarouselError } from './errors.ts';
import type { Tier } from './module-set.ts';

export const TID_UN_MESSAGE = 0x3b;
export const TID_DDB = 0x3c;
export const MSG_DII = 0x1002;
export const MSG_DDB = 0x1003;
export const MSG_DSI = 0x1006;
const PROTOCOL = 0x11;
const DSMCC_TYPE_DOWNLOAD = 0x03;
/** A private section is at most 4096 bytes: 3 bytes of header plus section_length <= 4093. */
export const MAX_SECTION = 4096;
/** Bytes of DSM-CC message a section can hold: 4096 - 8 (section header) - 4 (CRC). */
export const MAX_MESSAGE = MAX_SECTION - 12;
/** Largest DDB payload: MAX_MESSAGE - 12 (download data header) - 6 (DDB fields) = 4066. */
export const MAX_BLOCK_SIZE = MAX_MESSAGE - 18;

export interface DsiGroup {
  /** The transactionId of the group's DII. */
  groupId: number;
  /** Sum of the group's module sizes. */
  size: number;
  tier: Tier;
}

export interface DsiMessage {
  type: 'dsi';
  transactionId: number;
  groups: DsiGroup[];
  appId: string;
  appVersion: string;
  compat?: Compatibility;
}

export interface DiiModule {
  id: number;
  size: number;
  version: number;
  info: ModuleInfo;
}

export interface DiiMessage {
  type: 'dii';
  transactionId: number;
  downloadId: number;
  blockSize: number;
  modules: DiiModule[];
  compat?: Compatibility;
}

export interface DdbMessage {
  type: 'ddb';
  downloadId: number;
  moduleId: number;
  version: number;
  block: number;
  data: Uint8Array;
}

export type DsmccMessage = DsiMessage | DiiMessage | DdbMessage;

/** What tells one module's blocks from another's: enough to decide whether a block is wanted. */
export type BlockKey = Pick<DdbMessage, 'downloadId' | 'moduleId' | 'version'>;

// ---------- encoding ----------

function section(tableId: number, tide: number, version: number, secNum: number, lastSecNum: number, message: Uint8Array): Uint8Array {
  if (message.length > MAX_MESSAGE) throw new CarouselError('input', `DSM-CC message of ${message.length} bytes does not fit one section (max ${MAX_MESSAGE})`);
  const total = 8 + message.length + 4;
  const s = new Uint8Array(total);
  const len = total - 3;
  s[0] = tableId;
  s[1] = 0x80 | 0x30 | (len >>> 8); // syntax indicator 1, private indicator 0, reserved 11
  s[2] = len & 0xff;
  s[3] = (tide >>> 8) & 0xff;
  s[4] = tide & 0xff;
  s[5] = 0xc0 | ((version & 0x1f) << 1) | 0x01; // reserved 11, version, current_next 1
  s[6] = secNum & 0xff;
  s[7] = lastSecNum & 0xff;
  s.set(message, 8);
  const crc = crc32mpeg2(s, 0, total - 4);
  s[total - 4] = crc >>> 24;
  s[total - 3] = (crc >>> 16) & 0xff;
  s[total - 2] = (crc >>> 8) & 0xff;
  s[total - 1] = crc & 0xff;
  return s;
}

/** dsmccMessageHeader / dsmccDownloadDataHeader (12 bytes, no adaptation) then the body. */
function message(messageId: number, id: number, body: Uint8Array): Uint8Array {
  const w = new Writer(12 + body.length);
  w.u8(PROTOCOL).u8(DSMCC_TYPE_DOWNLOAD).u16(messageId).u32(id >>> 0).u8(0xff).u8(0).u16(body.length).bytes(body);
  return w.finish();
}

export function encodeDsi(m: Omit<DsiMessage, 'type'>): Uint8Array {
  const gii = new Writer(64);
  gii.u16(m.groups.length);
  for (const g of m.groups) {
    const info = encodeGroupInfo(g.tier);
    gii.u32(g.groupId >>> 0).u32(g.size >>> 0);
    encodeCompat(gii, m.compat);
    gii.u16(info.length).bytes(info);
  }
  const app = encodeApp(m.appId, m.appVersion);
  gii.u16(app.length).bytes(app);
  const gi = gii.finish();
  const body = new Writer(24 + gi.length);
  for (let i = 0; i < 20; i++) body.u8(0xff); // serverId: all ones in a broadcast carousel
  body.u16(0); // compatibilityDescriptor() of the DSI itself: empty
  body.u16(gi.length).bytes(gi);
  return section(TID_UN_MESSAGE, m.transactionId & 0xffff, 0, 0, 0, message(MSG_DSI, m.transactionId, body.finish()));
}

export function encodeDii(m: Omit<DiiMessage, 'type'>): Uint8Array {
  const w = new Writer(512);
  w.u32(m.downloadId >>> 0).u16(m.blockSize).u8(0).u8(0).u32(0).u32(0); // window, ackPeriod, tC window/scenario unused
  encodeCompat(w, m.compat);
  w.u16(m.modules.length);
  for (const mod of m.modules) {
    const info = encodeModuleInfo(mod.info);
    w.u16(mod.id).u32(mod.size >>> 0).u8(mod.version).u8(info.length).bytes(info);
  }
  w.u16(0); // privateDataLength
  return section(TID_UN_MESSAGE, m.transactionId & 0xffff, 0, 0, 0, message(MSG_DII, m.transactionId, w.finish()));
}

export function encodeDdb(m: Omit<DdbMessage, 'type'>, lastBlock: number): Uint8Array {
  const w = new Writer(6 + m.data.length);
  w.u16(m.moduleId).u8(m.version).u8(0xff).u16(m.block).bytes(m.data);
  // 13818-6 9.2.2: table_id_extension = moduleId, version_number = moduleVersion mod 32,
  // section_number = blockNumber mod 256 (last_section_number likewise for the module's last block).
  return section(TID_DDB, m.moduleId, m.version, m.block, Math.min(lastBlock, 255), message(MSG_DDB, m.downloadId, w.finish()));
}

// ---------- decoding ----------

/** Decode one complete section. Throws CarouselError for anything malformed, including a bad CRC. */
export function decodeSection(bytes: Uint8Array): DsmccMessage {
  if (!(bytes instanceof Uint8Array)) throw new CarouselError('section', 'input is not bytes');
  if (bytes.length < 12) throw new CarouselError('section', `too short (${bytes.length} bytes)`);
  const tid = bytes[0] as number;
  const b1 = bytes[1] as number;
  const len = ((b1 & 0x0f) << 8) | (bytes[2] as number);
  if (tid !== TID_UN_MESSAGE && tid !== TID_DDB) throw new CarouselError('section', `table_id 0x${tid.toString(16)} is not a DSM-CC download section`);
  if ((b1 & 0x80) === 0) throw new CarouselError('section', 'section_syntax_indicator 0 (checksum sections are not accepted)');
  if ((b1 & 0x40) !== 0) throw new CarouselError('section', 'private_indicator must be 0 when section_syntax_indicator is 1');
  if (len + 3 !== bytes.length || len > MAX_SECTION - 3) throw new CarouselError('section', `section_length ${len} does not match ${bytes.length} bytes`);
  if (crc32mpeg2(bytes) !== 0) throw new CarouselError('section', 'CRC-32 mismatch');
  const tide = ((bytes[3] as number) << 8) | (bytes[4] as number);
  const version = ((bytes[5] as number) >>> 1) & 0x1f;
  const r = new Reader(bytes, 'message', 8, bytes.length - 4);
  if (r.u8('protocolDiscriminator') !== PROTOCOL) r.fail('protocolDiscriminator is not 0x11');
  if (r.u8('dsmccType') !== DSMCC_TYPE_DOWNLOAD) r.fail('dsmccType is not 0x03 (U-N download)');
  const messageId = r.u16('messageId');
  const id = r.u32('transactionId');
  r.u8('reserved');
  const adaptation = r.u8('adaptationLength');
  const msgLen = r.u16('messageLength');
  if (msgLen !== r.left) r.fail(`messageLength ${msgLen} does not match the ${r.left} bytes left in the section`);
  if (adaptation > msgLen) r.fail('adaptationLength beyond the message');
  r.take(adaptation, 'dsmccAdaptationHeader');
  if (tid === TID_DDB) {
    if (messageId !== MSG_DDB) r.fail(`messageId 0x${messageId.toString(16)} in a DDB section`);
    const moduleId = r.u16('moduleId');
    const mversion = r.u8('moduleVersion');
    r.u8('reserved');
    const block = r.u16('blockNumber');
    if (moduleId !== tide) r.fail('table_id_extension differs from moduleId');
    if ((mversion & 0x1f) !== version) r.fail('version_number differs from moduleVersion mod 32');
    if ((block & 0xff) !== bytes[6]) r.fail('section_number differs from blockNumber mod 256');
    return { type: 'ddb', downloadId: id, moduleId, version: mversion, block, data: r.take(r.left) };
  }
  if ((id & 0xffff) !== tide) r.fail('table_id_extension differs from the low 16 bits of transactionId');
  if (messageId === MSG_DII) return decodeDii(r, id);
  if (messageId === MSG_DSI) return decodeDsi(r, id);
  return r.fail(`unsupported messageId 0x${messageId.toString(16)}`);
}

function decodeDii(r: Reader, transactionId: number): DiiMessage {
  const downloadId = r.u32('downloadId');
  const blockSize = r.u16('blockSize');
  if (blockSize === 0 || blockSize > MAX_BLOCK_SIZE) r.fail(`blockSize ${blockSize} outside 1..${MAX_BLOCK_SIZE}`);
  r.u8('windowSize');
  r.u8('ackPeriod');
  r.u32('tCDownloadWindow');
  r.u32('tCDownloadScenario');
  const compat = decodeCompat(r);
  const n = r.u16('numberOfModules');
  const modules: DiiModule[] = [];
  const ids = new Set<number>();
  for (let i = 0; i < n; i++) {
    const id = r.u16('moduleId');
    const size = r.u32('moduleSize');
    const version = r.u8('moduleVersion');
    const info = decodeModuleInfo(r.take(r.u8('moduleInfoLength'), 'moduleInfo'));
    if (ids.has(id)) r.fail(`moduleId ${id} listed twice`);
    if (Math.ceil(size / blockSize) > 0x10000) r.fail(`module ${id} of ${size} bytes needs more than 65536 blocks`);
    ids.add(id);
    modules.push({ id, size, version, info });
  }
  r.take(r.u16('privateDataLength'), 'privateData');
  r.end('DII');
  const m: DiiMessage = { type: 'dii', transactionId, downloadId, blockSize, modules };
  if (compat !== undefined) m.compat = compat;
  return m;
}

function decodeDsi(r: Reader, transactionId: number): DsiMessage {
  r.take(20, 'serverId');
  decodeCompat(r);
  const gi = r.sub(r.u16('privateDataLength'), 'GroupInfoIndication');
  r.end('DSI');
  const groups: DsiGroup[] = [];
  let compat: Compatibility | undefined;
  const count = gi.u16('NumberOfGroups');
  for (let i = 0; i < count; i++) {
    const groupId = gi.u32('GroupId');
    const size = gi.u32('GroupSize');
    const c = decodeCompat(gi);
    compat ??= c;
    const tier = decodeGroupInfo(gi.take(gi.u16('GroupInfoLength'), 'GroupInfo'));
    groups.push({ groupId, size, tier });
  }
  const app = decodeAppDescriptor(gi.take(gi.u16('PrivateDataLength'), 'GroupInfo private data'));
  gi.end('GroupInfoIndication');
  if (app === undefined) return gi.fail('DSI lacks the Weft app descriptor');
  const m: DsiMessage = { type: 'dsi', transactionId, groups, appId: app.appId, appVersion: app.appVersion };
  if (compat !== undefined) m.compat = compat;
  return m;
}
