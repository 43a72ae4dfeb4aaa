// Node-to-node UDP is a trust boundary (docs/SECURITY.md): with a cluster key every datagram
// carries a MAC and a sequence number; forged, wrong-key, tampered, truncated, oversized and
// replayed datagrams are dropped and counted before the transport keeps any state for them,
// strangers get no answer at all, and without the MAC no answer is bigger than its request.

import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHeadend } from '../../headend/main.ts';
import { ArgumentError, Channel, EnvelopeCodec, ManualClock, type Address, type Envelope } from '../../runtime/index.ts';
import { FLAG_POLL, FLAG_RELIABLE, ackDatagram, createUdpTransport, nackDatagram, parseDatagram, type UdpTransport } from '../../transport/index.ts';
import { AUTH_TRAILER, DatagramAuth, resolveAuth } from '../../transport/udp-auth.ts';
import { dataDatagram } from '../../transport/udp-framing.ts';
import { ReplayTable } from '../../transport/udp-replay.ts';
import { collect, prng, rawPeer, type Collector, type RawPeer } from '../_helpers/udp.ts';
// @ts-expect-error build.mjs is plain JavaScript without types
import { build } from '../../build.mjs';

const KEY = 'weft-cluster-key-for-the-tests-01';
const OTHER_KEY = 'some-other-cluster-key-entirely-2';
const R = FLAG_RELIABLE;
const codec = new EnvelopeCodec();

/** A peer signing as `sender`; `skewMs` puts its clock that far from ours. */
function signer(key: string, sender: number, epoch = 1000, skewMs = 0): DatagramAuth {
  return new DatagramAuth(resolveAuth('test', { key, sender, epoch }) as NonNullable<ReturnType<typeof resolveAuth>>, sender, () => Date.now() + skewMs);
}

/** A DATA datagram as a peer writes it: unsigned (reserve 0) or with room for the trailer. */
function data(flags: number, transfer: number, index: number, count: number, payload: Uint8Array, reserve = 0): Buffer {
  return dataDatagram(flags, [], transfer, index, count, payload, reserve);
}

function sealed(s: DatagramAuth, d: Buffer): Buffer {
  s.seal(d);
  return d;
}

function envelope(from: RawPeer, dst: Address, kind: Envelope['kind'], body: unknown, id: number): Uint8Array {
  return codec.encode({ v: 1, kind, id, src: { udp: { host: '127.0.0.1', port: from.port } }, dst, body });
}

let markId = 0x7000_0000;
/**
 * Send `datagrams` from `from`, then a msg signed by `marker` (or unsigned when undefined), and
 * wait for it: one socket's datagrams stay in order on loopback, so all before it were handled.
 */
async function sendThenMark(v: UdpTransport, rx: Collector, from: RawPeer, datagrams: Uint8Array[], marker: DatagramAuth | undefined): Promise<void> {
  const port = v.address.udp?.port as number;
  for (const d of datagrams) await from.send(d, port);
  const id = markId++;
  const frame = data(0, id, 0, 1, envelope(from, v.address, 'msg', 'mark', id), marker === undefined ? 0 : AUTH_TRAILER);
  await from.send(marker === undefined ? frame : sealed(marker, frame), port);
  await rx.waitFor((e) => e.id === id);
}

/** Have `v` write one datagram to `h` and wait for it: everything `v` wrote to `h` before has arrived. */
async function flushTo(v: UdpTransport, h: RawPeer): Promise<void> {
  const id = markId++;
  await v.send({ v: 1, kind: 'msg', id, src: v.address, dst: { udp: { host: '127.0.0.1', port: h.port } }, body: `flush-${id}` });
  await h.waitFor((d) => d[3] === 0 && d.includes(Buffer.from(`flush-${id}`)));
}

const sum = (ds: Uint8Array[]): number => ds.reduce((n, d) => n + d.length, 0);

function acksOf(d: Uint8Array): readonly number[] {
  const f = parseDatagram(d);
  return f.type === 'bad' ? [] : f.acks;
}

