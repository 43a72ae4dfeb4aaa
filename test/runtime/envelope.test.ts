import test from 'ava';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { DecodeError, EncodeError, EnvelopeCodec, KINDS, type Envelope } from '../../runtime/index.ts';
import { envelopeOf, goldenEnvelopes } from '../_fixtures/envelopes.ts';

const golden = JSON.parse(readFileSync(new URL('../_fixtures/envelopes.golden.json', import.meta.url), 'utf8')) as Record<string, string>;
const codec = new EnvelopeCodec();
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

test('golden fixtures pin the wire format of every kind', (t) => {
  t.deepEqual(Object.keys(golden).sort(), [...KINDS].sort());
  for (const kind of KINDS) {
    const env = goldenEnvelopes[kind] as Envelope;
    t.is(hex(codec.encode(env)), golden[kind] ?? '', `encode ${kind}`);
    const back = codec.decode(unhex(golden[kind] as string));
    t.deepEqual(normal(back), normal(env), `decode ${kind}`);
  }
});

// cbor-x decodes byte strings as Buffer; compare contents, not classes.
function normal(v: unknown): unknown {
  if (v instanceof Uint8Array) return { bytes: [...v] };
  if (Array.isArray(v)) return v.map(normal);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normal(x)]));
  return Object.is(v, -0) ? 0 : v; // cbor-x writes -0 as the integer 0 (documented in PROTOCOL.md)
}

const address = fc.oneof(
  fc.record({ queue: fc.stringMatching(/^[a-z0-9]{1,12}$/) }),
  fc.record({ udp: fc.record({ host: fc.ipV4(), port: fc.integer({ min: 1, max: 65535 }) }) }),
  fc.record({ vaddr: fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/).map((a) => `weft://${a}/*/m`) }),
);
// A `__proto__` key is refused (DECISIONS.md D15; its own test below), so the round trip leaves it out.
const body = fc.oneof(fc.constant(undefined), fc.jsonValue().filter((v) => !JSON.stringify(v).includes('"__proto__"')), fc.uint8Array({ maxLength: 64 }));
const envelope: fc.Arbitrary<Envelope> = fc
  .record({
    kind: fc.constantFrom(...KINDS),
    id: fc.nat({ max: 0xffff_ffff }),
    corr: fc.option(fc.nat({ max: 0xffff_ffff }), { nil: undefined }),
    src: address,
    dst: address,
    deadline: fc.option(fc.integer({ min: 0, max: 2 ** 45 }), { nil: undefined }),
    op: fc.option(fc.string({ maxLength: 64 }), { nil: undefined }),
    body,
  })
  .map(envelopeOf);

test('property: encode then decode is the identity', (t) => {
  fc.assert(
    fc.property(envelope, (e) => {
      t.deepEqual(normal(codec.decode(codec.encode(e))), normal(e));
    }),
    { numRuns: 3000 },
  );
});

function onlyDecodeErrors(bytes: Uint8Array): boolean {
  try {
    codec.decode(bytes);
    return true;
  } catch (e) {
    return e instanceof DecodeError && e.name === 'DecodeError' && e.code === 6;
  }
}

test('fuzz: 50,000 random byte strings give DecodeError or a valid envelope, nothing else', (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), onlyDecodeErrors), { numRuns: 50_000 });
  // Random bytes that start like an envelope record get past the cheap first-byte check.
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => onlyDecodeErrors(new Uint8Array([0x89, 0x01, ...b]))), { numRuns: 20_000 });
  t.pass();
});

test('fuzz: 50,000 mutations of valid envelopes give DecodeError or a valid envelope', (t) => {
  const mutation = fc.tuple(envelope, fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { minLength: 1, maxLength: 4 }), fc.nat(), fc.boolean());
  fc.assert(
    fc.property(mutation, ([e, flips, cut, truncate]) => {
      const b = new Uint8Array(codec.encode(e));
      for (const [at, v] of flips) b[at % b.length] = v;
      const input = truncate ? b.subarray(0, cut % (b.length + 1)) : b;
      const r = onlyDecodeErrors(input);
      if (!r) return false;
      // Whatever decodes must encode again: the decoder never yields a malformed envelope.
      try {
        codec.encode(codec.decode(input));
      } catch (err) {
        return err instanceof DecodeError;
      }
      return true;
    }),
    { numRuns: 50_000 },
  );
  t.pass();
});

test('hostile structures: deep nesting, huge declared lengths, __proto__ keys', (t) => {
  const prefix = [0x89, 0x01, 0x00, 0x01, 0xf6, 0x84, 0xf6, 0x61, 0x71, 0xf6, 0xf6, 0x84, 0xf6, 0x61, 0x71, 0xf6, 0xf6, 0xf6, 0xf6];
  const deep = new Uint8Array([...prefix, ...new Array(100_000).fill(0x81), 0x00]);
  t.throws(() => codec.decode(deep), { instanceOf: DecodeError });
  const hugeArray = new Uint8Array([...prefix, 0x9b, 0, 0, 0, 1, 0, 0, 0, 0]);
  t.throws(() => codec.decode(hugeArray), { instanceOf: DecodeError });
  const hugeString = new Uint8Array([...prefix, 0x7a, 0xff, 0xff, 0xff, 0xff, 0x61]);
  t.throws(() => codec.decode(hugeString), { instanceOf: DecodeError });
  // {"__proto__": {"polluted": 1}} as the body is refused and changes no prototype.
  const proto = new Uint8Array([...prefix, 0xa1, 0x69, ...Buffer.from('__proto__'), 0xa1, 0x68, ...Buffer.from('polluted'), 0x01]);
  t.throws(() => codec.decode(proto), { instanceOf: DecodeError, message: /"__proto__" key is refused \(body\.__proto__\)/ });
  t.is(({} as Record<string, unknown>).polluted, undefined);
});

