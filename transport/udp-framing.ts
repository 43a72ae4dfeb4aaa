// UDP datagram framing [c11]: the small binary header in front of each envelope fragment, and
// the ACK/NACK control datagrams. Pure byte work: no sockets, no timers, no state.
// docs/PROTOCOL.md ("UDP datagram framing") specifies the layout; change both together.

import type { Envelope, EnvelopeCodec } from '../runtime/index.ts';

/** "WF": every Weft datagram starts with these two bytes. */
export const MAGIC = 0x5746;
export const FRAME_VERSION = 1;

export const TYPE_DATA = 0;
export const TYPE_ACK = 1;
export const TYPE_NACK = 2;

/** The sender wants this transfer acknowledged (req, rep, err, ctl, ack envelopes). */
export const FLAG_RELIABLE = 0x01;
/** Last datagram of a sending round: the receiver answers with its state (ACK or NACK) at once. */
export const FLAG_POLL = 0x02;
/**
 * The datagram ends with an authentication trailer (udp-auth.ts). The auth layer checks and
 * clears it before parsing, so the parser refuses it: a receiver without the key drops it.
 */
export const FLAG_AUTH = 0x04;
const KNOWN_FLAGS = FLAG_RELIABLE | FLAG_POLL;

/** magic(2) version(1) type(1) flags(1) ackCount(1), then ackCount x uint32 transfer ids. */
export const COMMON_HEADER = 6;
/** DATA after the acks: transfer(4) index(2) count(2). */
export const DATA_FIELDS = 8;
/** NACK after the common header: transfer(4) count(2), then the bitmap. */
export const NACK_FIELDS = 6;
/** Acks a DATA datagram may carry; the fragment size leaves room for them. */
export const MAX_PIGGYBACK_ACKS = 8;
/** Bytes of one DATA header with the most piggybacked acks. */
export const MAX_DATA_HEADER = COMMON_HEADER + 4 * MAX_PIGGYBACK_ACKS + DATA_FIELDS;
export const MAX_FRAGMENTS = 0xffff;

export interface DataFrame {
  type: 'data';
  flags: number;
  acks: readonly number[];
  transfer: number;
  index: number;
  count: number;
  payload: Uint8Array;
}
export interface AckFrame {
  type: 'ack';
  acks: readonly number[];
}
export interface NackFrame {
  type: 'nack';
  acks: readonly number[];
  transfer: number;
  count: number;
  /** Bit i (LSB first in byte i>>3) set: the receiver holds fragment i. */
  received: Uint8Array;
}
export type Frame = DataFrame | AckFrame | NackFrame;
/** Why a datagram was refused; each reason has its own counter. */
export type Malformed = 'magic' | 'header' | 'fragment';
export type Parsed = Frame | { type: 'bad'; reason: Malformed };

const NO_ACKS: readonly number[] = Object.freeze([]);
const BAD_MAGIC = { type: 'bad', reason: 'magic' } as const;
const BAD_HEADER = { type: 'bad', reason: 'header' } as const;
const BAD_FRAGMENT = { type: 'bad', reason: 'fragment' } as const;

// `reserve`: bytes left at the end for the authentication trailer (filled by udp-auth.ts).
function common(type: number, flags: number, acks: readonly number[], extra: number, reserve: number): Buffer {
  const n = acks.length;
  const b = Buffer.allocUnsafe(COMMON_HEADER + 4 * n + extra + reserve);
  b.writeUInt16BE(MAGIC, 0);
  b[2] = FRAME_VERSION;
  b[3] = type;
  b[4] = flags;
  b[5] = n;
  for (let i = 0; i < n; i++) b.writeUInt32BE(acks[i] as number, COMMON_HEADER + 4 * i);
  return b;
}

/** Header of one DATA datagram; the fragment payload follows it on the wire. */
export function dataHeader(flags: number, acks: readonly number[], transfer: number, index: number, count: number): Buffer {
  return dataDatagram(flags, acks, transfer, index, count, undefined);
}