test('udp auth: forged, wrong-key, tampered, truncated, unsigned and oversized datagrams are dropped before any state is kept', async (t) => {
  const v = await createUdpTransport({ auth: { key: KEY } });
  const rx = collect(v);
  const h = await rawPeer();
  const legit = signer(KEY, 0x1111);
  try {
    const req = (id: number, reserve = AUTH_TRAILER): Buffer => data(R | FLAG_POLL, id, 0, 1, envelope(h, v.address, 'req', 'x', id), reserve);
    const fragment = (id: number, reserve = AUTH_TRAILER): Buffer => data(R | FLAG_POLL, id, 0, 16, new Uint8Array(1000).fill(1), reserve);
    const rnd = prng(5);
    const forgedTrailer = (d: Buffer): Buffer => {
      d[4] = (d[4] as number) | 0x04;
      for (let i = d.length - AUTH_TRAILER; i < d.length; i++) d[i] = Math.floor(rnd() * 256);
      return d;
    };
    const tampered = sealed(signer(KEY, 0x1111), req(3));
    tampered[20] = (tampered[20] as number) ^ 0x01;
    const cut = sealed(signer(KEY, 0x1111), req(4));
    const missing = [req(1, 0), fragment(2, 0), ackDatagram([1, 2]), nackDatagram(1, 8, new Uint8Array(1)), Buffer.from('junk'), cut.subarray(0, 30)];
    const badTag = [
      forgedTrailer(req(5)),
      forgedTrailer(fragment(6)),
      sealed(signer(OTHER_KEY, 0x2222), req(7)),
      sealed(signer(OTHER_KEY, 0x2222), fragment(8)),
      tampered,
      cut.subarray(0, cut.length - 1),
    ];
    const oversized = sealed(signer(KEY, 0x3333), data(R | FLAG_POLL, 9, 0, 2, new Uint8Array(1900)));
    await sendThenMark(v, rx, h, [...missing, ...badTag, oversized], legit);
    const s = v.stats();
    t.is(s.authMissing, missing.length);
    t.is(s.authBadTag, badTag.length);
    t.is(s.unauthenticated, missing.length + badTag.length);
    t.is(s.oversized, 1);
    t.deepEqual(rx.got.map((e) => e.body), ['mark'], 'only the signed marker was delivered');
    // Nothing was kept for them: one peer and one sender (the marker's), no partial transfer.
    t.is(s.peers, 1);
    t.is(s.authSenders, 1);
    t.is(s.partialTransfers, 0);
    t.is(s.reassemblyBytes, 0);
    t.is(s.malformed, 0);
    await flushTo(v, h);
    t.is(h.got.length, 1, 'no ACK or NACK went to the stranger, only the flush datagram');
  } finally {
    await Promise.all([v.close(), h.close()]);
  }
});

test('udp auth: 2000 forged datagrams grow no state and get no answer; signed traffic on the same socket still works', async (t) => {
  let peak = { peers: 0, senders: 0, partials: 0 };
  const box: { v?: UdpTransport } = {};
  const watch = (): boolean => {
    const s = box.v?.stats();
    if (s !== undefined) peak = { peers: Math.max(peak.peers, s.peers), senders: Math.max(peak.senders, s.authSenders), partials: Math.max(peak.partials, s.partialTransfers) };
    return false;
  };
  const v = await createUdpTransport({ auth: { key: KEY }, dropFilter: watch });
  box.v = v;
  const rx = collect(v);
  const h = await rawPeer();
  try {
    const rnd = prng(11);
    const forged = Array.from({ length: 2000 }, (_, i) => {
      const d = data(R | FLAG_POLL, i, Math.floor(rnd() * 4), 4, new Uint8Array(50 + Math.floor(rnd() * 400)).fill(i & 0xff), AUTH_TRAILER);
      d[4] = (d[4] as number) | 0x04;
      for (let j = d.length - AUTH_TRAILER; j < d.length; j++) d[j] = Math.floor(rnd() * 256);
      return d;
    });
    await sendThenMark(v, rx, h, forged, signer(KEY, 0x1111));
    t.is(v.stats().authBadTag, 2000);
    // Sampled before every datagram: the forged ones never created a peer, sender or partial.
    t.deepEqual(peak, { peers: 0, senders: 0, partials: 0 });
    // A node with the key: small and fragmented requests both ways on the same victim socket.
    const client = await createUdpTransport({ auth: { key: KEY } });
    try {
      const server = new Channel({ self: v.address, write: (e) => v.send(e), onRequest: (r) => ({ len: JSON.stringify(r.body).length }) });
      v.onEnvelope((e) => server.receive(e));
      const ch = new Channel({ self: client.address, write: (e) => client.send(e), timeoutMs: 5000 });
      client.onEnvelope((e) => ch.receive(e));
      t.deepEqual(await Promise.all([ch.request(v.address, 'ping'), ch.request(v.address, 'y'.repeat(15_000))]), [{ len: 6 }, { len: 15_002 }]);
      t.is(client.stats().unauthenticated, 0);
    } finally {
      await client.close();
    }
    await flushTo(v, h);
    t.is(h.got.length, 1, 'the forger got nothing but the flush datagram');
  } finally {
    await Promise.all([v.close(), h.close()]);
  }
});

