// HMAC-SHA256 (RFC 2104, FIPS 180-4) for a MAC on every datagram, with the key's inner and
// outer pad blocks compressed once. createHmac re-derives that keyed state and builds JS
// objects per call (~2.1 us on a 120-byte datagram); here a 120-byte datagram costs three
// block compressions and no allocation. Checked against node:crypto in test/transport/udp-mac.test.ts.

import { createHash } from 'node:crypto';

const BLOCK = 64;
const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
  0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
  0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const IV = new Int32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);

/** One SHA-256 block compression of b[off, off + 64) into state H (w: 64-word scratch). */
function compress(H: Int32Array, w: Int32Array, b: Uint8Array, off: number): void {
  for (let i = 0; i < 16; i++) {
    const j = off + 4 * i;
    w[i] = ((b[j] as number) << 24) | ((b[j + 1] as number) << 16) | ((b[j + 2] as number) << 8) | (b[j + 3] as number);
  }
  for (let i = 16; i < 64; i++) {
    const x = w[i - 15] as number;
    const y = w[i - 2] as number;
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    w[i] = ((w[i - 16] as number) + s0 + (w[i - 7] as number) + s1) | 0;
  }
  let a = H[0] as number, bb = H[1] as number, c = H[2] as number, d = H[3] as number;
  let e = H[4] as number, f = H[5] as number, g = H[6] as number, h = H[7] as number;
  for (let i = 0; i < 64; i++) {
    const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + s1 + ((e & f) ^ (~e & g)) + (K[i] as number) + (w[i] as number)) | 0;
    const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (s0 + ((a & bb) ^ (a & c) ^ (bb & c))) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = bb;
    bb = a;
    a = (t1 + t2) | 0;
  }
  H[0] = ((H[0] as number) + a) | 0;
  H[1] = ((H[1] as number) + bb) | 0;
  H[2] = ((H[2] as number) + c) | 0;
  H[3] = ((H[3] as number) + d) | 0;
  H[4] = ((H[4] as number) + e) | 0;
  H[5] = ((H[5] as number) + f) | 0;
  H[6] = ((H[6] as number) + g) | 0;
  H[7] = ((H[7] as number) + h) | 0;
}

export class HmacSha256 {
  /** SHA-256 state after the ipad and the opad block: the keyed state, computed once. */
  readonly #innerStart = IV.slice();
  readonly #outerStart = IV.slice();
  readonly #h = new Int32Array(8);
  readonly #w = new Int32Array(64);
  /** The message and its padding, copied so compress only ever reads one array type (monomorphic). */
  #msg = new Uint8Array(1536);
  readonly #outer = new Uint8Array(BLOCK);

  constructor(key: Uint8Array) {
    // RFC 2104: keys longer than the block are hashed first; shorter ones are zero-padded.
    const k = key.length > BLOCK ? createHash('sha256').update(key).digest() : key;
    const pad = new Uint8Array(BLOCK);
    for (let i = 0; i < BLOCK; i++) pad[i] = (k[i] ?? 0) ^ 0x36;
    compress(this.#innerStart, this.#w, pad, 0);
    for (let i = 0; i < BLOCK; i++) pad[i] = (k[i] ?? 0) ^ 0x5c;
    compress(this.#outerStart, this.#w, pad, 0);
    // The outer message is always the 32-byte inner digest: its padding never changes.
    this.#outer[32] = 0x80;
    this.#outer[62] = ((BLOCK + 32) * 8) >>> 8;
    this.#outer[63] = ((BLOCK + 32) * 8) & 0xff;
  }

  /** The full 32-byte HMAC of `data` (allocates; the datagram path uses sign and verify). */
  digest(data: Uint8Array): Uint8Array {
    const out = new Uint8Array(32);
    this.sign(data, out, 0, 32);
    return out;
  }

  /** Write the first `n` (<= 32) bytes of the HMAC of `data` into out[at, at + n). */
  sign(data: Uint8Array, out: Uint8Array, at: number, n: number): void {
    const H = this.#run(data);
    for (let i = 0; i < n; i++) out[at + i] = ((H[i >>> 2] as number) >>> (24 - 8 * (i & 3))) & 0xff;
  }

  /** Whether `tag` is the first tag.length bytes of the HMAC of `data`, compared in constant time. */
  verify(data: Uint8Array, tag: Uint8Array): boolean {
    const H = this.#run(data);
    let diff = tag.length > 32 ? 1 : 0;
    for (let i = 0; i < tag.length && i < 32; i++) diff |= (((H[i >>> 2] as number) >>> (24 - 8 * (i & 3))) & 0xff) ^ (tag[i] as number);
    return diff === 0;
  }

  #run(data: Uint8Array): Int32Array {
    const H = this.#h;
    const w = this.#w;
    H.set(this.#innerStart);
    const n = data.length;
    // Padded length: the data, 0x80, zeros, the 8-byte bit length (ipad block included).
    const end = (Math.floor((n + 8) / BLOCK) + 1) * BLOCK;
    if (this.#msg.length < end) this.#msg = new Uint8Array(end);
    const m = this.#msg;
    m.set(data, 0);
    m.fill(0, n, end);
    m[n] = 0x80;
    const bits = (n + BLOCK) * 8;
    m[end - 5] = Math.floor(bits / 2 ** 32) & 0xff;
    m[end - 4] = bits >>> 24;
    m[end - 3] = (bits >>> 16) & 0xff;
    m[end - 2] = (bits >>> 8) & 0xff;
    m[end - 1] = bits & 0xff;
    for (let off = 0; off < end; off += BLOCK) compress(H, w, m, off);
    const outer = this.#outer;
    for (let i = 0; i < 32; i++) outer[i] = ((H[i >>> 2] as number) >>> (24 - 8 * (i & 3))) & 0xff;
    H.set(this.#outerStart);
    compress(H, w, outer, 0);
    return H;
  }
}
