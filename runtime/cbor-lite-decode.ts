// The decoding half of the small CBOR codec (runtime/cbor-lite.ts): strict and bounded, for
// untrusted bytes. It yields what cbor-x's Decoder yields (useRecords: false) for every item
// Weft's encoder writes: maps as objects (mapsAsObjects: true; a `__proto__` key renamed to
// `__proto_` as cbor-x does, which the codecs then refuse by name, D15) or as Maps (false), tag
// 259 as a Map, byte strings as views of the input, 64-bit integers as bigints. Everything else is
// refused: other tags, indefinite lengths, simple values beyond false/true/null/undefined,
// nesting past MAX_DECODE_DEPTH, a length larger than the bytes left, trailing bytes. No I/O here.

export const MAX_DECODE_DEPTH = 128;

const DECODER_OPTIONS = ['useRecords', 'mapsAsObjects'];
const utf8 = new TextDecoder();
const MAP_TAG = 259;
const EMPTY = new Uint8Array(0);
const KEY_SLOTS = 512;

/** Decodes one CBOR item; each decoder is independent (no shared module state). */
export class Decoder {
  readonly #objects: boolean;
  #src: Uint8Array = EMPTY;
  // Floats and 64-bit integers are read from a copy in this scratch: no DataView per input.
  #scratch = new Uint8Array(8);
  #view = new DataView(this.#scratch.buffer);
  #pos = 0;
  #budget = 0;
  #keyBytes = new Array<Uint8Array | undefined>(KEY_SLOTS);
  #keyStrings = new Array<string | undefined>(KEY_SLOTS);

  constructor(options: Record<string, unknown> = {}) {
    for (const k of Object.keys(options)) if (!DECODER_OPTIONS.includes(k)) throw new Error(`cbor-lite: unknown decoder option "${k}"`);
    if (options.useRecords !== undefined && options.useRecords !== false) throw new Error('cbor-lite: decoder option useRecords must be false');
    if (options.mapsAsObjects !== undefined && typeof options.mapsAsObjects !== 'boolean') throw new Error('cbor-lite: decoder option mapsAsObjects must be a boolean');
    this.#objects = options.mapsAsObjects !== false;
  }

  /** The one item in `bytes`. Throws an Error naming the fault on anything malformed or out of bounds. */
  decode(bytes: Uint8Array): unknown {
    if (!(bytes instanceof Uint8Array)) throw new Error('cbor-lite: input must be a Uint8Array');
    this.#src = bytes;
    this.#pos = 0;
    this.#budget = bytes.length; // items that containers may declare, summed: each takes >= 1 byte
    try {
      const v = this.#item(0, this.#objects);
      if (this.#pos !== bytes.length) throw new Error(`cbor-lite: ${bytes.length - this.#pos} bytes after the item`);
      return v;
    } finally {
      this.#src = EMPTY; // hold no reference to the caller's bytes
    }
  }

  #dv(p: number, n: number): DataView {
    for (let i = 0; i < n; i++) this.#scratch[i] = this.#src[p + i] as number;
    return this.#view;
  }

  #need(n: number): void {
    if (n > this.#src.length - this.#pos) throw new Error(`cbor-lite: unexpected end of input (${n} bytes needed at ${this.#pos})`);
  }

