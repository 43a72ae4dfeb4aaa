// The envelope codec's fast path off the box (head-end, Node box, benches): the record's frame
// (version, kind, ids, addresses, deadline, op, ext) is written and read by hand, the body by
// cbor-x; the bytes are exactly what EnvelopeCodec's cbor-x path writes and reads (property tests
// in test/runtime/envelope-fast.test.ts hold the two together). Any shape outside the common one
// (non-ASCII text, long strings, odd number forms) answers undefined: the caller takes the
// general path, which also names every error. No validation of meaning here, no I/O.

import type { Decoder, Encoder } from 'cbor-x';
import type { Address } from './address.ts';
import type { Envelope } from './envelope.ts';

/** The general path decides: the frame is not in the common shape. (An object, not a Symbol():
 * the firmware build must see this module as free of side effects to leave it out.) */
const NO = { generalPath: true } as const;
const CHUNK = 64 * 1024;
/** Bytes of the frame beside its strings: array headers, ids, port numbers, deadline, simple values. */
const FRAME_FIXED = 64;
const MAX_TEXT = 0xffff;
const STRING_CACHE = 8;

export class EnvelopeFrames {
  #enc: Encoder;
  #dec: Decoder;
  // Output: bump-allocated from a chunk (a Buffer under Node, as cbor-x's) that is never written
  // twice (a sent envelope may be held for retransmission), as cbor-x does with its own buffer.
  #alloc: (n: number) => Uint8Array = (globalThis as { Buffer?: { allocUnsafeSlow(n: number): Uint8Array } }).Buffer?.allocUnsafeSlow ?? ((n) => new Uint8Array(n));
  #chunk = this.#alloc(CHUNK);
  #pos = 0;
  // Input cursor and the recent strings decoded (most traffic names the same few peers).
  #b: Uint8Array = new Uint8Array(0);
  #p = 0;
  #strs: string[] = [];
  #strBytes: Uint8Array[] = [];
  #nextStr = 0;
  #f64 = new Float64Array(1);
  #f64b = new Uint8Array(this.#f64.buffer);
  #le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  /** Node's Buffer, which cbor-x writes as a plain byte string like Uint8Array. */
  #buffer = (globalThis as { Buffer?: unknown }).Buffer;

  constructor(enc: Encoder, dec: Decoder) {
    this.#enc = enc;
    this.#dec = dec;
  }

