import test from 'ava';
import fc from 'fast-check';
import { EnvelopeCodec, KINDS, type Envelope } from '../../runtime/index.ts';
import { envelopeOf, goldenEnvelopes } from '../_fixtures/envelopes.ts';
import { countCalls } from '../_helpers/count-calls.ts';

// The codec's fast path (runtime/envelope-fast.ts) against its general path, which is what the
// firmware runs: a codec built while WEFT_FIRMWARE is true has no fast path.
function generalCodec(): EnvelopeCodec {
  globalThis.WEFT_FIRMWARE = true;
  try {
    return new EnvelopeCodec();
  } finally {
    globalThis.WEFT_FIRMWARE = undefined;
  }
}
const fast = new EnvelopeCodec();
const general = generalCodec();
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

const text = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 8 }), fc.string({ minLength: 20, maxLength: 300 }));
const address = fc.oneof(
  fc.record({ queue: fc.stringMatching(/^[a-z0-9]{1,12}$/) }),
  fc.record({ udp: fc.record({ host: fc.oneof(fc.ipV4(), fc.constant('::1')), port: fc.integer({ min: 1, max: 65535 }) }) }),
  fc.record({ vaddr: fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/).map((a) => `weft://${a}/*/m`) }),
  fc.record({ vaddr: fc.stringMatching(/^[a-z]{1,8}$/).map((a) => `weft://${a}/s-8f2c/search`), udp: fc.record({ host: fc.ipV4(), port: fc.integer({ min: 1, max: 65535 }) }) }),
  fc.record({ vaddr: text }), // invalid ones too: encode does not judge them, decode must refuse them alike
);
const body = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.jsonValue().filter((v) => !JSON.stringify(v).includes('"__proto__"')),
  fc.uint8Array({ maxLength: 300 }),
  fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)),
  fc.double(),
  fc.integer(),
  text,
);
const deadline = fc.oneof(fc.constant(undefined), fc.nat({ max: 0xffff_ffff }), fc.integer({ min: 2 ** 32, max: 2 ** 45 }), fc.double({ min: 0, max: 2 ** 45 }), fc.integer({ min: -(2 ** 33), max: -1 }));
const envelope: fc.Arbitrary<Envelope> = fc
  .record({
    kind: fc.constantFrom(...KINDS),
    id: fc.oneof(fc.nat({ max: 30 }), fc.nat({ max: 0xffff_ffff })),
    corr: fc.option(fc.oneof(fc.nat({ max: 300 }), fc.nat({ max: 0xffff_ffff })), { nil: undefined }),
    src: address,
    dst: address,
    deadline,
    op: fc.option(fc.oneof(fc.string({ maxLength: 64 }), fc.string({ unit: 'grapheme', maxLength: 16 })), { nil: undefined }),
    body,
    ext: fc.option(fc.record({ by: fc.option(fc.string({ maxLength: 40 }), { nil: undefined }), tp: fc.option(fc.string({ maxLength: 60 }), { nil: undefined }) }, { requiredKeys: [] }), { nil: undefined }),
  })
  .map(envelopeOf);

/** What decoding gives, compared exactly (classes of byte strings included), or the error's name and message. */
function outcome(codec: EnvelopeCodec, bytes: Uint8Array): unknown {
  try {
    const env = codec.decode(bytes);
    return { env, bodyClass: (env.body as object | undefined)?.constructor?.name };
  } catch (e) {
    return { error: (e as Error).name, message: (e as Error).message };
  }
}

test('property: the fast path writes the bytes the general path writes, for every shape', (t) => {
  for (const kind of KINDS) t.is(hex(fast.encode(goldenEnvelopes[kind] as Envelope)), hex(general.encode(goldenEnvelopes[kind] as Envelope)));
  fc.assert(
    fc.property(envelope, (e) => {
      let want: string;
      try {
        want = hex(general.encode(e));
      } catch (err) {
        t.throws(() => fast.encode(e), { message: (err as Error).message });
        return;
      }
      t.is(hex(fast.encode(e)), want);
    }),
    { numRuns: 3000 },
  );
});