test('udp auth: a recorded datagram replayed is dropped, from the same address or another', async (t) => {
  const a = await createUdpTransport({ auth: { key: KEY } });
  const v = await createUdpTransport({ auth: { key: KEY } });
  const rx = collect(v);
  const tap = await rawPeer();
  const other = await rawPeer();
  const legit = signer(KEY, 0x1111);
  try {
    // a writes a signed request to the tap (it takes the tap for a node): record it.
    void a.send({ v: 1, kind: 'msg', id: 1, src: a.address, dst: { udp: { host: '127.0.0.1', port: tap.port } }, body: 'recorded' }).catch(() => {});
    const recorded = await tap.waitFor((d) => d.length > AUTH_TRAILER);
    await sendThenMark(v, rx, tap, [recorded, recorded, recorded], legit);
    await sendThenMark(v, rx, other, [recorded], legit);
    t.deepEqual(rx.got.map((e) => e.body), ['recorded', 'mark', 'mark']);
    t.is(v.stats().replayed, 3);
    t.is(v.stats().unauthenticated, 0);
  } finally {
    await Promise.all([a.close(), v.close(), tap.close(), other.close()]);
  }
});

test('udp auth: a restarted sender (same id, later epoch) is not locked out; its earlier boot is stale', async (t) => {
  const v = await createUdpTransport({ auth: { key: KEY } });
  const server = new Channel({ self: v.address, write: (e) => v.send(e), onRequest: (r) => r.body });
  v.onEnvelope((e) => server.receive(e));
  const ask = async (epoch: number, body: string): Promise<unknown> => {
    const n = await createUdpTransport({ auth: { key: KEY, sender: 42, epoch } });
    try {
      const ch = new Channel({ self: n.address, write: (e) => n.send(e), timeoutMs: 5000 });
      n.onEnvelope((e) => ch.receive(e));
      return await ch.request(v.address, body);
    } finally {
      await n.close();
    }
  };
  const h = await rawPeer();
  try {
    t.is(await ask(1_000, 'first boot'), 'first boot');
    t.is(await ask(2_000, 'second boot'), 'second boot');
    // A datagram of the first boot (any sequence number) is refused; the window is bounded.
    const rx = collect(v);
    const old = sealed(signer(KEY, 42, 1_000), data(0, 5, 0, 1, envelope(h, v.address, 'msg', 'old', 5), AUTH_TRAILER));
    await sendThenMark(v, rx, h, [old], signer(KEY, 0x1111));
    t.is(v.stats().replayedStale, 1);
    t.deepEqual(rx.got.map((e) => e.body), ['mark']);
    t.is(v.stats().authSenders, 2);
  } finally {
    await Promise.all([v.close(), h.close()]);
  }
});

test('udp auth: a receiver that never heard a sender (restarted) still refuses a recording older than maxAgeMs, or from a clock that far ahead', async (t) => {
  const v = await createUdpTransport({ auth: { key: KEY, maxAgeMs: 60_000 } });
  const rx = collect(v);
  const h = await rawPeer();
  try {
    const msg = (s: DatagramAuth, id: number): Buffer => sealed(s, data(0, id, 0, 1, envelope(h, v.address, 'msg', `m${id}`, id), AUTH_TRAILER));
    const recorded = msg(signer(KEY, 50, 1000, -120_000), 1); // signed two minutes ago
    const ahead = msg(signer(KEY, 51, 1000, 120_000), 2);
    const lateButFresh = msg(signer(KEY, 52, 1000, -30_000), 3); // within the bound: accepted
    await sendThenMark(v, rx, h, [recorded, ahead, lateButFresh], signer(KEY, 0x1111));
    t.is(v.stats().authExpired, 2);
    t.deepEqual(rx.got.map((e) => e.body), ['m3', 'mark']);
    t.is(v.stats().authSenders, 2, 'the expired ones created no window');
  } finally {
    await Promise.all([v.close(), h.close()]);
  }
});

