// Erasure code over DDB blocks: systematic Reed-Solomon over GF(2^8) with a Cauchy generator.
// k source symbols and r <= 255 - k repair symbols; ANY k of the k + r recover the source.
// Pure arithmetic on equal-length symbols; docs/CAROUSEL.md ("FEC") says why this code.

import { CarouselError } from './errors.ts';

const EXP = new Uint8Array(512);
const LOG = new Uint8Array(256);
(() => {
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= 0x11d; // x^8 + x^4 + x^3 + x^2 + 1, a primitive polynomial
  }
  for (let i = 255; i < 512; i++) EXP[i] = EXP[i - 255] as number;
})();

export const MAX_SYMBOLS = 255;

function mul(a: number, b: number): number {
  return a === 0 || b === 0 ? 0 : (EXP[(LOG[a] as number) + (LOG[b] as number)] as number);
}

function inv(a: number): number {
  if (a === 0) throw new CarouselError('fec', 'inverse of zero');
  return EXP[255 - (LOG[a] as number)] as number;
}

/** Coefficient of source j in repair i: 1 / (x_i + y_j), x_i = k + i, y_j = j (all distinct). */
function cauchy(k: number, i: number, j: number): number {
  return inv((k + i) ^ j);
}

/** dst ^= c * src, bytewise in GF(2^8). */
function mulAdd(dst: Uint8Array, src: Uint8Array, c: number): void {
  if (c === 0) return;
  if (c === 1) {
    for (let b = 0; b < dst.length; b++) dst[b] = (dst[b] as number) ^ (src[b] as number);
    return;
  }
  const row = new Uint8Array(256);
  const lc = LOG[c] as number;
  for (let v = 1; v < 256; v++) row[v] = EXP[lc + (LOG[v] as number)] as number;
  for (let b = 0; b < dst.length; b++) dst[b] = (dst[b] as number) ^ (row[src[b] as number] as number);
}

function checkShape(k: number, r: number): void {
  if (!Number.isInteger(k) || !Number.isInteger(r) || k < 1 || r < 0 || k + r > MAX_SYMBOLS) {
    throw new CarouselError('fec', `k=${k}, r=${r}: need k >= 1, r >= 0, k + r <= ${MAX_SYMBOLS}`);
  }
}

/** The r repair symbols of k equal-length source symbols. */
export function encodeRepair(source: readonly Uint8Array[], r: number): Uint8Array[] {
  const k = source.length;
  checkShape(k, r);
  const size = (source[0] as Uint8Array).length;
  for (const s of source) if (s.length !== size) throw new CarouselError('fec', 'source symbols differ in length');
  const out: Uint8Array[] = [];
  for (let i = 0; i < r; i++) {
    const rep = new Uint8Array(size);
    for (let j = 0; j < k; j++) mulAdd(rep, source[j] as Uint8Array, cauchy(k, i, j));
    out.push(rep);
  }
  return out;
}

/**
 * Recover the missing source symbols. `symbols[i]` for i < k is source i, for i >= k repair
 * i - k; undefined where not received. Returns the k source symbols, or undefined when fewer
 * than k symbols are present. Throws CarouselError for inconsistent shapes.
 */
export function decodeSource(k: number, r: number, symbols: readonly (Uint8Array | undefined)[], size: number): Uint8Array[] | undefined {
  checkShape(k, r);
  if (symbols.length !== k + r) throw new CarouselError('fec', `expected ${k + r} symbol slots, got ${symbols.length}`);
  for (const s of symbols) if (s !== undefined && s.length !== size) throw new CarouselError('fec', 'symbol of the wrong length');
  const missing: number[] = [];
  for (let j = 0; j < k; j++) if (symbols[j] === undefined) missing.push(j);
  const out = symbols.slice(0, k) as Uint8Array[];
  if (missing.length === 0) return out;
  const rows: number[] = [];
  for (let i = 0; i < r && rows.length < missing.length; i++) if (symbols[k + i] !== undefined) rows.push(i);
  if (rows.length < missing.length) return undefined;
  const m = missing.length;
  // Right-hand side: each repair minus the contribution of the sources we have.
  const rhs = rows.map((i) => {
    const acc = (symbols[k + i] as Uint8Array).slice();
    for (let j = 0; j < k; j++) {
      const s = symbols[j];
      if (s !== undefined) mulAdd(acc, s, cauchy(k, i, j));
    }
    return acc;
  });
  // Invert the m x m Cauchy submatrix (always invertible) by Gauss-Jordan elimination.
  const a = rows.map((i) => missing.map((j) => cauchy(k, i, j)));
  const b = rows.map((_, t) => missing.map((_, u): number => (t === u ? 1 : 0)));
  for (let col = 0; col < m; col++) {
    let piv = col;
    while (piv < m && (a[piv] as number[])[col] === 0) piv++;
    if (piv === m) throw new CarouselError('fec', 'singular system');
    [a[col], a[piv]] = [a[piv] as number[], a[col] as number[]];
    [b[col], b[piv]] = [b[piv] as number[], b[col] as number[]];
    const ac = a[col] as number[];
    const bc = b[col] as number[];
    const f = inv(ac[col] as number);
    for (let c = 0; c < m; c++) {
      ac[c] = mul(ac[c] as number, f);
      bc[c] = mul(bc[c] as number, f);
    }
    for (let row = 0; row < m; row++) {
      const ar = a[row] as number[];
      const g = ar[col] as number;
      if (row === col || g === 0) continue;
      const br = b[row] as number[];
      for (let c = 0; c < m; c++) {
        ar[c] = (ar[c] as number) ^ mul(g, ac[c] as number);
        br[c] = (br[c] as number) ^ mul(g, bc[c] as number);
      }
    }
  }
  missing.forEach((j, t) => {
    const x = new Uint8Array(size);
    const bt = b[t] as number[];
    for (let u = 0; u < m; u++) mulAdd(x, rhs[u] as Uint8Array, bt[u] as number);
    out[j] = x;
  });
  return out;
}

/** Split `total` source symbols into code blocks of at most `maxK` (sizes differ by at most one). */
export function splitBlocks(total: number, maxK: number, ratio: number): { k: number; r: number }[] {
  if (total === 0) return [];
  const count = Math.ceil(total / maxK);
  const base = Math.floor(total / count);
  const extra = total % count;
  return Array.from({ length: count }, (_, i) => {
    const k = base + (i < extra ? 1 : 0);
    return { k, r: Math.min(MAX_SYMBOLS - k, Math.ceil(k * ratio)) };
  });
}
