// HMAC-SHA256 (RFC 2104) with the key's pads prepared once, for a MAC on every datagram.
// createHmac re-derives the keyed state and builds a JS object per call (~2.1 us on a
// 120-byte datagram); two one-shot crypto.hash calls over prepared pad buffers cost less.

import * as crypto from 'node:crypto';

const BLOCK = 64;
const DIGEST = 32;

type OneShot = (algorithm: string, data: Uint8Array, encoding: 'buffer') => Buffer;
// crypto.hash exists from Node 20.12 / 21.7; older Nodes fall back to createHmac.
const oneShot: OneShot | undefined = typeof (crypto as { hash?: unknown }).hash === 'function' ? (crypto as unknown as { hash: OneShot }).hash : undefined;

export class HmacSha256 {
  readonly #key: Buffer;
  /** ipad-xored key block, then room for the message (grown on demand). */
  #inner: Buffer;
  /** opad-xored key block, then the inner digest. */
  readonly #outer = Buffer.alloc(BLOCK + DIGEST);

  constructor(key: Uint8Array) {
    // RFC 2104: keys longer than the block are hashed first; shorter ones are zero-padded.
    const k = key.length > BLOCK ? crypto.createHash('sha256').update(key).digest() : Buffer.from(key);
    this.#key = k;
    this.#inner = Buffer.alloc(BLOCK + 1500);
    for (let i = 0; i < BLOCK; i++) {
      const b = k[i] ?? 0;
      this.#inner[i] = b ^ 0x36;
      this.#outer[i] = b ^ 0x5c;
    }
  }

  /** The full 32-byte HMAC-SHA256 of `data`. */
  digest(data: Uint8Array): Buffer {
    if (oneShot === undefined) return crypto.createHmac('sha256', this.#key).update(data).digest();
    const need = BLOCK + data.length;
    if (this.#inner.length < need) {
      const grown = Buffer.alloc(need);
      this.#inner.copy(grown, 0, 0, BLOCK);
      this.#inner = grown;
    }
    this.#inner.set(data, BLOCK);
    this.#outer.set(oneShot('sha256', this.#inner.subarray(0, need), 'buffer'), BLOCK);
    return oneShot('sha256', this.#outer, 'buffer');
  }
}

/** Whether a and b (same length) hold the same bytes, in time independent of where they differ. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}