/** One whole DATA datagram: header, then a copy of the fragment (one buffer, one iovec). */
export function dataDatagram(flags: number, acks: readonly number[], transfer: number, index: number, count: number, payload: Uint8Array | undefined, reserve = 0): Buffer {
  const b = common(TYPE_DATA, flags, acks, DATA_FIELDS + (payload === undefined ? 0 : payload.length), reserve);
  const at = COMMON_HEADER + 4 * acks.length;
  b.writeUInt32BE(transfer >>> 0, at);
  b.writeUInt16BE(index, at + 4);
  b.writeUInt16BE(count, at + 6);
  if (payload !== undefined) b.set(payload, at + DATA_FIELDS);
  return b;
}

/** Bytes of a DATA header carrying `acks` piggybacked acknowledgements. */
export function dataHeaderBytes(acks: number): number {
  return COMMON_HEADER + 4 * acks + DATA_FIELDS;
}

/**
 * The envelope encoded with `room` bytes for a DATA header in front (at most MAX_DATA_HEADER; the
 * exact header's size saves a view per datagram) and `tail` bytes behind (for dataDatagramAround).
 */
export function encodeForDatagram(codec: EnvelopeCodec, env: Envelope, tail: number, room = MAX_DATA_HEADER): Buffer {
  const f = codec.encode(env, room, tail);
  return Buffer.isBuffer(f) ? f : Buffer.from(f.buffer, f.byteOffset, f.byteLength);
}

/**
 * A DATA datagram around a payload already in place, without a copy: `framed` holds `room` free
 * bytes (at least the header's), the payload, then the trailer's room (encodeForDatagram); the
 * header is written just before the payload and the datagram starts there.
 */
export function dataDatagramAround(framed: Buffer, flags: number, acks: readonly number[], transfer: number, index: number, count: number, room = MAX_DATA_HEADER): Buffer {
  const n = acks.length;
  const start = room - dataHeaderBytes(n);
  if (start < 0) throw new RangeError(`no room for ${n} acks in front of the payload`);
  const b = framed;
  b[start] = MAGIC >> 8;
  b[start + 1] = MAGIC & 0xff;
  b[start + 2] = FRAME_VERSION;
  b[start + 3] = TYPE_DATA;
  b[start + 4] = flags;
  b[start + 5] = n;
  for (let i = 0; i < n; i++) put32(b, start + COMMON_HEADER + 4 * i, acks[i] as number);
  // Byte stores, not Buffer's writeUInt*BE (argument checks per call): this runs per datagram.
  const at = room - DATA_FIELDS;
  put32(b, at, transfer);
  b[at + 4] = index >>> 8;
  b[at + 5] = index & 0xff;
  b[at + 6] = count >>> 8;
  b[at + 7] = count & 0xff;
  return start === 0 ? b : b.subarray(start);
}

/** A standalone ACK datagram for 1..255 completed transfers. */
export function ackDatagram(acks: readonly number[], reserve = 0): Buffer {
  if (acks.length < 1 || acks.length > 255) throw new RangeError('an ACK carries 1..255 transfer ids');
  return common(TYPE_ACK, 0, acks, 0, reserve);
}

/** A NACK: which fragments of an incomplete transfer the receiver holds. */
export function nackDatagram(transfer: number, count: number, received: Uint8Array, reserve = 0): Buffer {
  const b = common(TYPE_NACK, 0, NO_ACKS, 6 + received.length, reserve);
  b.writeUInt32BE(transfer >>> 0, COMMON_HEADER);
  b.writeUInt16BE(count, COMMON_HEADER + 4);
  b.set(received, COMMON_HEADER + 6);
  return b;
}

export function bitmapBytes(count: number): number {
  return (count + 7) >>> 3;
}