  /**
   * The envelope after `before` free bytes and followed by `after` free bytes (a datagram's header
   * and trailer), or undefined for the general path. `kind` is its wire code, `ext` the checked
   * extension map. Throws only what encoding the body throws.
   */
  encode(env: Envelope, kind: number, ext: Record<string, string> | undefined, before: number, after: number): Uint8Array | undefined {
    const body = env.body;
    let bodyBytes: Uint8Array | undefined;
    let bodyHead = 1;
    if (body !== undefined) {
      const c = (body as { constructor?: unknown } | null)?.constructor;
      if (c === Uint8Array || (c !== undefined && c === this.#buffer)) {
        bodyBytes = body as Uint8Array;
        bodyHead = 5;
      } else bodyBytes = this.#enc.encode(body);
    }
    const src = env.src;
    const dst = env.dst;
    let max = FRAME_FIXED + before + after + bodyHead + (bodyBytes?.length ?? 0) + textRoom(env.op) + addressRoom(src) + addressRoom(dst);
    if (ext !== undefined) for (const k in ext) max += 6 + k.length + (ext[k] as string).length;
    if (max > CHUNK / 4) return undefined;
    if (this.#pos + max > CHUNK) {
      this.#chunk = this.#alloc(CHUNK);
      this.#pos = 0;
    }
    const t = this.#chunk;
    const start = this.#pos;
    let p = start + before;
    t[p++] = ext === undefined ? 0x89 : 0x8a;
    t[p++] = 1;
    t[p++] = kind;
    p = uint(t, p, env.id);
    p = env.corr === undefined ? nil(t, p) : uint(t, p, env.corr);
    p = this.#address(t, p, src);
    if (p < 0) return undefined;
    p = this.#address(t, p, dst);
    if (p < 0) return undefined;
    const d = env.deadline;
    if (d === undefined || d === null) p = nil(t, p);
    else if (typeof d === 'number' && d >>> 0 === d) p = uint(t, p, d);
    else if (typeof d === 'number' && d > 0xffff_ffff && d < Infinity) p = this.#float64(t, p, d);
    else return undefined;
    p = env.op === undefined ? nil(t, p) : text(t, p, env.op);
    if (p < 0) return undefined;
    if (bodyBytes === undefined) t[p++] = 0xf7;
    else if (bodyHead === 5) p = bytesItem(t, p, bodyBytes);
    else {
      t.set(bodyBytes, p);
      p += bodyBytes.length;
    }
    if (ext !== undefined) {
      const keys = Object.keys(ext);
      t[p++] = 0xa0 + keys.length;
      for (const k of keys) {
        p = text(t, p, k);
        if (p >= 0) p = text(t, p, ext[k] as string);
        if (p < 0) return undefined;
      }
    }
    this.#pos = p + after;
    return t.subarray(start, p + after);
  }

  /** The record as cbor-x decodes it (before EnvelopeCodec checks its meaning), or undefined for the general path. */
  decode(b: Uint8Array): unknown[] | undefined {
    if (b[0] !== 0x89 || b[1] !== 1) return undefined;
    this.#b = b;
    this.#p = 2;
    const kind = this.#uint();
    const id = this.#uint();
    const corr = this.#uintOrNull();
    const src = this.#addr();
    const dst = this.#addr();
    const deadline = this.#deadline();
    const op = this.#textOrNull();
    if (kind === NO || id === NO || corr === NO || src === NO || dst === NO || deadline === NO || op === NO) return undefined;
    const body = this.#body();
    if (body === NO) return undefined;
    return [1, kind, id, corr, src, dst, deadline, op, body];
  }

  #address(t: Uint8Array, p: number, a: Address): number {
    if (a === null || typeof a !== 'object') return -1;
    t[p++] = 0x84;
    p = a.vaddr === undefined || a.vaddr === null ? nil(t, p) : text(t, p, a.vaddr);
    if (p >= 0) p = a.queue === undefined || a.queue === null ? nil(t, p) : text(t, p, a.queue);
    const u = a.udp;
    if (u === undefined || u === null) {
      if (p >= 0) t[p++] = 0xf6;
      if (p >= 0) t[p++] = 0xf6;
      return p;
    }
    if (p >= 0) p = typeof u.host === 'string' ? text(t, p, u.host) : -1;
    return p >= 0 && typeof u.port === 'number' && u.port >>> 0 === u.port ? uint(t, p, u.port) : -1;
  }

  #float64(t: Uint8Array, p: number, v: number): number {
    this.#f64[0] = v;
    t[p++] = 0xfb;
    const b = this.#f64b;
    for (let i = 0; i < 8; i++) t[p++] = b[this.#le ? 7 - i : i] as number;
    return p;
  }