test('udp auth: per-node keys: each node signs with its own; the cluster key cannot speak for a keyed node', async (t) => {
  const K1 = 'key-of-node-one-0123456789abcdef';
  const K2 = 'key-of-node-two-0123456789abcdef';
  const keys = new Map([[1, K1], [2, K2]]);
  const n1 = await createUdpTransport({ auth: { keys, sender: 1 } });
  const n2 = await createUdpTransport({ auth: { keys, sender: 2, key: KEY } });
  const rx = collect(n1);
  const h = await rawPeer();
  try {
    await n2.send({ v: 1, kind: 'ctl', id: 1, src: n2.address, dst: n1.address, body: 'from n2' });
    await rx.waitFor((e) => e.body === 'from n2');
    const impostor = sealed(signer(KEY, 2), data(0, 9, 0, 1, envelope(h, n1.address, 'msg', 'as n2', 9), AUTH_TRAILER));
    const unknown = sealed(signer(KEY, 3), data(0, 10, 0, 1, envelope(h, n1.address, 'msg', 'as n3', 10), AUTH_TRAILER));
    const asN1 = new DatagramAuth(resolveAuth('test', { keys, sender: 1, epoch: 5 }) as NonNullable<ReturnType<typeof resolveAuth>>, 1);
    await sendThenMark(n1, rx, h, [impostor, unknown], asN1);
    t.is(n1.stats().authBadTag, 1);
    t.is(n1.stats().authUnknownSender, 1);
    t.deepEqual(rx.got.map((e) => e.body), ['from n2', 'mark']);
  } finally {
    await Promise.all([n1.close(), n2.close(), h.close()]);
  }
});

test('udp auth: options are checked and unknown ones refused by name', async (t) => {
  await t.throwsAsync(createUdpTransport({ auth: { key: KEY, keyy: 1 } as never }), { instanceOf: ArgumentError, message: /unknown option "keyy"/ });
  await t.throwsAsync(createUdpTransport({ auth: { key: 'short' } }), { instanceOf: ArgumentError, message: /auth.key must be at least 16 bytes/ });
  await t.throwsAsync(createUdpTransport({ auth: {} }), { instanceOf: ArgumentError, message: /needs a cluster key/ });
  await t.throwsAsync(createUdpTransport({ auth: { keys: new Map([[1, KEY]]), sender: 2 } }), { instanceOf: ArgumentError, message: /no key for this sender 2/ });
  await t.throwsAsync(createUdpTransport({ auth: { keys: new Map([[1, KEY]]) } }), { instanceOf: ArgumentError, message: /auth.sender is needed/ });
  await t.throwsAsync(createUdpTransport({ auth: { key: KEY, maxAgeMs: 0 } }), { instanceOf: ArgumentError, message: /auth.maxAgeMs/ });
  await t.throwsAsync(createUdpTransport({ auth: { key: KEY, epoch: -1 } }), { instanceOf: ArgumentError, message: /auth.epoch/ });
  await t.throwsAsync(createUdpTransport({ auth: 'on' as never }), { instanceOf: ArgumentError, message: /auth must be 'off'/ });
  const off = await createUdpTransport({ auth: 'off' });
  t.is(off.stats().authSenders, 0);
  await off.close();
});

test('replay window: in order, reordered within 64, repeats and older than the window, epochs', (t) => {
  const w = new ReplayTable(2);
  t.is(w.check(7, 100, 0), 'fresh');
  t.is(w.check(7, 100, 2), 'fresh');
  t.is(w.check(7, 100, 1), 'fresh', 'late within the window');
  t.is(w.check(7, 100, 1), 'replayed');
  t.is(w.check(7, 100, 70), 'fresh');
  t.is(w.check(7, 100, 6), 'replayed', 'behind the window: refused even if never seen');
  t.is(w.check(7, 100, 7), 'fresh', 'the oldest slot still in the window');
  t.is(w.check(7, 100, 2), 'replayed');
  t.is(w.check(7, 100, 1000), 'fresh', 'a jump past the window clears it');
  t.is(w.check(7, 100, 937), 'fresh');
  t.is(w.check(7, 100, 1000), 'replayed');
  t.is(w.check(7, 99, 5000), 'stale', 'an earlier boot');
  t.is(w.check(7, 101, 0), 'fresh', 'a restart starts a new window');
  t.is(w.check(7, 101, 0), 'replayed');
  t.is(w.check(8, 1, 0), 'fresh');
  t.is(w.check(9, 1, 0), 'fresh', 'a third sender evicts the least recently heard');
  t.is(w.size, 2);
  t.is(w.evicted, 1);
});

