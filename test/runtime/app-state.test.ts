// Mutable-module state codec: CBOR round trip of snapshot values, hard size limit, and random
// bytes in give a DecodeError and nothing else.
import test from 'ava';
import fc from 'fast-check';
import { DecodeError, EncodeError } from '../../runtime/index.ts';
import { StateCodec } from '../../runtime/app/index.ts';

test('snapshot values round-trip', (t) => {
  const codec = new StateCodec();
  fc.assert(
    fc.property(fc.jsonValue(), (v) => {
      t.deepEqual(codec.decode(codec.encode(v)), JSON.parse(JSON.stringify(v)));
    }),
    { numRuns: 300 },
  );
});

test('the size limit holds both ways', (t) => {
  const codec = new StateCodec(64);
  t.regex(t.throws(() => codec.encode({ s: 'x'.repeat(100) }), { instanceOf: EncodeError })?.message ?? '', /too large/);
  t.throws(() => codec.decode(new Uint8Array(65)), { instanceOf: DecodeError });
  t.throws(() => codec.decode(new Uint8Array(0)), { instanceOf: DecodeError });
});

test('random bytes decode to a value or a DecodeError, never another throw', (t) => {
  const codec = new StateCodec();
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
      try {
        codec.decode(b);
      } catch (e) {
        t.true(e instanceof DecodeError);
      }
    }),
    { numRuns: 1000 },
  );
  t.pass();
});
