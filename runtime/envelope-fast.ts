// The envelope codec's fast path off the box (head-end, Node box, benches): the record's frame
// (version, kind, ids, addresses, deadline, op, ext) is written and read by hand, the body by
// cbor-x; the bytes are exactly what EnvelopeCodec's cbor-x path writes and reads (property tests
// in test/runtime/envelope-fast.test.ts hold the two together). Any shape outside the common one
// (non-ASCII text, long strings, odd number forms) answers undefined: the caller takes the
// general path, which also names every error. No validation of meaning here, no I/O.

import type { Decoder, Encoder } from 'cbor-x';
import type { Address } from './address.ts';
import { type Envelope, KINDS } from './envelope.ts';
import { DecodeError } from './errors.ts';

/** The general path decides: the frame is not in the common shape. (An object, not a Symbol():
 * the firmware build must see this module as free of side effects to leave it out.) */
const NO = { generalPath: true } as const;
const CHUNK = 64 * 1024;
/** Bytes of the frame beside its strings: array headers, ids, port numbers, deadline, simple values. */
const FRAME_FIXED = 64;
const MAX_TEXT = 0xffff;
/** EnvelopeCodec's limit on `op` (envelope.ts). */
const MAX_OP = 64;
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
  #end = 0;
  #bytesBody = false;
  #strs: string[] = [];
  #strBytes: Uint8Array[] = [];
  #nextStr = 0;
  #f64 = new Float64Array(1);
  #f64b = new Uint8Array(this.#f64.buffer);
  #le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  /** Node's Buffer, which cbor-x writes as a plain byte string like Uint8Array. */
  #buffer = (globalThis as { Buffer?: unknown }).Buffer;

  /** Checks one decoded address (EnvelopeCodec's, with its caches of valid strings). */
  #address: (raw: unknown[], field: string) => Address;

  constructor(enc: Encoder, dec: Decoder, address: (raw: unknown[], field: string) => Address) {
    this.#enc = enc;
    this.#dec = dec;
    this.#address = address;
  }

  /**
   * The envelope after `before` free bytes and followed by `after` free bytes (a datagram's header
   * and trailer), or undefined for the general path. `kind` is its wire code, `ext` the checked
   * extension map. Throws only what encoding the body throws.
   */
  encode(env: Envelope, kind: number, ext: Record<string, string> | undefined, before: number, after: number): Uint8Array | undefined {
    this.plain = false;
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
    p = this.#writeAddress(t, p, src);
    if (p < 0) return undefined;
    p = this.#writeAddress(t, p, dst);
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
    this.plain = bodyHead === 5 || bodyBytes === undefined;
    return t.subarray(start, p + after);
  }

  /**
   * The last record encode() wrote or decode() read holds no map, so no `__proto__` key (D15): its
   * body was none or a byte string (the frame has no map; an ext map, by and tp only, is never
   * read here). The codec then skips its byte scan for one, ~0.15 us per envelope.
   */
  plain = false;

  // The fields of the last frame decode() read (EnvelopeCodec checks their meaning): no array per
  // message, none per address. `kind`, `id` are numbers; the others null where the wire has null.
  kind = 0;
  id = 0;
  corr: number | null = null;
  /** Each address as cbor-x decodes one, [vaddr, queue, host, port]: two arrays filled in place. */
  readonly src: unknown[] = [null, null, null, null];
  readonly dst: unknown[] = [null, null, null, null];
  deadline: number | null = null;
  op: string | null = null;
  body: unknown;

  /**
   * Read the record in `b` from `from` to `end` (a datagram's payload in place) into the fields
   * above, as cbor-x would decode it; false for the general path (nothing is half-read then).
   */
  decode(b: Uint8Array, from = 0, end = b.length): boolean {
    if (b[from] !== 0x89 || b[from + 1] !== 1) return false;
    this.#b = b;
    this.#p = from + 2;
    this.#end = end;
    const kind = this.#uint();
    const id = this.#uint();
    const corr = this.#uintOrNull();
    if (kind === NO || id === NO || corr === NO || this.#addr(0) === NO || this.#addr(1) === NO) return false;
    const deadline = this.#deadline();
    const op = this.#textOrNull();
    if (deadline === NO || op === NO) return false;
    const body = this.#body();
    if (body === NO) return false;
    this.plain = body === undefined || this.#bytesBody;
    this.kind = kind as number;
    this.id = id as number;
    this.corr = corr as number | null;
    this.deadline = deadline as number | null;
    this.op = op as string | null;
    this.body = body;
    return true;
  }

  /**
   * The envelope of the frame decode() read, its fields checked as EnvelopeCodec checks the general
   * path's, in the same order and with the same errors.
   */
  envelope(): Envelope {
    const address = this.#address;
    const k = KINDS[this.kind];
    if (k === undefined) throw new DecodeError(`unknown kind ${this.kind}`);
    const env: Envelope = { v: 1, kind: k, id: this.id, src: address(this.src, 'src'), dst: address(this.dst, 'dst') };
    if (this.corr !== null) env.corr = this.corr;
    const deadline = this.deadline;
    if (deadline !== null) {
      if (!Number.isFinite(deadline) || deadline < 0) throw new DecodeError('bad deadline');
      env.deadline = deadline;
    }
    const op = this.op;
    if (op !== null) {
      if (op.length > MAX_OP) throw new DecodeError('bad op');
      env.op = op;
    }
    if (this.body !== undefined) env.body = this.body;
    return env;
  }

  #writeAddress(t: Uint8Array, p: number, a: Address): number {
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
    const end = this.#end;
    if (this.#p >= end) return NO;
    const h = b[this.#p++] as number;
    if (h < 0x18) return h;
    const p = this.#p;
    if (h === 0x18 && p < end) return (this.#p = p + 1), b[p] as number;
    if (h === 0x19 && p + 1 < end) return (this.#p = p + 2), ((b[p] as number) << 8) | (b[p + 1] as number);
    if (h === 0x1a && p + 3 < end) return (this.#p = p + 4), ((b[p] as number) * 0x100_0000 + (((b[p + 1] as number) << 16) | ((b[p + 2] as number) << 8) | (b[p + 3] as number)));
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
    if (p + 8 >= this.#end) return NO;
    for (let i = 0; i < 8; i++) this.#f64b[this.#le ? 7 - i : i] = b[p + 1 + i] as number;
    this.#p = p + 9;
    return this.#f64[0] as number;
  }

  /** One address into the src (0) or dst (1) fields. */
  #addr(which: 0 | 1): true | typeof NO {
    if (this.#b[this.#p++] !== 0x84) return NO;
    const vaddr = this.#textOrNull();
    const queue = this.#textOrNull();
    const host = this.#textOrNull();
    const port = this.#uintOrNull();
    if (vaddr === NO || queue === NO || host === NO || port === NO) return NO;
    const a = which === 0 ? this.src : this.dst;
    a[0] = vaddr;
    a[1] = queue;
    a[2] = host;
    a[3] = port;
    return true;
  }

  #textOrNull(): string | null | typeof NO {
    const b = this.#b;
    const end = this.#end;
    let p = this.#p;
    if (p >= end) return NO;
    const h = b[p++] as number;
    if (h === 0xf6) return (this.#p = p), null;
    let n: number;
    if (h >= 0x60 && h < 0x78) n = h - 0x60;
    else if (h === 0x78 && p < end) n = b[p++] as number;
    else return NO;
    if (p + n > end) return NO;
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
    // A copy (Buffer's slice is a view): the input's memory may be reused for other bytes later.
    this.#strBytes[slot] = Uint8Array.prototype.slice.call(b, p, p + n);
    return out;
  }

  #body(): unknown {
    const b = this.#b;
    const end = this.#end;
    const p = this.#p;
    if (p >= end) return NO;
    const h = b[p] as number;
    if (h === 0xf7 && p + 1 === end) return undefined;
    let n = -1;
    let at = p + 1;
    if (h >= 0x40 && h < 0x58) n = h - 0x40;
    else if (h === 0x58) n = at < end ? (b[at++] as number) : -1;
    else if (h === 0x59) n = at + 1 < end ? ((b[at] as number) << 8) | (b[(at += 2) - 1] as number) : -1;
    this.#bytesBody = n >= 0 && at + n === end;
    if (this.#bytesBody) return b.subarray(at, at + n);
    try {
      return this.#dec.decode(b.subarray(p, end));
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
