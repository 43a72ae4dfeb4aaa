// The box's MQTT 3.1.1 codec (transport/mqtt-lite-codec.ts): golden bytes of what it sends,
// strict reading of what a broker sends, any split of the stream gives the same packets, and
// random or hostile bytes give only a DecodeError, never a crash or an allocation past the bound.

import test from 'ava';
import fc from 'fast-check';
import { DecodeError } from '../../runtime/index.ts';
import { DISCONNECT, type LitePacket, PINGREQ, PacketReader, encodeConnect, encodePuback, encodePublish, encodeSubscribe } from '../../transport/mqtt-lite-codec.ts';

const hex = (b: Buffer): string => b.toString('hex');
const bytes = (h: string): Buffer => Buffer.from(h.replace(/\s/g, ''), 'hex');

test('golden: what the box sends', (t) => {
  // CONNECT: "MQTT" level 4, flags user+password+clean, keepalive 30, client id, user, password.
  t.is(hex(encodeConnect({ clientId: 'b1', username: 'b1', password: 'pw', clean: true, keepaliveSec: 30 })), '101600044d51545404c2001e000262310002623100027077');
  t.is(hex(encodeConnect({ clientId: 'b1', username: undefined, password: undefined, clean: false, keepaliveSec: 0 })), '100e00044d5154540400000000026231');
  t.is(hex(encodePublish('a/b', Buffer.from('hi'), 0, 0)), '30070003612f626869');
  t.is(hex(encodePublish('a/b', new Uint8Array([1, 2]), 1, 0x1234)), '32090003612f6212340102');
  t.is(hex(encodeSubscribe(7, 'a/#', 1)), '820800070003612f2301');
  t.is(hex(encodePuback(0xbeef)), '4002beef');
  t.is(hex(PINGREQ), 'c000');
  t.is(hex(DISCONNECT), 'e000');
  // A 200-byte payload takes a two-byte remaining length.
  t.is(hex(encodePublish('t', Buffer.alloc(200), 0, 0)).slice(0, 6), '30cb01');
  t.throws(() => encodePublish('x'.repeat(70_000), Buffer.alloc(0), 0, 0), { instanceOf: RangeError });
});

test('golden: what a broker sends, read strictly', (t) => {
  const r = new PacketReader(1024);
  const got = r.push(bytes('20020000 20020005 d000 4002 0009 9003 0007 01 9003 0008 80 3007 0003 612f62 6869 3b09 0003 612f62 0005 7a7a'));
  t.deepEqual(got, [
    { type: 'connack', sessionPresent: false, returnCode: 0 },
    { type: 'connack', sessionPresent: false, returnCode: 5 },
    { type: 'pingresp' },
    { type: 'puback', id: 9 },
    { type: 'suback', id: 7, granted: [1] },
    { type: 'suback', id: 8, granted: [0x80] },
    { type: 'publish', topic: 'a/b', payload: Buffer.from('hi'), qos: 0, dup: false, retain: false, id: 0 },
    { type: 'publish', topic: 'a/b', payload: Buffer.from('zz'), qos: 1, dup: true, retain: true, id: 5 },
  ] satisfies LitePacket[]);
});

