// The UDP transport against peers that speak the framing by hand (a raw node:dgram socket):
// duplicated and reordered datagrams, garbage, truncated headers, bad fragment numbers,
// floods of never-completed transfers. Each is counted, memory stays under the limits, and
// the same transport still serves a normal request afterwards.

import test from 'ava';
import { Channel, EnvelopeCodec, ManualClock, type Address, type Envelope } from '../../runtime/index.ts';
import {
  FLAG_POLL,
  FLAG_RELIABLE,
  ackDatagram,
  createUdpTransport,
  dataHeader,
  nackDatagram,
  parseDatagram,
  type UdpTransport,
  type UdpTransportOptions,
} from '../../transport/index.ts';
import { collect, prng, rawPeer, type RawPeer } from '../_helpers/udp.ts';

const codec = new EnvelopeCodec();
const R = FLAG_RELIABLE;

function envelopeBytes(src: RawPeer, dst: Address, kind: Envelope['kind'], body: unknown, id = 1): Uint8Array {
  return codec.encode({ v: 1, kind, id, src: { udp: { host: '127.0.0.1', port: src.port } }, dst, body });
}

/** DATA datagram: header + payload, as a hostile or scripted peer writes it. */
function data(flags: number, transfer: number, index: number, count: number, payload: Uint8Array): Buffer {
  return Buffer.concat([dataHeader(flags, [], transfer, index, count), payload]);
}

function acksOf(d: Uint8Array): readonly number[] {
  const f = parseDatagram(d);
  return f.type === 'bad' ? [] : f.acks;
}

/**
 * Send `datagrams` in order from `from`, then a marker msg, and wait until the marker is
 * delivered: loopback keeps one socket's datagrams in order, so all before it were processed.
 */
async function sendThenMark(victim: UdpTransport, rx: ReturnType<typeof collect>, from: RawPeer, datagrams: Uint8Array[], marker: string): Promise<void> {
  const port = victim.address.udp?.port as number;
  for (const d of datagrams) await from.send(d, port);
  const id = 0xf000_0000 + Math.floor(Math.random() * 0x0fff_ffff);
  await from.send(data(0, id, 0, 1, envelopeBytes(from, victim.address, 'msg', marker, id)), port);
  await rx.waitFor((e) => e.id === id && e.body === marker);
}

async function victimWith(options: UdpTransportOptions = {}): Promise<{ v: UdpTransport; rx: ReturnType<typeof collect> }> {
  const v = await createUdpTransport(options);
  return { v, rx: collect(v) };
}

/** A normal Channel request/reply (small and fragmented) to the victim from a fresh transport. */
async function stillServes(v: UdpTransport, rx: ReturnType<typeof collect>): Promise<unknown[]> {
  const client = await createUdpTransport();
  try {
    const server = new Channel({ self: v.address, write: (e) => v.send(e), onRequest: (r) => ({ len: JSON.stringify(r.body).length }) });
    rx.got.length = 0;
    v.onEnvelope((e) => server.receive(e));
    const ch = new Channel({ self: client.address, write: (e) => client.send(e), timeoutMs: 3000 });
    client.onEnvelope((e) => ch.receive(e));
    return await Promise.all([ch.request(v.address, 'ping'), ch.request(v.address, 'y'.repeat(15_000))]);
  } finally {
    await client.close();
  }
}

test('hostile: duplicated datagrams are delivered once; a reliable duplicate is acknowledged again', async (t) => {
  const { v, rx } = await victimWith();
  const h = await rawPeer();
  try {
    const msg = data(0, 10, 0, 1, envelopeBytes(h, v.address, 'msg', 'once'));
    const req = data(R | FLAG_POLL, 11, 0, 1, envelopeBytes(h, v.address, 'req', 'twice?'));
    await sendThenMark(v, rx, h, [msg, msg, msg, req, req, req], 'mark');
    t.deepEqual(rx.got.map((e) => e.body), ['once', 'twice?', 'mark']);
    t.is(v.stats().duplicates, 4);
    const ack = await h.waitFor((d) => parseDatagram(d).type === 'ack' && acksOf(d).includes(11));
    t.truthy(ack);
    t.false(h.got.some((d) => acksOf(d).includes(10)), 'best-effort transfers are not acknowledged');
  } finally {
    await Promise.all([v.close(), h.close()]);
  }
});