  #uint(): number | typeof NO {
    const b = this.#b;
    const h = b[this.#p++];
    if (h === undefined) return NO;
    if (h < 0x18) return h;
    const p = this.#p;
    if (h === 0x18 && p < b.length) return (this.#p = p + 1), b[p] as number;
    if (h === 0x19 && p + 1 < b.length) return (this.#p = p + 2), ((b[p] as number) << 8) | (b[p + 1] as number);
    if (h === 0x1a && p + 3 < b.length) return (this.#p = p + 4), ((b[p] as number) * 0x100_0000 + (((b[p + 1] as number) << 16) | ((b[p + 2] as number) << 8) | (b[p + 3] as number)));
    return NO;
  }

  #uintOrNull(): number | null | typeof NO {
    if (this.#b[this.#p] !== 0xf6) return this.#uint();
    this.#p++;
    return null;
  }

  #deadline(): number | null | typeof NO {
    const b = this.#b;
    const p = this.#p;
    if (b[p] !== 0xfb) return this.#uintOrNull();
    if (p + 8 >= b.length) return NO;
    for (let i = 0; i < 8; i++) this.#f64b[this.#le ? 7 - i : i] = b[p + 1 + i] as number;
    this.#p = p + 9;
    return this.#f64[0] as number;
  }

  #addr(): unknown[] | typeof NO {
    if (this.#b[this.#p++] !== 0x84) return NO;
    const vaddr = this.#textOrNull();
    const queue = this.#textOrNull();
    const host = this.#textOrNull();
    const port = this.#uintOrNull();
    if (vaddr === NO || queue === NO || host === NO || port === NO) return NO;
    return [vaddr, queue, host, port];
  }

  #textOrNull(): string | null | typeof NO {
    const b = this.#b;
    let p = this.#p;
    const h = b[p++];
    if (h === 0xf6) return (this.#p = p), null;
    let n: number;
    if (h !== undefined && h >= 0x60 && h < 0x78) n = h - 0x60;
    else if (h === 0x78 && p < b.length) n = b[p++] as number;
    else return NO;
    if (p + n > b.length) return NO;
    this.#p = p + n;
    return this.#ascii(b, p, n);
  }

  // Recently decoded strings are handed out again (no allocation, and `===` on them is a pointer
  // compare in the address caches); others are built from ASCII bytes, anything else is refused.
  #ascii(b: Uint8Array, p: number, n: number): string | typeof NO {
    const strs = this.#strBytes;
    for (let k = 0; k < strs.length; k++) {
      const s = strs[k] as Uint8Array;
      if (s.length !== n) continue;
      let i = 0;
      while (i < n && s[i] === b[p + i]) i++;
      if (i === n) return this.#strs[k] as string;
    }
    let out = '';
    for (let i = 0; i < n; i++) {
      const c = b[p + i] as number;
      if (c >= 0x80) return NO;
      out += String.fromCharCode(c);
    }
    const slot = this.#nextStr;
    this.#nextStr = (slot + 1) % STRING_CACHE;
    this.#strs[slot] = out;
    this.#strBytes[slot] = b.slice(p, p + n);
    return out;
  }

  #body(): unknown {
    const b = this.#b;
    const p = this.#p;
    const h = b[p] as number;
    if (h === 0xf7 && p + 1 === b.length) return undefined;
    let n = -1;
    let at = p + 1;
    if (h >= 0x40 && h < 0x58) n = h - 0x40;
    else if (h === 0x58) n = b[at++] ?? -1;
    else if (h === 0x59) n = at + 1 < b.length ? ((b[at] as number) << 8) | (b[(at += 2) - 1] as number) : -1;
    if (n >= 0 && at + n === b.length) return b.subarray(at, at + n);
    if (p >= b.length) return NO;
    try {
      return this.#dec.decode(b.subarray(p));
    } catch {
      return NO;
    }
  }
}

function nil(t: Uint8Array, p: number): number {
  t[p] = 0xf6;
  return p + 1;
}

function uint(t: Uint8Array, p: number, v: number): number {
  if (v < 0x18) t[p++] = v;
  else if (v < 0x100) {
    t[p++] = 0x18;
    t[p++] = v;
  } else if (v < 0x10000) {
    t[p++] = 0x19;
    t[p++] = v >> 8;
    t[p++] = v & 0xff;
  } else {
    t[p++] = 0x1a;
    t[p++] = v >>> 24;
    t[p++] = (v >> 16) & 0xff;
    t[p++] = (v >> 8) & 0xff;
    t[p++] = v & 0xff;
  }
  return p;
}

/** An ASCII text string with cbor-x's (minimal) header; -1 for anything else. */
function text(t: Uint8Array, p: number, s: string): number {
  if (typeof s !== 'string') return -1;
  const n = s.length;
  if (n > MAX_TEXT) return -1;
  if (n < 0x18) t[p++] = 0x60 + n;
  else if (n < 0x100) {
    t[p++] = 0x78;
    t[p++] = n;
  } else {
    t[p++] = 0x79;
    t[p++] = n >> 8;
    t[p++] = n & 0xff;
  }
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return -1;
    t[p++] = c;
  }
  return p;
}

function bytesItem(t: Uint8Array, p: number, v: Uint8Array): number {
  const n = v.length;
  if (n < 0x18) t[p++] = 0x40 + n;
  else if (n < 0x100) {
    t[p++] = 0x58;
    t[p++] = n;
  } else if (n < 0x10000) {
    t[p++] = 0x59;
    t[p++] = n >> 8;
    t[p++] = n & 0xff;
  } else {
    t[p++] = 0x5a;
    t[p++] = n >>> 24;
    t[p++] = (n >> 16) & 0xff;
    t[p++] = (n >> 8) & 0xff;
    t[p++] = n & 0xff;
  }
  t.set(v, p);
  return p + n;
}

function textRoom(s: unknown): number {
  return typeof s === 'string' ? s.length + 3 : 1;
}

function addressRoom(a: Address): number {
  return a === null || typeof a !== 'object' ? 0 : textRoom(a.vaddr) + textRoom(a.queue) + textRoom(a.udp?.host) + 6;
}
