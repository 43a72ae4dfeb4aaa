// [issue 19.5] An idle fleet's boxes want none of the blocks on air: with N boxes on one demux a
// block nobody wants must cost the process one lookup, not one wants() per box, and is never
// decoded (no CRC, no payload copy). The answer is asked again whenever a box could want more: a
// new subscriber, a DSI or DII that changed a receiver, or a sink that says so (demux.changed()).
import test from 'ava';
import { CarouselDemux, CarouselReceiver, type DemuxSink, type DsmccMessage, SectionPacketizer, encodeDdb, encodeDii, encodeDsi, makeModule } from '../../carousel/index.ts';
import { broadcaster, randomBytes, take } from './_app.ts';

/** A receiver behind a sink that counts the questions the demux asks it. */
function counted(rx: CarouselReceiver): DemuxSink & { asked: number } {
  const s = { pid: rx.pid, asked: 0, wants: (m: Parameters<CarouselReceiver['wants']>[0]) => (s.asked++, rx.wants(m)), pushMessage: (m: DsmccMessage) => rx.pushMessage(m) };
  return s;
}

test('a block no box wants costs one lookup: no box is asked again until one could want more', (t) => {
  const demux = new CarouselDemux();
  const rxs = Array.from({ length: 40 }, () => new CarouselReceiver({ shared: demux.shared }));
  const sinks = rxs.map(counted);
  for (const s of sinks) demux.subscribe(s);
  const b = broadcaster();
  for (let i = 0; i < 5000 && !rxs.every((r) => r.done); i++) demux.push(b.nextDatagram() as Uint8Array);
  t.true(rxs.every((r) => r.done), 'every box booted');
  demux.push(take(b, 600)); // a whole cycle: each block on air met once more
  const asked = sinks.reduce((a, s) => a + s.asked, 0);
  const unwanted = demux.stats().unwantedBlocks;
  demux.push(take(b, 600)); // idle
  t.true(demux.stats().unwantedBlocks > unwanted + 50, 'blocks went by, wanted by none');
  t.is(sinks.reduce((a, s) => a + s.asked, 0), asked, 'no box was asked about a block already known to be wanted by none');
  // A box that joins wants everything it has not seen: the demux asks again, and it boots.
  const late = new CarouselReceiver({ shared: demux.shared });
  demux.subscribe(late);
  for (let i = 0; i < 5000 && !late.done; i++) demux.push(b.nextDatagram() as Uint8Array);
  t.true(late.done, 'a box that joined an idle demux still booted');
});

const BLOCK = 4066;
const ui = makeModule('ui.js', 'client', 'boot', randomBytes(100, 1));
const epg = makeModule('epg.js', 'client', 'fallback-2', randomBytes(100, 2));
const info = (m: typeof ui) => ({ name: m.name, kind: m.kind, tier: m.tier, sha256: Uint8Array.from(Buffer.from(m.sha256, 'hex')), appId: 'guide', appVersion: '1.0.0' });
const ddb = (moduleId: number, data: Uint8Array, version = 4) => encodeDdb({ downloadId: 7, moduleId, version, block: 0, data }, 0);
const ui6 = makeModule('ui.js', 'client', 'boot', randomBytes(100, 6)); // ui.js at version 6: other bytes
const dii = (transactionId: number, version = 4, first = ui) =>
  encodeDii({ transactionId, downloadId: 7, blockSize: BLOCK, modules: [first, epg].map((m, i) => ({ id: i + 1, size: m.bytes.length, version, info: info(m) })) });
const dsi = encodeDsi({ transactionId: 0x80000000, appId: 'guide', appVersion: '1.0.0', groups: [{ groupId: 0x80000002, size: 1000, tier: 'boot' }] });

/** Sections as TS packets of PID 0x200, through one packetizer (continuity counters run on). */
function feeder(demux: CarouselDemux): (...sections: Uint8Array[]) => void {
  const pz = new SectionPacketizer(0x200);
  return (...sections) => {
    const q = [...sections];
    for (let p = pz.packet(() => q.shift()); p !== undefined; p = pz.packet(() => q.shift())) demux.push(p);
  };
}