test('hostile: fragments in any order, some twice, reassemble into one delivery', async (t) => {
  const { v, rx } = await victimWith();
  const h = await rawPeer();
  try {
    const body = new Uint8Array(6000).map((_, i) => (i * 13 + 5) & 0xff);
    const bytes = envelopeBytes(h, v.address, 'req', body);
    const size = 500;
    const count = Math.ceil(bytes.length / size);
    const frag = (i: number, flags = R): Buffer => data(flags, 77, i, count, bytes.subarray(i * size, (i + 1) * size));
    const order = [...Array(count).keys()].sort((x, y) => ((x * 7) % count) - ((y * 7) % count)).reverse();
    const datagrams = order.map((i) => frag(i));
    datagrams.splice(3, 0, frag(order[0] as number), frag(order[1] as number)); // two repeats mid-way
    await sendThenMark(v, rx, h, datagrams, 'mark');
    t.is(rx.got.length, 2);
    t.deepEqual(Buffer.from(rx.got[0]?.body as Uint8Array), Buffer.from(body));
    t.is(v.stats().duplicateFragments, 2);
    t.is(v.stats().partialTransfers, 0);
    // A late straggler of the finished transfer is a duplicate, not a new message.
    await sendThenMark(v, rx, h, [frag(2, R | FLAG_POLL)], 'mark2');
    t.deepEqual(rx.got.map((e) => (e.body instanceof Uint8Array ? 'bytes' : e.body)), ['bytes', 'mark', 'mark2']);
    t.is(v.stats().duplicates, 1);
  } finally {
    await Promise.all([v.close(), h.close()]);
  }
});

test('hostile: garbage, truncated headers and bad fragment numbers are counted and dropped', async (t) => {
  const { v, rx } = await victimWith();
  const h = await rawPeer();
  try {
    const rnd = prng(7);
    const garbage = Array.from({ length: 40 }, () => Buffer.from(Array.from({ length: 1 + Math.floor(rnd() * 60) }, (_, i) => (i === 0 ? 0x41 : Math.floor(rnd() * 256)))));
    const truncated = [
      Buffer.from([0x57]),
      Buffer.from([0x57, 0x46, 0x01]), // magic and version only
      Buffer.from([0x57, 0x46, 0x01, 0x00, 0x00, 0x05]), // claims 5 piggybacked acks, has none
      Buffer.from([0x57, 0x46, 0x01, 0x00, 0x00, 0x00, 0, 0, 0, 1]), // DATA cut inside its fields
      Buffer.from([0x57, 0x46, 0x09, 0x00, 0x00, 0x00, 0, 0, 0, 1, 0, 0, 0, 1, 0x42]), // unknown version
      Buffer.from([0x57, 0x46, 0x01, 0x07, 0x00, 0x00]), // unknown type
      Buffer.from([0x57, 0x46, 0x01, 0x00, 0x80, 0x00, 0, 0, 0, 1, 0, 0, 0, 1, 0x42]), // unknown flag
      Buffer.from([0x57, 0x46, 0x01, 0x01, 0x00, 0x00]), // ACK with no ids
    ];
    const one = new Uint8Array([1]);
    const badFragments = [
      data(R, 1, 5, 5, one), // index past count
      data(R, 2, 0, 0, one), // zero count
      dataHeader(R, [], 3, 0, 2), // no payload
      data(R, 4, 0, 65535, one), // a count no envelope needs
      Buffer.concat([nackDatagram(5, 16, new Uint8Array(2)).subarray(0, 12), Buffer.from([0])]), // NACK bitmap of the wrong length
    ];
    const undecodable = [data(0, 6, 0, 1, Buffer.from('not cbor at all')), data(R, 7, 0, 1, new Uint8Array([0x89, 0xff, 0xff]))];
    await sendThenMark(v, rx, h, [...garbage, ...truncated, ...badFragments, ...undecodable], 'mark');
    const s = v.stats();
    t.is(s.malformedMagic, 41);
    t.is(s.malformedHeader, 7);
    t.is(s.malformedFragment, 5);
    t.is(s.malformedEnvelope, 2);
    t.is(s.malformed, 41 + 7 + 5 + 2);
    t.is(s.partialTransfers, 0);
    t.deepEqual(rx.got.map((e) => e.body), ['mark']);
    // Spoofed acks and NACKs for transfers nobody sent change nothing.
    await sendThenMark(v, rx, h, [ackDatagram([1, 2, 3]), nackDatagram(9, 8, new Uint8Array([0xff]))], 'mark2');
    t.is(v.stats().strayAcks, 3);
    t.deepEqual(await stillServes(v, rx), [{ len: 6 }, { len: 15_002 }]);
  } finally {
    await Promise.all([v.close(), h.close()]);
  }
});

