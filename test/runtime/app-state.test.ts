// Mutable-module state codec: CBOR round trip of snapshot values, hard size limit, and random
// bytes in give a DecodeError and nothing else.
import test from 'ava';
import fc from 'fast-check';
import { DecodeError, EncodeError } from '../../runtime/index.ts';
import { StateCodec } from '../../runtime/app/index.ts';

test('snapshot values round-trip', (t) => {
  const codec = new StateCodec();
  fc.assert(
    // A `__proto__` key is refused (its own test below), so the round trip leaves it out.
    fc.property(fc.jsonValue().filter((v) => !JSON.stringify(v).includes('"__proto__"')), (v) => {
      t.deepEqual(codec.decode(codec.encode(v)), JSON.parse(JSON.stringify(v)));
    }),
    { numRuns: 300 },
  );
});

// Found at random by the round trip above: cbor-x turned `__proto__` into `__proto_` (DECISIONS.md D15).
test('a __proto__ key is refused both ways, naming its path; a __proto_ key round-trips', (t) => {
  const codec = new StateCodec();
  const v = JSON.parse('{"list":[{"__proto__":{"x":1}}]}') as unknown;
  t.throws(() => codec.encode(v), { instanceOf: EncodeError, message: /state\.list\[0\]\.__proto__/ });
  const bytes = new Uint8Array([0xa1, 0x69, ...new TextEncoder().encode('__proto__'), 0x01]);
  t.throws(() => codec.decode(bytes), { instanceOf: DecodeError, message: /state\.__proto__/ });
  t.deepEqual(codec.decode(codec.encode({ __proto_: 1 })), { __proto_: 1 });
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