  /** The argument of a head with additional info `ai`: a number, or a bigint past 2^53 for 64-bit. */
  #arg(ai: number, major: number): number | bigint {
    if (ai < 0x18) return ai;
    const p = this.#pos;
    switch (ai) {
      case 0x18:
        this.#need(1);
        this.#pos += 1;
        return this.#src[p] as number;
      case 0x19:
        this.#need(2);
        this.#pos += 2;
        return (this.#src[p] as number) * 0x100 + (this.#src[p + 1] as number);
      case 0x1a:
        this.#need(4);
        this.#pos += 4;
        return u32(this.#src, p);
      case 0x1b:
        this.#need(8);
        this.#pos += 8;
        if (major > 1) {
          if (u32(this.#src, p) !== 0) throw new Error('cbor-lite: a length past 2^32');
          return u32(this.#src, p + 4);
        }
        return this.#dv(p, 8).getBigUint64(0);
      default:
        throw new Error(ai === 0x1f ? 'cbor-lite: indefinite lengths are refused' : `cbor-lite: reserved additional info ${ai}`);
    }
  }

  #length(ai: number, major: number, per: number): number {
    const n = this.#arg(ai, major) as number;
    if (n * per > this.#src.length - this.#pos) throw new Error(`cbor-lite: a length of ${n} is more than the ${this.#src.length - this.#pos} bytes left`);
    if (major >= 4 && (this.#budget -= n * per) < 0) throw new Error('cbor-lite: containers declare more items than the input holds');
    return n;
  }

  #item(depth: number, objects: boolean): unknown {
    this.#need(1);
    const ib = this.#src[this.#pos++] as number;
    const major = ib >> 5;
    const ai = ib & 0x1f;
    switch (major) {
      case 0:
        return this.#arg(ai, major);
      case 1: {
        const n = this.#arg(ai, major);
        return typeof n === 'bigint' ? -1n - n : -1 - n;
      }
      case 2: {
        const n = this.#length(ai, major, 1);
        return this.#src.subarray(this.#pos, (this.#pos += n));
      }
      case 3:
        return this.#string(this.#length(ai, major, 1));
      case 4: {
        const n = this.#length(ai, major, 1);
        if (depth >= MAX_DECODE_DEPTH) throw new Error(`cbor-lite: nested deeper than ${MAX_DECODE_DEPTH}`);
        const a = new Array<unknown>(n);
        for (let i = 0; i < n; i++) a[i] = this.#item(depth + 1, objects);
        return a;
      }
      case 5:
        if (depth >= MAX_DECODE_DEPTH) throw new Error(`cbor-lite: nested deeper than ${MAX_DECODE_DEPTH}`);
        return objects ? this.#object(this.#length(ai, major, 2), depth) : this.#map(this.#length(ai, major, 2), depth, objects);
      case 6:
        return this.#tagged(ai, depth, objects);
      default:
        return this.#simple(ai);
    }
  }

  #string(n: number): string {
    const s = this.#src;
    const start = this.#pos;
    this.#pos += n;
    if (n <= 64) {
      // Short ASCII (keys, addresses, ops) without the decoder's call overhead.
      const units = new Array<number>(n);
      for (let i = 0; i < n; i++) {
        const c = s[start + i] as number;
        if (c >= 0x80) return utf8.decode(s.subarray(start, start + n));
        units[i] = c;
      }
      return String.fromCharCode.apply(null, units);
    }
    return utf8.decode(s.subarray(start, start + n));
  }

  #object(n: number, depth: number): Record<string, unknown> {
    const o: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) {
      const k = this.#key(depth);
      o[k] = this.#item(depth + 1, true);
    }
    return o;
  }

  // A short text key is looked up by its bytes first: state and bodies repeat their keys, and a
  // hit costs a compare instead of a new string. Bounded: KEY_SLOTS entries, each replaced on miss.
  #key(depth: number): string {
    const s = this.#src;
    const ib = s[this.#pos] as number;
    const n = ib - 0x60;
    const start = this.#pos + 1;
    if (n < 1 || n > 0x17 || n > s.length - start) return safeKey(this.#item(depth + 1, true));
    let h = n;
    for (let i = start; i < start + n; i++) h = (h * 31 + (s[i] as number)) | 0;
    const slot = h & (KEY_SLOTS - 1);
    const hit = this.#keyBytes[slot];
    if (hit !== undefined && hit.length === n) {
      let i = 0;
      while (i < n && hit[i] === s[start + i]) i++;
      if (i === n) {
        this.#pos = start + n;
        return this.#keyStrings[slot] as string;
      }
    }
    const k = safeKey(this.#item(depth + 1, true));
    this.#keyBytes[slot] = s.slice(start, start + n);
    this.#keyStrings[slot] = k;
    return k;
  }

  #map(n: number, depth: number, objects: boolean): Map<unknown, unknown> {
    const m = new Map<unknown, unknown>();
    for (let i = 0; i < n; i++) {
      const k = this.#item(depth + 1, objects);
      m.set(k, this.#item(depth + 1, objects));
    }
    return m;
  }

  // Tag 259 (an explicit Map, what cbor-x writes for a Map) directly on a map; no other tag.
  #tagged(ai: number, depth: number, objects: boolean): Map<unknown, unknown> {
    const tag = this.#arg(ai, 6);
    if (tag !== MAP_TAG) throw new Error(`cbor-lite: tag ${String(tag)} is refused`);
    this.#need(1);
    const ib = this.#src[this.#pos++] as number;
    if (ib >> 5 !== 5) throw new Error('cbor-lite: tag 259 must be on a map');
    if (depth >= MAX_DECODE_DEPTH) throw new Error(`cbor-lite: nested deeper than ${MAX_DECODE_DEPTH}`);
    return this.#map(this.#length(ib & 0x1f, 5, 2), depth, objects);
  }

  #simple(ai: number): unknown {
    const p = this.#pos;
    switch (ai) {
      case 20:
        return false;
      case 21:
        return true;
      case 22:
        return null;
      case 23:
        return undefined;
      case 25:
        this.#need(2);
        this.#pos += 2;
        return half((this.#src[p] as number) * 0x100 + (this.#src[p + 1] as number));
      case 26:
        this.#need(4);
        this.#pos += 4;
        return this.#dv(p, 4).getFloat32(0);
      case 27:
        this.#need(8);
        this.#pos += 8;
        return this.#dv(p, 8).getFloat64(0);
      default:
        throw new Error(ai === 31 ? 'cbor-lite: a break outside an indefinite item' : `cbor-lite: simple value ${ai} is refused`);
    }
  }
}

function u32(s: Uint8Array, p: number): number {
  return (s[p] as number) * 0x100_0000 + (((s[p + 1] as number) << 16) | ((s[p + 2] as number) << 8) | (s[p + 3] as number));
}

/** A map key as an object property name, exactly as cbor-x names it. */
function safeKey(k: unknown): string {
  if (typeof k === 'string') return k === '__proto__' ? '__proto_' : k;
  if (typeof k === 'number' || typeof k === 'boolean' || typeof k === 'bigint') return k.toString();
  if (k === null || k === undefined) return String(k);
  throw new Error(`cbor-lite: a map key of type ${typeof k} cannot name a property`);
}

function half(h: number): number {
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  const sign = h & 0x8000 ? -1 : 1;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}
