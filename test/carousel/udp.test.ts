import test from 'ava';
import { ManualClock } from '../../runtime/index.ts';
import { CarouselReceiver, listenUdp, serveUdp } from '../../carousel/index.ts';
import { broadcaster, impairment, prng, sameBytes, smallApp } from './_app.ts';

test('round trip over real UDP on loopback with injected loss, reordering and duplicates', async (t) => {
  const set = smallApp(3);
  const r = prng(11);
  const rx = new CarouselReceiver({ tiers: ['boot', 'fallback-1', 'fallback-2'] });
  let done: () => void = () => {};
  const finished = new Promise<void>((resolve) => (done = resolve));
  // The impairment sits between the socket and the receiver: 5% loss, 5% duplicates, 5% swapped pairs.
  const impair = impairment(r, 0.05, 0.1, 0.15);
  const listener = await listenUdp({ port: 0 }, (d) => {
    for (const o of impair(d)) rx.push(o);
    if (rx.done) done();
  });
  const server = await serveUdp(broadcaster(set, { bitrate: 20_000_000 }), { unicast: { host: '127.0.0.1', port: listener.port } });
  const timeout = setTimeout(done, 20_000);
  await finished;
  clearTimeout(timeout);
  await server.close();
  await listener.close();
  t.true(rx.done, `received ${listener.received} datagrams, stats ${JSON.stringify(rx.stats())}`);
  for (const m of set.modules) t.true(sameBytes(rx.modules().find((x) => x.name === m.name)?.bytes ?? new Uint8Array(1), m.bytes), m.name);
  t.true(rx.stats().discontinuities > 0, 'the impairment really hit the stream');
  t.is(server.errors, 0);
});

test('pacing follows the injected clock: one datagram per datagramMs of clock time', async (t) => {
  const clock = new ManualClock();
  const b = broadcaster(smallApp(), { bitrate: 2_000_000 });
  let got = 0;
  const listener = await listenUdp({ port: 0 }, () => got++);
  const server = await serveUdp(b, { unicast: { host: '127.0.0.1', port: listener.port }, clock, limit: 20, tickMs: 4 });
  t.is(server.sent, 1, 'the first datagram leaves at once');
  clock.advance(b.datagramMs * 9.5);
  t.is(server.sent, 10);
  clock.advance(b.datagramMs * 100);
  t.is(server.sent, 20, 'stops at the limit');
  await server.finished;
  while (got < 20) await new Promise((resolve) => setImmediate(resolve));
  t.is(got, 20);
  await server.close();
  await listener.close();
});

test('by default a tick sends about four datagrams: 2 Mbit/s leaves every 20 ms, not every 4', async (t) => {
  const clock = new ManualClock();
  const b = broadcaster(smallApp(), { bitrate: 2_000_000 });
  const listener = await listenUdp({ port: 0 }, () => {});
  const server = await serveUdp(b, { unicast: { host: '127.0.0.1', port: listener.port }, clock, limit: 40 });
  t.is(server.sent, 1);
  clock.advance(19);
  t.is(server.sent, 1, 'no tick before 20 ms (5.3 ms a datagram)');
  clock.advance(1);
  t.is(server.sent, Math.floor(20 / b.datagramMs) + 1, 'the tick at 20 ms sends what fell due');
  clock.advance(1000);
  t.is(server.sent, 40);
  await server.close();
  await listener.close();
});

test('serveUdp refuses ambiguous destinations', async (t) => {
  const b = broadcaster();
  await t.throwsAsync(serveUdp(b, {}), { message: /either group \+ port or unicast/ });
  await t.throwsAsync(serveUdp(b, { group: '239.1.1.1', port: 5000, unicast: { host: '127.0.0.1', port: 1 } }), { message: /either/ });
  await t.throwsAsync(serveUdp(b, { unicast: { host: 'localhost', port: 5000 } }), { message: /IP literal/ });
});
