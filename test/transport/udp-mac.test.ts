// The datagram MAC's own HMAC-SHA256 equals node:crypto's for every length around the block
// boundaries, short and long keys, and random inputs; truncated tags verify, altered ones do not.

import test from 'ava';
import { createHmac } from 'node:crypto';
import { HmacSha256 } from '../../transport/udp-mac.ts';
import { prng } from '../_helpers/udp.ts';

const bytes = (rnd: () => number, n: number): Uint8Array => Uint8Array.from({ length: n }, () => Math.floor(rnd() * 256));

test('udp mac: HMAC-SHA256 equals createHmac for lengths 0..300 and keys of 16, 64 and 100 bytes', (t) => {
  const rnd = prng(3);
  for (const keyLen of [16, 32, 63, 64, 65, 100]) {
    const key = bytes(rnd, keyLen);
    const mac = new HmacSha256(key);
    for (let n = 0; n <= 300; n++) {
      const data = bytes(rnd, n);
      const want = createHmac('sha256', key).update(data).digest();
      if (!Buffer.from(mac.digest(data)).equals(want)) return t.fail(`key ${keyLen} bytes, data ${n} bytes`);
    }
  }
  const big = bytes(rnd, 65_507);
  const key = bytes(rnd, 32);
  t.deepEqual(Buffer.from(new HmacSha256(key).digest(big)), createHmac('sha256', key).update(big).digest());
});

test('udp mac: a truncated tag verifies; one flipped bit in data or tag does not', (t) => {
  const rnd = prng(4);
  const mac = new HmacSha256(bytes(rnd, 32));
  const data = bytes(rnd, 104);
  const tag = new Uint8Array(16);
  mac.sign(data, tag, 0, 16);
  t.true(mac.verify(data, tag));
  for (const at of [0, 7, 15]) {
    const bad = tag.slice();
    bad[at] = (bad[at] as number) ^ 1;
    t.false(mac.verify(data, bad));
  }
  const other = data.slice();
  other[50] = (other[50] as number) ^ 0x80;
  t.false(mac.verify(other, tag));
  t.false(mac.verify(data, new Uint8Array(33)), 'a tag longer than the digest never verifies');
});