test('property: framed encoding leaves the room asked for and the same bytes between', (t) => {
  fc.assert(
    fc.property(envelope, fc.nat({ max: 64 }), fc.nat({ max: 32 }), (e, before, after) => {
      let want: string;
      try {
        want = hex(general.encode(e));
      } catch {
        return;
      }
      for (const codec of [fast, general]) {
        const framed = codec.encode(e, before, after);
        t.is(framed.length, before + want.length / 2 + after);
        t.is(hex(framed.subarray(before, framed.length - after)), want);
      }
    }),
    { numRuns: 2000 },
  );
});

test('property: the fast path decodes valid and mutated envelopes exactly as the general path', (t) => {
  const mutation = fc.tuple(envelope, fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 3 }), fc.nat(), fc.boolean());
  fc.assert(
    fc.property(mutation, ([e, flips, cut, truncate]) => {
      let bytes: Uint8Array;
      try {
        bytes = new Uint8Array(general.encode(e));
      } catch {
        return;
      }
      for (const [at, v] of flips) bytes[at % bytes.length] = v;
      const input = truncate ? bytes.subarray(0, cut % (bytes.length + 1)) : bytes;
      t.deepEqual(outcome(fast, input), outcome(general, input));
      t.deepEqual(outcome(fast, Buffer.from(input)), outcome(general, Buffer.from(input)));
    }),
    { numRuns: 10_000 },
  );
});

test('a sent envelope is never overwritten by later ones (a UDP sender holds it for retransmission)', (t) => {
  const e: Envelope = { v: 1, kind: 'req', id: 7, src: { udp: { host: '10.0.0.1', port: 7400 } }, dst: { udp: { host: '10.0.0.2', port: 7400 } }, body: new Uint8Array(900).fill(3) };
  const first = fast.encode(e);
  const copy = hex(first);
  for (let i = 0; i < 500; i++) fast.encode({ ...e, id: i, body: new Uint8Array(900).fill(i & 0xff) });
  t.is(hex(first), copy);
});

test('property: decoding in place (from, end) gives what decoding the bytes alone gives, on both paths', (t) => {
  fc.assert(
    fc.property(envelope, fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 20 }), (e, front, back) => {
      let inner: Uint8Array;
      try {
        inner = general.encode(e);
      } catch {
        return;
      }
      const framed = Buffer.concat([front, inner, back]);
      for (const codec of [fast, general]) t.deepEqual(outcome(codec, inner), inPlace(codec, framed, front.length, front.length + inner.length));
    }),
    { numRuns: 2000 },
  );
});

function inPlace(codec: EnvelopeCodec, bytes: Uint8Array, from: number, end: number): unknown {
  try {
    const env = codec.decode(bytes, from, end);
    return { env, bodyClass: (env.body as object | undefined)?.constructor?.name };
  } catch (e) {
    return { error: (e as Error).name, message: (e as Error).message };
  }
}

test('a string remembered by the decoder is a copy: input memory written over later does not change what decodes', (t) => {
  const codec = new EnvelopeCodec();
  const at = (app: string): Envelope => ({ v: 1, kind: 'msg', id: 1, src: { vaddr: `weft://${app}/s/m` }, dst: { queue: 'q1' } });
  const first = Buffer.from(codec.encode(at('aaaa')));
  t.is(codec.decode(first).src.vaddr, 'weft://aaaa/s/m');
  // The same memory, reused for other bytes (a pooled or recycled buffer): "aaaa" becomes "bbbb".
  first.set(Buffer.from('bbbb'), first.indexOf('aaaa'));
  t.is(codec.decode(Buffer.from(codec.encode(at('bbbb')))).src.vaddr, 'weft://bbbb/s/m');
});

test('an envelope with no body or a byte-string body is not scanned for a "__proto__" key (it can hold no map); an object body still is', (t) => {
  const codec = new EnvelopeCodec();
  const at = (body: unknown): Envelope => ({ v: 1, kind: 'req', id: 3, src: { udp: { host: '10.0.0.1', port: 7400 } }, dst: { udp: { host: '10.0.0.2', port: 7400 } }, body });
  const scans = countCalls(Buffer.prototype, 'indexOf');
  try {
    for (const body of [undefined, Buffer.alloc(100, 0x5f), new Uint8Array(30)]) codec.decode(codec.encode(at(body)));
    t.is(scans.calls, 0);
    t.throws(() => codec.decode(Buffer.from(general.encode(at(JSON.parse('{"__proto__": 1}'))))), { message: /__proto__/ });
    t.true(scans.calls > 0);
  } finally {
    scans.restore();
  }
});