const BAD: [string, string][] = [
  ['10020000', 'a CONNECT from the broker'],
  ['8200', 'a SUBSCRIBE from the broker'],
  ['c000', 'a PINGREQ from the broker'],
  ['5002 0001', 'a PUBREC (QoS 2 is never asked for)'],
  ['3405 0001 61 0001', 'a QoS 2 PUBLISH'],
  ['3603 0001 61', 'QoS 3'],
  ['3803 0001 61', 'DUP on QoS 0'],
  ['3003 0001 2b', 'a wildcard topic'],
  ['3002 0000', 'an empty topic'],
  ['3003 0001 00', 'a NUL in the topic'],
  ['3004 0002 c328', 'a topic that is not UTF-8'],
  ['3205 0001 61 0000', 'packet id 0'],
  ['3003 0020 61', 'a topic length past the end'],
  ['4002 0000', 'PUBACK id 0'],
  ['4003 000100', 'a long PUBACK'],
  ['2002 0105', 'session present beside a refusal'],
  ['2002 0006', 'CONNACK return code 6'],
  ['2002 0201', 'CONNACK reserved ack flags'],
  ['2102 0000', 'reserved header flags'],
  ['9003 0001 03', 'SUBACK code 3'],
  ['9002 0001', 'SUBACK with no code'],
  ['d001 00', 'a PINGRESP with a body'],
  ['30 8000', 'a remaining length not in its shortest form'],
  ['30 ffffffff 7f', 'a remaining length of five bytes'],
  ['30 8008', 'a packet over the limit (1024)'],
];

for (const [h, what] of BAD) {
  test(`refused: ${what}`, (t) => {
    t.throws(() => new PacketReader(1024).push(bytes(h)), { instanceOf: DecodeError });
  });
}

test('the size bound is checked on the header, before the body is held', (t) => {
  const r = new PacketReader(100);
  // 268 MB announced: refused at once, nothing allocated for it.
  const e = t.throws(() => r.push(bytes('30 ffffff7f')), { instanceOf: DecodeError });
  t.regex(e.message, /over the limit of 100/);
  t.notThrows(() => new PacketReader(100).push(bytes('30 62 0001 61').subarray(0, 4)), 'a packet of 100 bytes in all is allowed');
  t.throws(() => new PacketReader(100).push(bytes('30 63')), { instanceOf: DecodeError });
  t.throws(() => new PacketReader(1), { instanceOf: RangeError });
});

const arbPacket = fc.oneof(
  fc.record({ topic: fc.string({ minLength: 1, maxLength: 40 }).filter((s) => !/[+#\0]/.test(s)), payload: fc.uint8Array({ maxLength: 300 }), qos: fc.constantFrom<0 | 1>(0, 1), id: fc.integer({ min: 1, max: 0xffff }) }).map((p) => ({ wire: encodePublish(p.topic, p.payload, p.qos, p.id), p: { type: 'publish' as const, topic: p.topic, payload: Buffer.from(p.payload), qos: p.qos, dup: false, retain: false, id: p.qos === 1 ? p.id : 0 } })),
  fc.integer({ min: 1, max: 0xffff }).map((id) => ({ wire: Buffer.from([0x40, 2, id >> 8, id & 0xff]), p: { type: 'puback' as const, id } })),
  fc.constant({ wire: Buffer.from([0xd0, 0]), p: { type: 'pingresp' as const } }),
);

test('property: any split of a stream of packets reads as the same packets', (t) => {
  fc.assert(
    fc.property(fc.array(arbPacket, { minLength: 1, maxLength: 12 }), fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 40 }), (packets, cuts) => {
      const stream = Buffer.concat(packets.map((x) => x.wire));
      const r = new PacketReader(4096);
      const out: LitePacket[] = [];
      let at = 0;
      for (let i = 0; at < stream.length; i++) {
        const n = cuts[i % cuts.length] as number;
        r.push(stream.subarray(at, at + n), out);
        at += n;
      }
      t.deepEqual(out, packets.map((x) => x.p));
    }),
    { seed: 1819, numRuns: 300 },
  );
});

test('property: random bytes give packets or a DecodeError, nothing else, and never more than the bound', (t) => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ minLength: 0, maxLength: 64 }), { maxLength: 8 }), (chunks) => {
      const r = new PacketReader(256);
      try {
        for (const c of chunks) for (const p of r.push(Buffer.from(c))) if (p.type === 'publish') t.true(p.payload.length <= 256);
      } catch (e) {
        if (!(e instanceof DecodeError)) throw e;
      }
    }),
    { seed: 1819, numRuns: 2000 },
  );
  t.pass();
});
