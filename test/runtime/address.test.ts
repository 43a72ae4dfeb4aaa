import test from 'ava';
import fc from 'fast-check';
import { AddressError, checkAddress, formatAddress, formatVaddr, isVaddr, parseVaddr } from '../../runtime/index.ts';

test('parses a virtual address with and without an instance', (t) => {
  t.deepEqual(parseVaddr('weft://guide/s-8f2c/search'), { app: 'guide', session: 's-8f2c', module: 'search' });
  t.deepEqual(parseVaddr('weft://guide/*/epg/2'), { app: 'guide', session: '*', module: 'epg', instance: '2' });
});

test('bad virtual addresses give AddressError naming the part', (t) => {
  const cases: [string, RegExp][] = [
    ['http://guide/s/m', /must start with weft:\/\//],
    ['weft://Guide/s/m', /bad app id/],
    ['weft://guide/s', /must be weft:/],
    ['weft://guide/s/m/i/x', /must be weft:/],
    ['weft://guide/s/../', /bad module name/],
    ['weft://guide/s p/m', /bad session/],
    ['weft://guide/s/m/' + 'x'.repeat(300), /longer than 256/],
  ];
  for (const [input, re] of cases) {
    const e = t.throws(() => parseVaddr(input), { instanceOf: AddressError });
    t.regex(e.message, re, input);
    t.is(e.name, 'AddressError');
  }
});

const seg = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}$/);
const vaddrParts = fc.record(
  {
    app: fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,20}$/),
    session: fc.oneof(fc.constant('*'), seg),
    module: seg,
    instance: seg,
  },
  { requiredKeys: ['app', 'session', 'module'] },
);

test('property: format then parse gives the same parts', (t) => {
  fc.assert(
    fc.property(vaddrParts, (v) => {
      t.deepEqual(parseVaddr(formatVaddr(v)), v);
    }),
    { numRuns: 2000 },
  );
});

test('property: parse never throws anything but AddressError', (t) => {
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.string().map((s) => 'weft://' + s)), (s) => {
      try {
        parseVaddr(s);
      } catch (e) {
        return e instanceof AddressError;
      }
      return true;
    }),
    { numRuns: 5000 },
  );
  t.pass();
});

// [wave 15] isVaddr is one expression (the envelope codec checks every address with it): it must
// accept exactly what parseVaddr accepts, near misses included.
test('property: isVaddr accepts exactly what parseVaddr accepts', (t) => {
  const accepts = (s: string): boolean => {
    try {
      parseVaddr(s);
      return true;
    } catch {
      return false;
    }
  };
  const part = fc.stringMatching(/^[A-Za-z0-9_.*\/-]{0,70}$/);
  const edge = fc.stringMatching(/^[a-zA-Z0-9_][a-z0-9_.-]{58,68}$/); // around the 63/64-character bounds
  const appEdge = fc.stringMatching(/^[a-z0-9][a-z0-9-]{60,65}$/);
  const piece = fc.oneof(part, edge, appEdge, fc.constant('*'), fc.constant('a'));
  const near = fc.tuple(piece, piece, piece, fc.option(piece)).map(([a, b, c, d]) => `weft://${a}/${b}/${c}${d === null ? '' : `/${d}`}`);
  const good = vaddrParts.map((v) => formatVaddr(v));
  const long = good.map((s) => `${s}/${'x'.repeat(Math.max(0, 257 - s.length))}`);
  fc.assert(
    fc.property(fc.oneof(fc.string(), near, good, long, fc.constant('weft://a/*/m'), fc.constant('weft://a/*/m\n')), (s) => isVaddr(s) === accepts(s)),
    { numRuns: 20_000 },
  );
  t.false(isVaddr(42));
  t.true(isVaddr('weft://guide/s1/epg/i-2'));
  t.false(isVaddr('weft://Guide/s1/epg'), 'upper case app');
});

test('address objects: queue [c10], udp pair [c11], vaddr [c12]; unknown fields refused', (t) => {
  t.deepEqual(checkAddress({ queue: 'q1' }), { queue: 'q1' });
  t.deepEqual(checkAddress({ udp: { host: '10.1.2.3', port: 4000 } }), { udp: { host: '10.1.2.3', port: 4000 } });
  t.deepEqual(checkAddress({ vaddr: 'weft://vod/*/catalogue', udp: { host: '::1', port: 9 } }), {
    vaddr: 'weft://vod/*/catalogue',
    udp: { host: '::1', port: 9 },
  });
  t.throws(() => checkAddress({}), { instanceOf: AddressError, message: /at least one/ });
  t.throws(() => checkAddress({ queue: 'q', colour: 'red' }), { instanceOf: AddressError, message: /unknown address field "colour"/ });
  t.throws(() => checkAddress({ udp: { host: 'example.com', port: 1 } }), { instanceOf: AddressError, message: /IP literal/ });
  t.throws(() => checkAddress({ udp: { host: '1.2.3.4', port: 70000 } }), { instanceOf: AddressError, message: /port/ });
  t.throws(() => checkAddress({ udp: { host: '256.2.3.4', port: 1 } }), { instanceOf: AddressError });
  t.is(formatAddress({ udp: { host: '::1', port: 9 } }), 'udp://[::1]:9');
  t.is(formatAddress({ queue: 'q1' }), 'queue:q1');
});