// DECISIONS.md D15: one rule for envelopes and module state, never a silent rename to `__proto_`.
test('a __proto__ key is refused both ways with its path named, however it is spelled on the wire', (t) => {
  const body = JSON.parse('{"a":[1,{"__proto__":{"x":1}}]}') as unknown;
  const e: Envelope = { v: 1, kind: 'msg', id: 1, src: { queue: 'a' }, dst: { queue: 'b' }, body };
  t.throws(() => codec.encode(e), { instanceOf: EncodeError, message: /body\.a\[1\]\.__proto__/ });
  const prefix = [0x89, 0x01, 0x00, 0x01, 0xf6, 0x84, 0xf6, 0x61, 0x71, 0xf6, 0xf6, 0x84, 0xf6, 0x61, 0x71, 0xf6, 0xf6, 0xf6, 0xf6];
  // The key with a non-minimal length header (0x78 0x09), and split in chunks (cbor-x refuses those).
  const long = new Uint8Array([...prefix, 0xa1, 0x78, 0x09, ...Buffer.from('__proto__'), 0x01]);
  t.throws(() => codec.decode(long), { instanceOf: DecodeError, message: /body\.__proto__/ });
  const chunked = new Uint8Array([...prefix, 0xa1, 0x7f, 0x65, ...Buffer.from('__pro'), 0x64, ...Buffer.from('to__'), 0xff, 0x01]);
  t.throws(() => codec.decode(chunked), { instanceOf: DecodeError });
  // Neighbours of the word pass untouched: `__proto_` and a byte string holding "__proto__".
  const ok: Envelope = { ...e, body: { __proto_: 1, b: new Uint8Array(Buffer.from('__proto__')) } };
  t.deepEqual(normal(codec.decode(codec.encode(ok))), normal(ok));
});

test('size limit: encode refuses and decode rejects past maxBytes', (t) => {
  const small = new EnvelopeCodec({ maxBytes: 100 });
  const e: Envelope = { v: 1, kind: 'msg', id: 1, src: { queue: 'a' }, dst: { queue: 'b' }, body: 'x'.repeat(200) };
  const err = t.throws(() => small.encode(e), { instanceOf: EncodeError });
  t.is(err.code, 9);
  const bytes = codec.encode(e);
  t.throws(() => small.decode(bytes), { instanceOf: DecodeError, message: /too large/ });
  t.throws(() => new EnvelopeCodec({ maxbytes: 1 } as never), { message: /unknown codec option "maxbytes"/ });
});

test('semantic checks: wrong version, unknown kind, bad address are named', (t) => {
  const good = codec.encode(goldenEnvelopes.msg as Envelope);
  const v2 = new Uint8Array(good);
  v2[1] = 0x02;
  t.throws(() => codec.decode(v2), { instanceOf: DecodeError, message: /unsupported version 2/ });
  const k9 = new Uint8Array(good);
  k9[2] = 0x09;
  t.throws(() => codec.decode(k9), { instanceOf: DecodeError, message: /unknown kind 9/ });
  const badAddr = codec.encode({ v: 1, kind: 'msg', id: 1, src: { queue: 'a' }, dst: { vaddr: 'weft://guide/*/m' } });
  const s = Buffer.from(badAddr).toString('latin1').replace('weft://', 'http://');
  t.throws(() => codec.decode(new Uint8Array(Buffer.from(s, 'latin1'))), { instanceOf: DecodeError, message: /dst: virtual address must start/ });
});

test('the optional ext map (element 9) round-trips, is absent unless set, and is checked on decode', (t) => {
  const base: Envelope = { v: 1, kind: 'req', id: 7, src: { queue: 'a' }, dst: { vaddr: 'weft://guide/s1/search' }, op: 'q' };
  t.is(codec.encode(base)[0], 0x89, 'no ext: the 9-element form, bytes unchanged');
  const withExt = { ...base, ext: { by: 'box:b1', tp: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } };
  const bytes = codec.encode(withExt);
  t.is(bytes[0], 0x8a);
  t.deepEqual(codec.decode(bytes).ext, withExt.ext);
  t.throws(() => codec.encode({ ...base, ext: { who: 'x' } as never }), { instanceOf: EncodeError, message: /unknown ext field "who"/ });
  // A string where the map belongs, or a number in a known field, is a DecodeError.
  const bad = new Uint8Array(bytes);
  const mapAt = bytes.lastIndexOf(0xa2);
  bad[mapAt] = 0x60; // empty text instead of the map header
  t.throws(() => codec.decode(bad.subarray(0, mapAt + 1)), { instanceOf: DecodeError });
});
