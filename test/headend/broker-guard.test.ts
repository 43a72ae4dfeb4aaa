// The embedded broker's frame guard: MQTT fixed headers followed across any chunking, and an
// oversized packet reported from its header, before its body is buffered.

import test from 'ava';
import fc from 'fast-check';
import { FrameGuard } from '../../headend/broker/broker-guard.ts';

/** One MQTT packet: type byte, varint remaining length, body. */
function packet(type: number, bodyLength: number): Uint8Array {
  const len: number[] = [];
  let n = bodyLength;
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    len.push(b);
  } while (n > 0);
  const out = new Uint8Array(1 + len.length + bodyLength);
  out[0] = type;
  out.set(len, 1);
  out.fill(0xab, 1 + len.length);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

test('packets within the limit pass, in any chunking', (t) => {
  const stream = concat([packet(0x10, 30), packet(0x32, 200), packet(0xc0, 0), packet(0x30, 1000), packet(0xe0, 0)]);
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 20 }), (cuts) => {
      const g = new FrameGuard(1000);
      const points = [0, ...[...new Set(cuts)].sort((a, b) => a - b), stream.length];
      for (let i = 0; i + 1 < points.length; i++) if (g.feed(stream.subarray(points[i], points[i + 1])) !== undefined) return false;
      return true;
    }),
  );
  t.pass();
});

test('the first packet over the limit is reported with its declared size before its body arrives', (t) => {
  const g = new FrameGuard(1000);
  t.is(g.feed(packet(0x30, 500)), undefined);
  const big = packet(0x30, 5_000_000);
  t.is(g.feed(big.subarray(0, 2)), undefined, 'length not complete yet');
  t.is(g.feed(big.subarray(2, 5)), 5_000_000);
});

test('a length of more than four bytes is malformed', (t) => {
  const g = new FrameGuard(1 << 30);
  t.is(g.feed(new Uint8Array([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])), Infinity);
});
