// Bounds-checked big-endian byte reader and a growable writer for the codecs. The reader throws
// CarouselError (never RangeError) so that decoding untrusted bytes has one failure type.

import { CarouselError, type CarouselErrorWhere } from './errors.ts';

export class Reader {
  readonly bytes: Uint8Array;
  readonly where: CarouselErrorWhere;
  #pos: number;
  #end: number;

  constructor(bytes: Uint8Array, where: CarouselErrorWhere, start = 0, end = bytes.length) {
    this.bytes = bytes;
    this.where = where;
    this.#pos = start;
    this.#end = end;
  }

  get pos(): number {
    return this.#pos;
  }

  get left(): number {
    return this.#end - this.#pos;
  }

  fail(reason: string): never {
    throw new CarouselError(this.where, reason, { offset: this.#pos });
  }

  #need(n: number, what: string): number {
    if (n > this.#end - this.#pos) this.fail(`truncated ${what}: need ${n} bytes, have ${this.#end - this.#pos}`);
    const at = this.#pos;
    this.#pos += n;
    return at;
  }

  u8(what = 'u8'): number {
    return this.bytes[this.#need(1, what)] as number;
  }

  u16(what = 'u16'): number {
    const at = this.#need(2, what);
    return ((this.bytes[at] as number) << 8) | (this.bytes[at + 1] as number);
  }

  u24(what = 'u24'): number {
    const at = this.#need(3, what);
    return ((this.bytes[at] as number) << 16) | ((this.bytes[at + 1] as number) << 8) | (this.bytes[at + 2] as number);
  }

  u32(what = 'u32'): number {
    const at = this.#need(4, what);
    return (
      (((this.bytes[at] as number) << 24) | ((this.bytes[at + 1] as number) << 16) | ((this.bytes[at + 2] as number) << 8) | (this.bytes[at + 3] as number)) >>> 0
    );
  }

  /** A view (no copy) of the next n bytes. */
  take(n: number, what = 'bytes'): Uint8Array {
    const at = this.#need(n, what);
    return this.bytes.subarray(at, at + n);
  }

  /** A sub-reader over the next n bytes; this reader skips past them. */
  sub(n: number, what: string): Reader {
    const at = this.#need(n, what);
    return new Reader(this.bytes, this.where, at, at + n);
  }

  /** Fail unless every byte was consumed. */
  end(what: string): void {
    if (this.#pos !== this.#end) this.fail(`${this.#end - this.#pos} unexpected trailing bytes after ${what}`);
  }
}

export class Writer {
  #buf: Uint8Array;
  #len = 0;

  constructor(capacity = 256) {
    this.#buf = new Uint8Array(capacity);
  }

  get length(): number {
    return this.#len;
  }

  #room(n: number): number {
    if (this.#len + n > this.#buf.length) {
      const next = new Uint8Array(Math.max(this.#buf.length * 2, this.#len + n));
      next.set(this.#buf.subarray(0, this.#len));
      this.#buf = next;
    }
    const at = this.#len;
    this.#len += n;
    return at;
  }

  u8(v: number): this {
    const at = this.#room(1);
    this.#buf[at] = v & 0xff;
    return this;
  }

  u16(v: number): this {
    const at = this.#room(2);
    this.#buf[at] = (v >>> 8) & 0xff;
    this.#buf[at + 1] = v & 0xff;
    return this;
  }

  u24(v: number): this {
    const at = this.#room(3);
    this.#buf[at] = (v >>> 16) & 0xff;
    this.#buf[at + 1] = (v >>> 8) & 0xff;
    this.#buf[at + 2] = v & 0xff;
    return this;
  }

  u32(v: number): this {
    const at = this.#room(4);
    this.#buf[at] = (v >>> 24) & 0xff;
    this.#buf[at + 1] = (v >>> 16) & 0xff;
    this.#buf[at + 2] = (v >>> 8) & 0xff;
    this.#buf[at + 3] = v & 0xff;
    return this;
  }

  bytes(b: Uint8Array): this {
    const at = this.#room(b.length); // may replace #buf: take the offset first
    this.#buf.set(b, at);
    return this;
  }

  /** Overwrite a u16 written earlier (for length fields known only at the end). */
  patch16(at: number, v: number): void {
    this.#buf[at] = (v >>> 8) & 0xff;
    this.#buf[at + 1] = v & 0xff;
  }

  finish(): Uint8Array {
    return this.#buf.slice(0, this.#len);
  }
}

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

export function encodeText(s: string): Uint8Array {
  return utf8.encode(s);
}

/** Decode UTF-8 from untrusted bytes; invalid sequences are a CarouselError. */
export function decodeText(b: Uint8Array, where: CarouselErrorWhere, what: string): string {
  try {
    return utf8Strict.decode(b);
  } catch (cause) {
    throw new CarouselError(where, `${what} is not valid UTF-8`, { cause });
  }
}

export function toHex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

export function fromHex(s: string): Uint8Array {
  const out = new Uint8Array(s.length >>> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(i * 2, i * 2 + 2), 16);
  return out;
}