/**
 * [issue 19] Where the payload of `d` (its first `end` bytes) starts when it is a valid DATA
 * datagram of one fragment, the common case, read in place: no frame object, no payload view.
 * -1 for anything else, which parseDatagram() then judges. Agrees with parseDatagram (property test).
 */
export function singleData(d: Uint8Array, end: number): number {
  if (end < COMMON_HEADER || d[0] !== MAGIC >> 8 || d[1] !== (MAGIC & 0xff) || d[2] !== FRAME_VERSION || d[3] !== TYPE_DATA) return -1;
  const at = COMMON_HEADER + 4 * (d[5] as number) + DATA_FIELDS;
  // count (the last two header bytes) 1, index 0, flags known, a payload behind.
  if (end <= at || d[at - 1] !== 1 || d[at - 2] !== 0 || d[at - 3] !== 0 || d[at - 4] !== 0 || ((d[4] as number) & ~KNOWN_FLAGS) !== 0) return -1;
  return at;
}

/** The `i`th acknowledgement a datagram carries (singleData's: header byte 5 says how many). */
export function ackAt(d: Uint8Array, i: number): number {
  return u32(d, COMMON_HEADER + 4 * i);
}

/** The transfer id of a DATA datagram whose payload starts at `at` (singleData). */
export function transferBefore(d: Uint8Array, at: number): number {
  return u32(d, at - DATA_FIELDS);
}

/** Parse one untrusted datagram. Never throws; a bad datagram gives the reason. */
export function parseDatagram(d: Uint8Array): Parsed {
  const len = d.length;
  if (len < 2 || ((d[0] as number) << 8) + (d[1] as number) !== MAGIC) return BAD_MAGIC;
  if (len < COMMON_HEADER) return BAD_HEADER;
  const type = d[3] as number;
  const flags = d[4] as number;
  const n = d[5] as number;
  if (d[2] !== FRAME_VERSION || (flags & ~KNOWN_FLAGS) !== 0) return BAD_HEADER;
  let at = COMMON_HEADER + 4 * n;
  if (len < at) return BAD_HEADER;
  let acks = NO_ACKS;
  if (n > 0) {
    const list: number[] = new Array<number>(n);
    for (let i = 0; i < n; i++) list[i] = u32(d, COMMON_HEADER + 4 * i);
    acks = list;
  }
  switch (type) {
    case TYPE_DATA: {
      if (len < at + DATA_FIELDS) return BAD_HEADER;
      const transfer = u32(d, at);
      const index = u16(d, at + 4);
      const count = u16(d, at + 6);
      at += DATA_FIELDS;
      if (count === 0 || index >= count || len === at) return BAD_FRAGMENT;
      return { type: 'data', flags, acks, transfer, index, count, payload: d.subarray(at) };
    }
    case TYPE_ACK:
      if (n === 0 || len !== at || flags !== 0) return BAD_HEADER;
      return { type: 'ack', acks };
    case TYPE_NACK: {
      if (len < at + 6 || flags !== 0) return BAD_HEADER;
      const transfer = u32(d, at);
      const count = u16(d, at + 4);
      if (count === 0 || len !== at + 6 + bitmapBytes(count)) return BAD_FRAGMENT;
      return { type: 'nack', acks, transfer, count, received: d.subarray(at + 6) };
    }
    default:
      return BAD_HEADER;
  }
}

function put32(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}

function u32(d: Uint8Array, at: number): number {
  return (((d[at] as number) << 24) | ((d[at + 1] as number) << 16) | ((d[at + 2] as number) << 8) | (d[at + 3] as number)) >>> 0;
}

function u16(d: Uint8Array, at: number): number {
  return ((d[at] as number) << 8) | (d[at + 1] as number);
}

export function hasBit(bitmap: Uint8Array, i: number): boolean {
  return (((bitmap[i >>> 3] as number) >>> (i & 7)) & 1) === 1;
}

export function setBit(bitmap: Uint8Array, i: number): void {
  bitmap[i >>> 3] = (bitmap[i >>> 3] as number) | (1 << (i & 7));
}
