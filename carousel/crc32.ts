// CRC-32/MPEG-2 (ISO/IEC 13818-1 annex A): polynomial 0x04C11DB7, initial value 0xFFFFFFFF,
// no reflection, no final XOR. A section is intact when the CRC over it, CRC field included, is 0.
// Slicing-by-4 (four bytes per step): every received section is checked, so this is a hot path.

const T = (() => {
  const t = new Uint32Array(4 * 256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    t[i] = c >>> 0;
  }
  // T[k][i]: the CRC contribution of byte i followed by k zero bytes.
  for (let k = 1; k < 4; k++) {
    for (let i = 0; i < 256; i++) {
      const p = t[(k - 1) * 256 + i] as number;
      t[k * 256 + i] = ((p << 8) ^ (t[p >>> 24] as number)) >>> 0;
    }
  }
  return t;
})();

export function crc32mpeg2(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0xffffffff;
  let i = start;
  for (; i + 4 <= end; i += 4) {
    crc ^= ((bytes[i] as number) << 24) | ((bytes[i + 1] as number) << 16) | ((bytes[i + 2] as number) << 8) | (bytes[i + 3] as number);
    crc = (T[768 + (crc >>> 24)] as number) ^ (T[512 + ((crc >>> 16) & 0xff)] as number) ^ (T[256 + ((crc >>> 8) & 0xff)] as number) ^ (T[crc & 0xff] as number);
  }
  for (; i < end; i++) crc = (crc << 8) ^ (T[((crc >>> 24) ^ (bytes[i] as number)) & 0xff] as number);
  return crc >>> 0;
}
