// W3C trace context in the envelope (runtime/trace.ts) and its passage through a Channel: the
// origin's sampler stamps ext.tp, the answer carries it back, unsampled traffic has no ext.
import test from 'ava';
import fc from 'fast-check';
import { Channel, ManualClock, type Envelope } from '../../runtime/index.ts';
import { SeededRandom } from '../../policy/index.ts';
import { childSpan, formatTraceparent, newTrace, parseTraceparent, traceSampler } from '../../runtime/trace.ts';

const rnd = (seed: number): (() => number) => {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
};

test('traceparent: format and parse round trip; a child keeps the trace and takes a new span', (t) => {
  const r = rnd(7);
  const root = newTrace(r);
  t.regex(formatTraceparent(root), /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  t.deepEqual(parseTraceparent(formatTraceparent(root)), root);
  const child = childSpan(root, r);
  t.is(child.traceId, root.traceId);
  t.not(child.spanId, root.spanId);
});

test('traceparent: anything but a valid version-00 value parses to undefined, never throws', (t) => {
  for (const bad of [undefined, 1, '', '00-abc', `01-${'a'.repeat(32)}-${'b'.repeat(16)}-01`, `00-${'0'.repeat(32)}-${'b'.repeat(16)}-01`, `00-${'a'.repeat(32)}-${'0'.repeat(16)}-01`, `00-${'A'.repeat(32)}-${'b'.repeat(16)}-01`]) {
    t.is(parseTraceparent(bad), undefined, String(bad));
  }
  fc.assert(fc.property(fc.string({ maxLength: 80 }), (s) => parseTraceparent(s) === undefined || /^00-/.test(s)));
  t.is(parseTraceparent(`00-${'a'.repeat(32)}-${'b'.repeat(16)}-00`)?.sampled, false);
});

test('sampling: rate 0 is no sampler at all; rate 1 samples every request; a rate in between samples about that share', (t) => {
  t.is(traceSampler(0, Math.random), undefined);
  const all = traceSampler(1, rnd(3));
  t.truthy(all?.());
  const some = traceSampler(0.25, new SeededRandom(11).uniform());
  let n = 0;
  for (let i = 0; i < 4000; i++) if (some?.() !== undefined) n++;
  t.true(n > 800 && n < 1200, `${n} of 4000 sampled at 0.25`);
  t.throws(() => traceSampler(2, Math.random), { message: /0\.\.1/ });
});

test('a channel with a sampler stamps ext.tp on requests; the answer carries the same traceparent back; without one nothing is added', async (t) => {
  const clock = new ManualClock();
  const seen: Envelope[] = [];
  const tp = formatTraceparent(newTrace(rnd(9)));
  let server: Channel | undefined;
  const client = new Channel({ self: { vaddr: 'weft://box/b/inbox' }, clock, traceparent: () => tp, write: (e) => (seen.push(e), server?.receive(e)) });
  server = new Channel({ self: { vaddr: 'weft://app/s/m' }, clock, onRequest: () => 'ok', write: (e) => (seen.push(e), client.receive(e)) });
  t.is(await client.request({ vaddr: 'weft://app/s/m' }, 1), 'ok');
  t.deepEqual(seen.map((e) => [e.kind, e.ext?.tp]), [['req', tp], ['rep', tp]]);
  seen.length = 0;
  const plain = new Channel({ self: { vaddr: 'weft://box/c/inbox' }, clock, write: (e) => (seen.push(e), server?.receive(e)) });
  server = new Channel({ self: { vaddr: 'weft://app/s/m' }, clock, onRequest: () => 'ok', write: (e) => (seen.push(e), plain.receive(e)) });
  await plain.request({ vaddr: 'weft://app/s/m' }, 1);
  t.true(seen.every((e) => e.ext === undefined), 'tracing off: no ext on the wire');
});
