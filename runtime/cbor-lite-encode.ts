// The encoding half of the small CBOR codec (runtime/cbor-lite.ts): the subset Weft writes, with
// the same bytes cbor-x writes under Weft's one set of encoder options (useRecords: false,
// mapsAsObjects: true, tagUint8Array: false, useFloat32: 0, variableMapSize: true). What cbor-x
// would write with a tag (Date, Set, typed arrays other than Uint8Array, class instances) is
// refused by name instead: Weft never sends those. No I/O here.

/** Nesting deeper than this is refused (cbor-x would overflow the stack on a cycle). */
export const MAX_ENCODE_DEPTH = 256;

const ENCODER_OPTIONS: Record<string, unknown> = { useRecords: false, mapsAsObjects: true, tagUint8Array: false, useFloat32: 0, variableMapSize: true };
const NodeBuffer = (globalThis as { Buffer?: { from(b: Uint8Array): Uint8Array } }).Buffer;
const utf8 = new TextEncoder();

/** Encodes values the way cbor-x's Encoder does with Weft's options; each holds its own buffer. */
export class Encoder {
  #buf = new Uint8Array(8192);
  #view = new DataView(this.#buf.buffer);
  #pos = 0;

  constructor(options: Record<string, unknown> = {}) {
    for (const [k, v] of Object.entries(options)) {
      if (!(k in ENCODER_OPTIONS)) throw new Error(`cbor-lite: unknown encoder option "${k}"`);
      if (v !== ENCODER_OPTIONS[k]) throw new Error(`cbor-lite: encoder option ${k} must be ${String(ENCODER_OPTIONS[k])}`);
    }
  }

  /** The CBOR bytes of `value` (a Buffer under Node, as cbor-x returns). Throws on what it cannot encode. */
  encode(value: unknown): Uint8Array {
    this.#pos = 0;
    this.#value(value, 0);
    const out = this.#buf.subarray(0, this.#pos);
    return NodeBuffer ? NodeBuffer.from(out) : out.slice();
  }

  #room(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    const next = new Uint8Array(Math.max(this.#buf.length * 2, this.#pos + n + 1024));
    next.set(this.#buf); // all of it: a string may sit past #pos while its header is written
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }

  /** A major type and its argument, in the shortest form (all lengths and uint32 integers). */
  #head(major: number, n: number): void {
    this.#room(9);
    const b = this.#buf;
    if (n < 0x18) b[this.#pos++] = major | n;
    else if (n < 0x100) {
      b[this.#pos++] = major | 0x18;
      b[this.#pos++] = n;
    } else if (n < 0x10000) {
      b[this.#pos++] = major | 0x19;
      b[this.#pos++] = n >> 8;
      b[this.#pos++] = n & 0xff;
    } else {
      b[this.#pos++] = major | 0x1a;
      this.#view.setUint32(this.#pos, n);
      this.#pos += 4;
    }
  }

  #value(v: unknown, depth: number): void {
    switch (typeof v) {
      case 'string':
        return this.#string(v);
      case 'number':
        return this.#number(v);
      case 'boolean':
        this.#room(1);
        this.#buf[this.#pos++] = v ? 0xf5 : 0xf4;
        return;
      case 'undefined':
        this.#room(1);
        this.#buf[this.#pos++] = 0xf7;
        return;
      case 'bigint':
        return this.#bigint(v);
      case 'object':
        if (v === null) {
          this.#room(1);
          this.#buf[this.#pos++] = 0xf6;
          return;
        }
        if (depth >= MAX_ENCODE_DEPTH) throw new Error(`cbor-lite: nested deeper than ${MAX_ENCODE_DEPTH}`);
        return this.#object(v, depth + 1);
      default:
        throw new Error(`cbor-lite: cannot encode a ${typeof v}`);
    }
  }

  #number(n: number): void {
    if (n >>> 0 === n) return this.#head(0x00, n);
    if (n >> 0 === n) return this.#head(0x20, -1 - n);
    if (n < 0 && n >= -0x1_0000_0000 && Math.floor(n) === n) {
      this.#room(5);
      this.#buf[this.#pos++] = 0x3a;
      this.#view.setUint32(this.#pos, -1 - n);
      this.#pos += 4;
      return;
    }
    this.#room(9);
    this.#buf[this.#pos++] = 0xfb;
    this.#view.setFloat64(this.#pos, n);
    this.#pos += 8;
  }

  #bigint(n: bigint): void {
    const neg = n < 0n;
    const u = neg ? -n - 1n : n;
    // cbor-x writes -2^64 itself as a tag-3 bignum, so it is refused here with the rest.
    if (u >= (neg ? (1n << 64n) - 1n : 1n << 64n)) throw new Error('cbor-lite: a bigint beyond 64 bits is not encoded');
    this.#room(9);
    this.#buf[this.#pos++] = neg ? 0x3b : 0x1b;
    this.#view.setBigUint64(this.#pos, u);
    this.#pos += 8;
  }

  // As cbor-x: a short string by hand (a lone surrogate as its 3 bytes), a long one with the
  // platform's UTF-8 encoder (a lone surrogate as U+FFFD); the header always the shortest.
  #string(s: string): void {
    const len = s.length;
    if (len < 0x40) {
      this.#room(2 + len * 3);
      const b = this.#buf;
      const start = this.#pos + (len < 0x18 ? 1 : 2);
      let p = start;
      let ascii = true;
      for (let i = 0; i < len; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) {
          ascii = false;
          break;
        }
        b[p++] = c;
      }
      if (!ascii) p = writeWtf8(b, s, start);
      const n = p - start;
      if (n >= 0x18 && start === this.#pos + 1) b.copyWithin(start + 1, start, p);
      this.#head(0x60, n);
      this.#pos += n;
      return;
    }
    const max = len * 3;
    this.#room(5 + max);
    const hs = max < 0x100 ? 2 : max < 0x10000 ? 3 : 5;
    const { written } = utf8.encodeInto(s, this.#buf.subarray(this.#pos + hs, this.#pos + hs + max));
    const need = written < 0x18 ? 1 : written < 0x100 ? 2 : written < 0x10000 ? 3 : 5;
    if (need !== hs) this.#buf.copyWithin(this.#pos + need, this.#pos + hs, this.#pos + hs + written);
    this.#head(0x60, written);
    this.#pos += written;
  }

  #bytes(u: Uint8Array): void {
    this.#head(0x40, u.byteLength);
    this.#room(u.byteLength);
    this.#buf.set(u, this.#pos);
    this.#pos += u.byteLength;
  }

  #object(v: object, depth: number): void {
    const ctor = (v as { constructor?: unknown }).constructor;
    if (ctor === Array) {
      const a = v as unknown[];
      this.#head(0x80, a.length);
      for (let i = 0; i < a.length; i++) this.#value(a[i], depth);
      return;
    }
    if (ctor === Object || Object.getPrototypeOf(v) === null) {
      const keys = Object.keys(v);
      this.#head(0xa0, keys.length);
      for (const k of keys) {
        this.#string(k);
        this.#value((v as Record<string, unknown>)[k], depth);
      }
      return;
    }
    if (ctor === Map) {
      this.#room(3);
      this.#buf[this.#pos++] = 0xd9; // tag 259: an explicit Map (cbor-x's mapsAsObjects: true)
      this.#buf[this.#pos++] = 0x01;
      this.#buf[this.#pos++] = 0x03;
      const m = v as Map<unknown, unknown>;
      this.#head(0xa0, m.size);
      for (const [k, x] of m) {
        this.#value(k, depth);
        this.#value(x, depth);
      }
      return;
    }
    if (v instanceof Uint8Array && (ctor === Uint8Array || isNodeBuffer(v))) return this.#bytes(v);
    const name = typeof ctor === 'function' && typeof ctor.name === 'string' ? ctor.name : 'object';
    throw new Error(`cbor-lite: cannot encode a ${name} (plain objects, arrays, Maps and Uint8Arrays only)`);
  }
}

function isNodeBuffer(v: Uint8Array): boolean {
  const B = globalThis as { Buffer?: { isBuffer(x: unknown): boolean } };
  return B.Buffer !== undefined && B.Buffer.isBuffer(v);
}

/** UTF-8 of `s` at `p`, a lone surrogate written as its own 3 bytes (cbor-x's short-string path). */
function writeWtf8(b: Uint8Array, s: string, p: number): number {
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) b[p++] = c;
    else if (c < 0x800) {
      b[p++] = (c >> 6) | 0xc0;
      b[p++] = (c & 0x3f) | 0x80;
    } else if ((c & 0xfc00) === 0xd800 && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      c = 0x10000 + ((c & 0x03ff) << 10) + (s.charCodeAt(++i) & 0x03ff);
      b[p++] = (c >> 18) | 0xf0;
      b[p++] = ((c >> 12) & 0x3f) | 0x80;
      b[p++] = ((c >> 6) & 0x3f) | 0x80;
      b[p++] = (c & 0x3f) | 0x80;
    } else {
      b[p++] = (c >> 12) | 0xe0;
      b[p++] = ((c >> 6) & 0x3f) | 0x80;
      b[p++] = (c & 0x3f) | 0x80;
    }
  }
  return p;
}
