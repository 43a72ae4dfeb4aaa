// runtime/cbor-lite.ts against cbor-x, the codec it replaces in the firmware: the same bytes for
// every value of the shapes Weft encodes, the same values from cbor-x's bytes, and strict bounds
// on hostile input (depth, lengths against what is left, tags, indefinite lengths).
import test from 'ava';
import fc from 'fast-check';
import * as X from 'cbor-x';
import { Decoder, Encoder, MAX_DECODE_DEPTH } from '../../runtime/cbor-lite.ts';

const OPTS = { useRecords: false, mapsAsObjects: true, tagUint8Array: false, useFloat32: 0, variableMapSize: true } as const;
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

const scalar = fc.oneof(
  fc.constantFrom(null, undefined, true, false, 0, -0, NaN, Infinity, -Infinity, 2 ** 32, -(2 ** 32), -(2 ** 32) - 1, 2 ** 53),
  fc.integer(),
  fc.integer({ min: -(2 ** 32), max: 2 ** 32 }),
  fc.maxSafeInteger(),
  fc.double(),
  fc.bigInt({ min: -(1n << 64n) + 1n, max: (1n << 64n) - 1n }),
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.string({ unit: 'grapheme', maxLength: 300 }),
  fc.uint8Array({ maxLength: 300 }),
);
const key = fc.string({ maxLength: 30 }).filter((k) => k !== '__proto__');
const { value } = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, scalar, tie('array'), tie('object'), tie('map')),
  array: fc.array(tie('value'), { maxLength: 30 }),
  object: fc.dictionary(key, tie('value'), { maxKeys: 30 }),
  map: fc.array(fc.tuple(fc.oneof(key, fc.integer()), tie('value')), { maxLength: 5 }).map((es) => new Map(es)),
}));

test('encode writes the bytes cbor-x writes, for random values of every supported shape', (t) => {
  const lite = new Encoder(OPTS);
  const ref = new X.Encoder(OPTS);
  fc.assert(
    fc.property(value, (v) => hex(lite.encode(v)) === hex(ref.encode(v))),
    { numRuns: 2000, seed: 19 },
  );
  // Header boundaries of lengths and integers, one by one.
  for (const v of [23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, -24, -25, -256, -257, -65536, -65537, -(2 ** 31) - 1, 1.5, 'x'.repeat(23), 'x'.repeat(24), 'é'.repeat(12), 'é'.repeat(40), '\ud800'.repeat(3), `${'y'.repeat(70)}\udc00`, 'z'.repeat(70_000), new Uint8Array(65_536), new Array<number>(300).fill(1), Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, i])), Object.create(null) as object, Buffer.from('hi')]) {
    t.is(hex(lite.encode(v)), hex(ref.encode(v)));
  }
});

test('decode of cbor-x bytes gives what cbor-x gives, with maps as objects and as Maps', (t) => {
  const ref = new X.Encoder(OPTS);
  const pairs = [true, false].map((mapsAsObjects) => [new Decoder({ useRecords: false, mapsAsObjects }), new X.Decoder({ useRecords: false, mapsAsObjects })] as const);
  fc.assert(
    fc.property(value, (v) => {
      const bytes = ref.encode(v);
      for (const [lite, x] of pairs) t.deepEqual(lite.decode(bytes), x.decode(bytes));
    }),
    { numRuns: 1000, seed: 19 },
  );
});

test('whatever random bytes it accepts, cbor-x decodes to the same value; the rest is an Error', (t) => {
  const lite = new Decoder({ useRecords: false, mapsAsObjects: true });
  const x = new X.Decoder({ useRecords: false, mapsAsObjects: true });
  let accepted = 0;
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), (b) => {
      let v: unknown;
      try {
        v = lite.decode(b);
      } catch (e) {
        t.true(e instanceof Error);
        return;
      }
      accepted++;
      t.deepEqual(v, x.decode(b));
    }),
    { numRuns: 3000, seed: 19 },
  );
  t.true(accepted > 0);
});

