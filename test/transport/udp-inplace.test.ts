import { EventEmitter } from 'node:events';
import test from 'ava';
import fc from 'fast-check';
import { EnvelopeCodec, type Envelope } from '../../runtime/index.ts';
import { AUTH_TRAILER, UdpTransport } from '../../transport/index.ts';
import { FLAG_POLL, FLAG_RELIABLE, dataDatagram, parseDatagram, singleData } from '../../transport/udp-framing.ts';
import { resolveOptions } from '../../transport/udp-options.ts';
import { countCalls } from '../_helpers/count-calls.ts';

// [issue 19] A datagram of one fragment is read in place: singleData() finds its payload, the
// envelope is decoded from the datagram itself, and parseDatagram() judges everything else.

const codec = new EnvelopeCodec();
const env: Envelope = { v: 1, kind: 'req', id: 9, src: { udp: { host: '127.0.0.1', port: 40001 } }, dst: { udp: { host: '127.0.0.1', port: 40002 } }, body: new Uint8Array(100).fill(7) };

test('property: singleData agrees with parseDatagram on valid, mutated and random datagrams', (t) => {
  const datagram = fc.oneof(
    fc.tuple(fc.nat({ max: 7 }), fc.array(fc.nat(), { maxLength: 8 }), fc.nat(), fc.nat({ max: 3 }), fc.integer({ min: 1, max: 4 }), fc.uint8Array({ maxLength: 40 })).map(([flags, acks, transfer, index, count, payload]) =>
      new Uint8Array(dataDatagram(flags, acks, transfer, index % count, count, payload)),
    ),
    fc.uint8Array({ maxLength: 80 }),
  );
  fc.assert(
    fc.property(datagram, fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 2 }), fc.nat({ max: 8 }), (d, flips, cut) => {
      for (const [at, v] of flips) if (d.length > 0) d[at % d.length] = v;
      const end = Math.max(0, d.length - cut);
      const f = parseDatagram(d.subarray(0, end));
      const at = singleData(d, end);
      if (f.type === 'data' && f.count === 1) {
        t.is(at, end - f.payload.length);
      } else t.is(at, -1);
    }),
    { numRuns: 5000 },
  );
});

class FakeSocket extends EventEmitter {
  sent: Buffer[] = [];
  address(): { address: string; family: string; port: number } {
    return { address: '127.0.0.1', family: 'IPv4', port: 40002 };
  }
  send(d: Buffer): void {
    this.sent.push(Buffer.from(d));
  }
  close(cb?: () => void): void {
    cb?.();
  }
}

for (const tail of [0, AUTH_TRAILER]) {
  test(`a datagram of one fragment is decoded in place: one Buffer view per envelope (its body's), not two${tail ? ' (MAC)' : ''}`, async (t) => {
    const auth = tail === 0 ? undefined : { key: 'test-cluster-key-0123456789abcdef', sender: 1 };
    const socket = new FakeSocket();
    const rx = new UdpTransport(socket as never, resolveOptions(auth === undefined ? {} : { auth: { ...auth, sender: 2 } }));
    const got: Envelope[] = [];
    rx.onEnvelope((e) => got.push(e));
    const { DatagramAuth, resolveAuth } = await import('../../transport/udp-auth.ts');
    const signer = auth === undefined ? undefined : new DatagramAuth(resolveAuth('test', auth) as NonNullable<ReturnType<typeof resolveAuth>>, 1);
    const datagrams = Array.from({ length: 20 }, (_, i) => {
      const d = dataDatagram(FLAG_RELIABLE | FLAG_POLL, [], 100 + i, 0, 1, codec.encode({ ...env, id: i }), tail);
      signer?.seal(d);
      return d;
    });
    const repeat = Buffer.from(datagrams[3] as Buffer); // a copy: the MAC's check clears the trailer's flag in place
    const views = countCalls(Buffer.prototype, 'subarray');
    const rinfo = { address: '127.0.0.1', family: 'IPv4', port: 40001, size: 0 };
    try {
      for (const d of datagrams) socket.emit('message', d, rinfo);
      socket.emit('message', repeat, rinfo); // a duplicate: dropped, counted
    } finally {
      views.restore();
    }
    // The MAC's check takes two views of its own (udp-auth.ts), the repeat's too; the old path
    // added two more per datagram (41 and 100 views).
    t.is(views.calls, tail === 0 ? 20 : 62, `${views.calls} views for 20 envelopes`);
    t.deepEqual(got.map((e) => e.id), Array.from({ length: 20 }, (_, i) => i));
    t.deepEqual(Buffer.from(got[5]?.body as Uint8Array), Buffer.from(env.body as Uint8Array));
    t.is(tail === 0 ? rx.stats().duplicates : rx.stats().replayed, 1, 'the MAC\'s replay window drops a repeat first');
    t.is(rx.stats().received, 20);
    await rx.close();
  });
}

