// [issue 19, build 5] One demux per process: each section is decoded once for every receiver,
// blocks go only to receivers that want them (an idle box gets none), and a module verified by
// one receiver is shared by the others.
import test from 'ava';
import fc from 'fast-check';
import { ArgumentError } from '../../runtime/index.ts';
import { CarouselDemux, CarouselReceiver, type Tier } from '../../carousel/index.ts';
import { broadcaster, sameBytes, smallApp, take } from './_app.ts';

const ALL: Tier[] = ['boot', 'fallback-1', 'fallback-2'];

test('receivers fed by one demux acquire every tier; each section is decoded once, not once per receiver', (t) => {
  const demux = new CarouselDemux();
  const rxs = [0, 1, 2, 3, 4].map((i) => new CarouselReceiver({ tiers: i % 2 === 0 ? ALL : ['boot'], shared: demux.shared }));
  for (const rx of rxs) demux.subscribe(rx);
  const b = broadcaster();
  let pulled = 0;
  for (; pulled < 20_000 && !rxs.every((r) => r.done); pulled++) demux.push(b.nextDatagram() as Uint8Array);
  t.true(rxs.every((r) => r.done));
  const set = smallApp();
  for (const [i, rx] of rxs.entries()) {
    const want = set.modules.filter((m) => (i % 2 === 0 ? ALL : ['boot']).includes(m.tier));
    t.is(rx.modules().length, want.length);
    for (const m of want) t.true(sameBytes(rx.modules().find((x) => x.name === m.name)?.bytes ?? new Uint8Array(1), m.bytes), m.name);
    t.is(rx.stats().sections, 0, 'the receiver decoded nothing itself');
  }
  // The same stream into one plain receiver: the demux decoded exactly as many sections.
  const plain = new CarouselReceiver({ tiers: ALL });
  const b2 = broadcaster();
  for (let i = 0; i < pulled; i++) plain.push(b2.nextDatagram() as Uint8Array);
  t.is(demux.stats().sections, plain.stats().sections);
});

test('an idle (done) receiver is handed no blocks, only the DSI and DIIs that could announce a new version', (t) => {
  const demux = new CarouselDemux();
  const rx = new CarouselReceiver({ shared: demux.shared });
  demux.subscribe(rx);
  const b = broadcaster();
  for (let i = 0; i < 5000 && !rx.done; i++) demux.push(b.nextDatagram() as Uint8Array);
  t.true(rx.done);
  const blocks = rx.stats().blocks;
  const unwanted = demux.stats().unwantedBlocks;
  demux.push(take(b, 600)); // more than a whole cycle
  t.is(rx.stats().blocks, blocks, 'no block reached the idle receiver');
  t.true(demux.stats().unwantedBlocks > unwanted + 50);
  // A new version still reaches it.
  b.update(smallApp(1, '1.0.1'));
  const events: string[] = [];
  const rx2 = new CarouselReceiver({ shared: demux.shared, onEvent: (e) => events.push(e.kind) });
  demux.subscribe(rx2);
  for (let i = 0; i < 5000 && !(rx.done && rx2.done && rx.modules().some((m) => m.name === 'manifest.json' && sameBytes(m.bytes, smallApp(1, '1.0.1').modules[0]?.bytes as Uint8Array))); i++) demux.push(b.nextDatagram() as Uint8Array);
  t.true(sameBytes(rx.modules().find((m) => m.name === 'manifest.json')?.bytes ?? new Uint8Array(), smallApp(1, '1.0.1').modules[0]?.bytes as Uint8Array), 'the idle receiver took the new manifest');
});

test('a module verified by one receiver is shared: the same bytes object, hashed once', (t) => {
  const demux = new CarouselDemux();
  const a = new CarouselReceiver({ tiers: ALL, shared: demux.shared });
  const c = new CarouselReceiver({ tiers: ALL, shared: demux.shared });
  demux.subscribe(a);
  demux.subscribe(c);
  const b = broadcaster();
  for (let i = 0; i < 20_000 && !(a.done && c.done); i++) demux.push(b.nextDatagram() as Uint8Array);
  for (const m of a.modules()) t.is(c.modules().find((x) => x.name === m.name)?.bytes, m.bytes, m.name);
  t.true(demux.stats().shared.hits >= a.modules().length - 1);
  // A late receiver (a box that boots later) takes every module from the shared store at its DII.
  const hits = demux.stats().shared.hits;
  const late = new CarouselReceiver({ tiers: ALL, shared: demux.shared });
  demux.subscribe(late);
  for (let n = 0; n < 20_000 && !late.done; n++) demux.push(b.nextDatagram() as Uint8Array);
  t.true(late.done);
  t.true(demux.stats().shared.hits - hits >= late.modules().length, 'every module came from the shared store');
  for (const m of late.modules()) t.is(a.modules().find((x) => x.name === m.name)?.bytes, m.bytes, m.name);
});

test('the shared store is bounded by bytes, least recently used out first', (t) => {
  const demux = new CarouselDemux({ maxSharedBytes: 10 });
  demux.shared.put('a', new Uint8Array(6));
  demux.shared.put('b', new Uint8Array(4));
  demux.shared.get('a');
  demux.shared.put('c', new Uint8Array(4));
  t.truthy(demux.shared.get('a'));
  t.is(demux.shared.get('b'), undefined);
  demux.shared.put('huge', new Uint8Array(11));
  t.is(demux.shared.get('huge'), undefined);
  t.true(demux.stats().shared.bytes <= 10);
  t.throws(() => new CarouselDemux({ maxShared: 1 } as never), { instanceOf: ArgumentError });
});

test('unsubscribed receivers get nothing more', (t) => {
  const demux = new CarouselDemux();
  const rx = new CarouselReceiver();
  const off = demux.subscribe(rx);
  const b = broadcaster();
  demux.push(take(b, 5));
  off();
  const before = rx.stats().blocks;
  demux.push(take(b, 200));
  t.is(rx.stats().blocks, before);
  t.is(demux.subscribers, 0);
});

test('property: random and mutated datagrams never make the demux throw', (t) => {
  const good = take(broadcaster(), 40);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 188 * 8 }), fc.integer({ min: 0, max: good.length - 1 }), (junk, at) => {
      const demux = new CarouselDemux();
      demux.subscribe(new CarouselReceiver({ tiers: ALL }));
      demux.push(junk);
      const m = good.slice();
      m[at] = (m[at] ?? 0) ^ 0xff;
      demux.push(m);
      return demux.stats().packets > 0;
    }),
    { numRuns: 200 },
  );
  t.pass();
});
