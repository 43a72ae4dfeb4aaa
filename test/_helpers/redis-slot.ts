// The Redis Cluster hash slot of a hash tag (CRC16/XMODEM mod 16384), as Redis computes it, so a
// test can find the master that serves a session's keys.

export function slotOf(tag: string): number {
  let crc = 0;
  for (const b of Buffer.from(tag)) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}