test('udp: a POLL is never answered with more bytes than it had, and the same state at most once per minRtoMs', async (t) => {
  const clock = new ManualClock(Date.now()); // never advanced: the rate bound is what stops repeats
  const v = await createUdpTransport({ clock });
  const rx = collect(v);
  const h = await rawPeer();
  try {
    const tiny = (transfer: number): Buffer => data(R | FLAG_POLL, transfer, 0, 4994, new Uint8Array([1]));
    const big = data(R | FLAG_POLL, 2, 1, 4994, new Uint8Array(1354).fill(2));
    // Smallest reliable requests, each twice: every one (and its repeat) is acknowledged.
    const acked = Array.from({ length: 20 }, (_, i) => data(R | FLAG_POLL, 100 + (i >> 1), 0, 1, new Uint8Array([0x80])));
    const sent = [...Array.from({ length: 100 }, () => tiny(1)), big, ...Array.from({ length: 100 }, () => tiny(2)), ...acked];
    await sendThenMark(v, rx, h, sent, undefined);
    await flushTo(v, h);
    // Acks leave after ackDelayMs (real time): wait until all ten transfers were acknowledged.
    const ackedIds = (): Set<number> => new Set(h.got.flatMap((d) => acksOf(d)));
    await h.waitFor(() => [...Array(10).keys()].every((i) => ackedIds().has(100 + i)));
    const back = h.got.filter((d) => parseDatagram(d).type !== 'data');
    t.true(sum(back) <= sum(sent), `${sum(back)} bytes answered ${sum(sent)}`);
    t.true(back.filter((d) => parseDatagram(d).type === 'ack').length > 0, 'the reliable ones were acknowledged');
    const answers = back.filter((d) => parseDatagram(d).type === 'nack');
    t.is(answers.length, 1, 'only the big POLL is answered with a NACK, once');
    t.true((answers[0]?.length ?? 0) <= big.length);
    t.is(v.stats().nacksSent, 1);
    t.is(v.stats().nacksSuppressed, 200);
    // After minRtoMs the same state may be told again (a real sender's next round).
    clock.advance(20);
    await sendThenMark(v, rx, h, [big], undefined);
    await flushTo(v, h);
    t.is(h.got.filter((d) => parseDatagram(d).type === 'nack').length, 2);
    t.is(v.stats().nacksSent, 2);
  } finally {
    await Promise.all([v.close(), h.close()]);
  }
});

test('udp auth: with the MAC on, a stranger\'s POLLs get nothing at all', async (t) => {
  const v = await createUdpTransport({ auth: { key: KEY } });
  const rx = collect(v);
  const h = await rawPeer();
  try {
    const polls = Array.from({ length: 50 }, (_, i) => data(R | FLAG_POLL, i, 0, 4994, new Uint8Array(i % 2 === 0 ? 1 : 1354)));
    await sendThenMark(v, rx, h, polls, signer(KEY, 0x1111));
    await flushTo(v, h);
    t.is(h.got.length, 1, 'only the flush datagram');
    t.is(v.stats().nacksSent, 0);
    t.is(v.stats().authMissing, 50);
  } finally {
    await Promise.all([v.close(), h.close()]);
  }
});

test('the embedded head-end signs its UDP: an unsigned request to its node is not answered, a signed one is', async (t) => {
  t.timeout(120_000);
  const dir = await mkdtemp(join(tmpdir(), 'weft-udp-auth-'));
  await build({ out: join(dir, 'dist'), keys: join(dir, 'keys'), quiet: true, firmware: false });
  const h = await startHeadend({ registry: 'memory', apps: join(dir, 'dist', 'apps'), keys: join(dir, 'keys'), masterKey: 'a-test-master-key-of-enough-length', clusterKey: KEY, log: () => {} });
  const raw = await rawPeer();
  try {
    const node = { udp: h.node.udpAddress };
    const port = h.node.udpAddress.port;
    const ask = (id: number, reserve: number): Buffer =>
      data(R | FLAG_POLL, id, 0, 1, codec.encode({ v: 1, kind: 'req', id, src: { udp: { host: '127.0.0.1', port: raw.port } }, dst: { ...node, vaddr: h.node.vaddr('nobody-here') }, op: 'x', body: null }), reserve);
    await raw.send(ask(1, 0), port);
    await raw.send(sealed(signer(KEY, 0x1111), ask(2, AUTH_TRAILER)), port);
    const nodeKey = new DatagramAuth(resolveAuth('test', { key: KEY, sender: 0x1111 }) as NonNullable<ReturnType<typeof resolveAuth>>, 0x1111);
    const corrOf = (d: Buffer): number | undefined => {
      const copy = Buffer.from(d);
      if (nodeKey.open(copy) !== undefined) return undefined;
      const f = parseDatagram(copy.subarray(0, copy.length - AUTH_TRAILER));
      return f.type === 'data' ? codec.decode(f.payload).corr : undefined;
    };
    await raw.waitFor((d) => corrOf(d) === 2);
    t.false(raw.got.some((d) => corrOf(d) === 1), 'the unsigned request was dropped');
  } finally {
    await Promise.all([h.close(), raw.close()]);
    await rm(dir, { recursive: true, force: true });
  }
});