function broken(s: Uint8Array): Uint8Array {
  const b = s.slice();
  b[b.length - 1] = (b[b.length - 1] as number) ^ 0xff;
  return b;
}

/** Three boxes of the boot tier that have ui.js (module 1) and do not want epg.js (module 2). */
function idle(t: { true: (v: boolean, m?: string) => void }): { demux: CarouselDemux; feed: (...s: Uint8Array[]) => void; rxs: CarouselReceiver[] } {
  const demux = new CarouselDemux();
  const rxs = [0, 1, 2].map(() => new CarouselReceiver({ shared: demux.shared }));
  for (const rx of rxs) demux.subscribe(rx);
  const feed = feeder(demux);
  feed(dsi, dii(0x80000002), ddb(1, ui.bytes));
  t.true(rxs.every((r) => r.modules().some((m) => m.name === 'ui.js')), 'ui.js is in');
  return { demux, feed, rxs };
}

test('a block no box wants is not decoded: its broken CRC is never checked', (t) => {
  const { demux, feed } = idle(t);
  const before = demux.stats();
  feed(broken(ddb(1, ui.bytes)), broken(ddb(2, epg.bytes)), broken(ddb(2, epg.bytes)));
  const s = demux.stats();
  t.is(s.badSections, before.badSections, 'dropped by the header, not decoded');
  t.is(s.unwantedBlocks, before.unwantedBlocks + 3);
  t.is(s.sections, before.sections + 3);
  // A block some box wants still goes through the CRC: a module id no DII named (kept for its DII).
  feed(broken(ddb(9, epg.bytes)));
  t.is(demux.stats().badSections, before.badSections + 1, 'a wanted block is checked');
});

test('a DII that changes what a box wants makes the demux ask again; a repeated DII does not', (t) => {
  const { demux, feed, rxs } = idle(t);
  feed(ddb(1, ui.bytes, 5)); // version 5 of ui.js: no DII yet, so every box keeps it for its DII
  t.is(demux.stats().unwantedBlocks, 0, 'a block of an unknown version is wanted (kept for its DII)');
  const sink = counted(new CarouselReceiver({ shared: demux.shared })); // a bystander that asks nothing of itself
  demux.subscribe(sink);
  feed(dsi, dii(0x80000002), ddb(2, epg.bytes));
  const asked = sink.asked;
  feed(dii(0x80000002), ddb(2, epg.bytes), ddb(2, epg.bytes));
  t.is(sink.asked, asked, 'a repeated DII changed nothing: the block stayed known as wanted by none');
  // A new version of the group (the DII names ui.js at version 6): its block is wanted again by every box.
  const blocks = rxs.map((r) => r.stats().blocks);
  feed(dii(0x80010002, 6, ui6), ddb(1, ui6.bytes, 6));
  t.deepEqual(rxs.map((r) => r.stats().blocks), blocks.map((n) => n + 1), 'the new version reached every box');
  t.true(rxs.every((r) => r.modules().some((m) => m.name === 'ui.js' && m.sha256 === ui6.sha256)));
});

test('a sink whose answer changed on its own (a box that swapped receivers) says so, and is asked again', (t) => {
  const demux = new CarouselDemux();
  let want = false;
  const got: DsmccMessage[] = [];
  demux.subscribe({ pid: 0x200, wants: () => want, pushMessage: (m) => (got.push(m), false) });
  const feed = feeder(demux);
  feed(dsi, dii(0x80000002), ddb(1, ui.bytes), ddb(1, ui.bytes));
  t.deepEqual(got.map((m) => m.type), ['dsi', 'dii']);
  want = true;
  demux.changed();
  feed(ddb(1, ui.bytes));
  t.deepEqual(got.map((m) => m.type), ['dsi', 'dii', 'ddb']);
  // A sink that says nothing about a DII (returns no boolean) is taken to want more.
  const other: DsmccMessage[] = [];
  let otherWants = false;
  demux.subscribe({ pid: 0x200, wants: () => otherWants, pushMessage: (m) => void other.push(m) });
  want = false;
  feed(ddb(1, ui.bytes));
  otherWants = true;
  feed(dii(0x80000002), ddb(1, ui.bytes));
  t.is(other.filter((m) => m.type === 'ddb').length, 1);
});