test('hostile: floods of never-completed transfers stay under every limit; others still get through', async (t) => {
  const limits = { maxPartialPerPeer: 4, maxPartialTotal: 6, maxReassemblyBytes: 40_000 };
  // The victim's inbound hook samples its gauges before every datagram: the peak is exact.
  let peak = { partials: 0, bytes: 0 };
  const box: { v?: UdpTransport } = {};
  const watch = (): boolean => {
    const s = box.v?.stats();
    if (s !== undefined) peak = { partials: Math.max(peak.partials, s.partialTransfers), bytes: Math.max(peak.bytes, s.reassemblyBytes) };
    return false;
  };
  const victim = await victimWith({ ...limits, dropFilter: watch });
  const { v, rx } = victim;
  box.v = v;
  const h1 = await rawPeer();
  const h2 = await rawPeer();
  try {
    const k = new Uint8Array(1000).fill(0x5a);
    // 300 transfers each from two peers, only fragment 0 of 16 ever sent.
    for (const h of [h1, h2]) {
      await sendThenMark(v, rx, h, Array.from({ length: 300 }, (_, i) => data(R, i, 0, 16, k)), 'mark');
    }
    // Every transfer was held, refused, or evicted for the second peer's fair share.
    t.is(v.stats().partialTransfers, 6);
    t.is((v.stats().droppedPartialLimit) + (v.stats().evictedPartials), 600 - 6);
    // h1 fills its held transfers fragment by fragment until the byte budget stops it.
    const more = [0, 1, 2, 3].flatMap((tr) => Array.from({ length: 14 }, (_, i) => data(R, tr, i + 1, 16, k)));
    await sendThenMark(v, rx, h1, more, 'mark');
    const s = v.stats();
    t.true(s.droppedBytesLimit > 0, `droppedBytesLimit ${s.droppedBytesLimit}`);
    t.true(peak.partials <= limits.maxPartialTotal, `peak partials ${peak.partials}`);
    t.true(peak.bytes <= limits.maxReassemblyBytes, `peak bytes ${peak.bytes}`);
    t.is(s.partialTransfers, 6);
    // A third peer's fragmented request evicts the biggest holder's oldest partials to get in.
    t.deepEqual(await stillServes(v, rx), [{ len: 6 }, { len: 15_002 }]);
    t.true((v.stats().evictedPartials) > 1);
    t.true(peak.partials <= limits.maxPartialTotal && peak.bytes <= limits.maxReassemblyBytes, JSON.stringify(peak));
  } finally {
    await Promise.all([v.close(), h1.close(), h2.close()]);
  }
});

test('hostile: partial transfers time out and release their memory', async (t) => {
  const clock = new ManualClock(Date.now());
  const { v, rx } = await victimWith({ clock, reassemblyTimeoutMs: 1000 });
  const h = await rawPeer();
  try {
    const k = new Uint8Array(800);
    await sendThenMark(v, rx, h, [data(R, 1, 0, 3, k), data(R, 2, 1, 3, k), data(0, 3, 2, 3, k)], 'mark');
    t.is(v.stats().partialTransfers, 3);
    t.is(v.stats().reassemblyBytes, 2400);
    clock.advance(999);
    t.is(v.stats().partialTransfers, 3);
    clock.advance(250 + 1);
    t.is(v.stats().reassemblyTimeouts, 3);
    t.is(v.stats().partialTransfers, 0);
    t.is(v.stats().reassemblyBytes, 0);
    t.is(clock.pending, 0, 'no sweep timer is left once nothing is partial');
  } finally {
    await Promise.all([v.close(), h.close()]);
  }
});

test('hostile: past maxPeers the least recently heard peer is forgotten with its partials', async (t) => {
  const { v, rx } = await victimWith({ maxPeers: 2 });
  const hs = await Promise.all([rawPeer(), rawPeer(), rawPeer()]);
  try {
    for (const h of hs) await sendThenMark(v, rx, h, [data(R, 1, 0, 2, new Uint8Array(100))], 'mark');
    t.is(v.stats().peers, 2);
    t.is(v.stats().partialTransfers, 2);
    t.is(v.stats().reassemblyBytes, 200);
  } finally {
    await Promise.all([v.close(), ...hs.map((h) => h.close())]);
  }
});

test('hostile: 3000 random datagrams behind a valid header prefix never stop the transport', async (t) => {
  const { v, rx } = await victimWith({ maxPartialTotal: 16 });
  const h = await rawPeer();
  try {
    const rnd = prng(99);
    const junk = Array.from({ length: 3000 }, () => {
      const b = Buffer.from(Array.from({ length: 4 + Math.floor(rnd() * 80) }, () => Math.floor(rnd() * 256)));
      return Buffer.concat([Buffer.from([0x57, 0x46, 0x01, Math.floor(rnd() * 3), rnd() < 0.5 ? 0 : R, Math.floor(rnd() * 3)]), b]);
    });
    await sendThenMark(v, rx, h, junk, 'mark');
    const s = v.stats();
    t.true(s.malformed > 0);
    t.true((s.partialTransfers) <= 16);
    t.is(s.handlerErrors, 0);
    t.deepEqual(await stillServes(v, rx), [{ len: 6 }, { len: 15_002 }]);
  } finally {
    await Promise.all([v.close(), h.close()]);
  }
});