test('hostile input: depth, lengths past the input, 64-bit lengths, tags, indefinite items, trailing bytes', (t) => {
  const d = new Decoder({ useRecords: false, mapsAsObjects: true });
  const err = (b: Uint8Array, m: RegExp): void => void t.throws(() => d.decode(b), { message: m });
  t.deepEqual(d.decode(new Uint8Array([...new Array<number>(MAX_DECODE_DEPTH).fill(0x81), 0x00])), JSON.parse(`${'['.repeat(MAX_DECODE_DEPTH)}0${']'.repeat(MAX_DECODE_DEPTH)}`));
  err(new Uint8Array([...new Array<number>(MAX_DECODE_DEPTH + 1).fill(0x81), 0x00]), /nested deeper/);
  err(new Uint8Array([...new Array<number>(100_000).fill(0xa1), 0x00]), /nested deeper/);
  err(unhex('9a00010000'), /more than the 0 bytes left/);
  err(unhex('7affffffff61'), /more than the 1 bytes left/);
  err(unhex('b9ffff0000'), /more than the 2 bytes left/);
  err(unhex('9b000000010000000000'), /past 2\^32/);
  // Nested arrays each within what is left, their sum not: refused before allocating.
  err(new Uint8Array([0x98, 0x40, ...new Array<number>(70).fill(0x98).flatMap((b) => [b, 0x40])]), /declare more items/);
  err(unhex('c11a00000000'), /tag 1 is refused/);
  err(unhex('d9010383'), /tag 259 must be on a map/);
  err(unhex('9f00ff'), /indefinite/);
  err(unhex('7f6161ff'), /indefinite/);
  err(unhex('ff'), /break/);
  err(unhex('f820'), /simple value 24/);
  err(unhex('0000'), /1 bytes after the item/);
  err(unhex('19ff'), /unexpected end/);
  err(new Uint8Array(0), /unexpected end/);
  t.throws(() => d.decode('00' as unknown as Uint8Array), { message: /must be a Uint8Array/ });
  // A `__proto__` key is renamed exactly as cbor-x does (the codecs then refuse it by name, D15).
  const proto = new Uint8Array([0xa1, 0x69, ...Buffer.from('__proto__'), 0x01]);
  t.deepEqual(d.decode(proto), { __proto_: 1 });
  t.is(Object.getPrototypeOf(d.decode(proto)), Object.prototype);
  t.deepEqual(new Decoder({ mapsAsObjects: false }).decode(proto), new Map([['__proto__', 1]]));
});

test('encode refuses what Weft never sends, by name; options are checked by name', (t) => {
  const e = new Encoder(OPTS);
  t.throws(() => e.encode(new Date(0)), { message: /cannot encode a Date/ });
  t.throws(() => e.encode({ s: new Set([1]) }), { message: /cannot encode a Set/ });
  t.throws(() => e.encode(new Uint16Array(2)), { message: /cannot encode a Uint16Array/ });
  t.throws(() => e.encode(() => 1), { message: /cannot encode a function/ });
  t.throws(() => e.encode(1n << 64n), { message: /beyond 64 bits/ });
  t.throws(() => e.encode(-(1n << 64n)), { message: /beyond 64 bits/ }); // cbor-x: a tag-3 bignum
  t.is(hex(e.encode(1n - (1n << 64n))), hex(new X.Encoder(OPTS).encode(1n - (1n << 64n))));
  const loop: unknown[] = [];
  loop.push(loop);
  t.throws(() => e.encode(loop), { message: /nested deeper/ });
  t.is(hex(e.encode([1])), '8101', 'usable after a refusal');
  t.throws(() => new Encoder({ useRecord: false }), { message: /unknown encoder option "useRecord"/ });
  t.throws(() => new Encoder({ useFloat32: 1 }), { message: /useFloat32 must be 0/ });
  t.throws(() => new Decoder({ maxDepth: 3 }), { message: /unknown decoder option "maxDepth"/ });
});
