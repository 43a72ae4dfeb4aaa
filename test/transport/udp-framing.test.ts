import test from 'ava';
import { EnvelopeCodec, type Envelope } from '../../runtime/index.ts';
import { AUTH_TRAILER } from '../../transport/index.ts';
import { MAX_DATA_HEADER, MAX_PIGGYBACK_ACKS, dataDatagram, dataDatagramAround, dataHeaderBytes, encodeForDatagram, parseDatagram } from '../../transport/udp-framing.ts';
import { countCalls } from '../_helpers/count-calls.ts';

const codec = new EnvelopeCodec();
const env: Envelope = { v: 1, kind: 'req', id: 9, src: { udp: { host: '10.0.0.1', port: 7400 } }, dst: { udp: { host: '10.0.0.2', port: 7401 } }, deadline: 1_700_000_005_000, op: 'echo', body: new Uint8Array(100).fill(7) };
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

test('a datagram written around the envelope in place is byte for byte the copied one, for every ack count and trailer', (t) => {
  for (const tail of [0, AUTH_TRAILER]) {
    for (let n = 0; n <= MAX_PIGGYBACK_ACKS; n++) {
      const acks = Array.from({ length: n }, (_, i) => 0x3fff_0000 + i);
      const framed = encodeForDatagram(codec, env, tail);
      t.is(framed.length, MAX_DATA_HEADER + codec.encode(env).length + tail);
      const inPlace = dataDatagramAround(framed, 3, acks, 0x1234_5678, 0, 1);
      const copied = dataDatagram(3, acks, 0x1234_5678, 0, 1, codec.encode(env), tail);
      t.is(inPlace.length, copied.length);
      t.is(hex(inPlace.subarray(0, inPlace.length - tail)), hex(copied.subarray(0, copied.length - tail)), `${n} acks, trailer ${tail}`);
      const f = parseDatagram(inPlace.subarray(0, inPlace.length - tail));
      t.is(f.type, 'data');
      if (f.type === 'data') t.is(hex(codec.decode(f.payload).body as Uint8Array), hex(env.body as Uint8Array));
    }
  }
});

test('with the exact header room in front, the datagram is the encoded buffer itself (no view), the same bytes', (t) => {
  for (const tail of [0, AUTH_TRAILER]) {
    for (let n = 0; n <= MAX_PIGGYBACK_ACKS; n++) {
      const acks = Array.from({ length: n }, (_, i) => 0x3fff_0000 + i);
      const room = dataHeaderBytes(n);
      const framed = encodeForDatagram(codec, env, tail, room);
      const inPlace = dataDatagramAround(framed, 3, acks, 0x1234_5678, 0, 1, room);
      t.is(inPlace, framed, `${n} acks: written in place, returned as is`);
      const copied = dataDatagram(3, acks, 0x1234_5678, 0, 1, codec.encode(env), tail);
      t.is(hex(inPlace.subarray(0, inPlace.length - tail)), hex(copied.subarray(0, copied.length - tail)), `${n} acks, trailer ${tail}`);
    }
  }
  t.throws(() => dataDatagramAround(encodeForDatagram(codec, env, 0, dataHeaderBytes(0)), 3, [1], 1, 0, 1, dataHeaderBytes(0)), { instanceOf: RangeError });
});

test('a reliable send of one datagram makes one Buffer view (the encoder\'s), not three', async (t) => {
  const { createUdpTransport } = await import('../../transport/index.ts');
  const [a, sink] = await Promise.all([createUdpTransport(), createUdpTransport()]);
  const dst = sink.address;
  const views = countCalls(Buffer.prototype, 'subarray');
  const N = 50;
  try {
    for (let i = 0; i < N; i++) void a.send({ ...env, id: i, dst, deadline: undefined }).catch(() => undefined);
  } finally {
    views.restore();
  }
  t.true(views.calls <= N + 2, `${views.calls} views for ${N} sends`);
  await Promise.all([a.close(), sink.close()]);
});

test('a send resolves no name: the socket writes to the IP literal at once, without dns.lookup', async (t) => {
  const dns = (await import('node:dns')).default;
  const original = dns.lookup;
  let lookups = 0;
  dns.lookup = ((...args: Parameters<typeof original>) => {
    lookups++;
    return (original as (...a: unknown[]) => void)(...args);
  }) as typeof original;
  try {
    const { Channel } = await import('../../runtime/index.ts');
    const { createUdpTransport } = await import('../../transport/index.ts');
    const [a, b] = await Promise.all([createUdpTransport(), createUdpTransport()]);
    const server = new Channel({ self: b.address, write: (e) => b.send(e), onRequest: (r) => r.body });
    const client = new Channel({ self: a.address, write: (e) => a.send(e) });
    b.onEnvelope((e) => server.receive(e));
    a.onEnvelope((e) => client.receive(e));
    for (let i = 0; i < 10; i++) t.is(await client.request(b.address, i), i);
    await Promise.all([a.close(), b.close()]);
  } finally {
    dns.lookup = original;
  }
  t.is(lookups, 0);
});
