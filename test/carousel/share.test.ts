// [issue 13, finding 7] Several listeners on one host share a unicast carousel port: before,
// the second got EADDRINUSE and never tuned. The holder forwards to the others; when it leaves,
// one of them takes the port over and the stream goes on.
import { createSocket } from 'node:dgram';
import test from 'ava';
import { ArgumentError, ManualClock } from '../../runtime/index.ts';
import { CarouselReceiver, type UdpListener, DEFAULT_CAROUSEL_TARGET, DEFAULT_CAROUSEL_URL, listenShared, listenUdp, serveUdp } from '../../carousel/index.ts';
import { freeUdpPort } from '../_helpers/ports.ts';
import { broadcaster } from './_app.ts';

/** Resolve when `pred` holds, checking on every datagram any of the listeners got. */
function until(pred: () => boolean): { check: () => void; done: Promise<void> } {
  let resolve: () => void = () => {};
  const done = new Promise<void>((r) => (resolve = r));
  const check = (): void => {
    if (pred()) resolve();
  };
  return { check, done };
}

test('three listeners on one unicast port each acquire the carousel', async (t) => {
  const port = await freeUdpPort();
  const rxs = [0, 1, 2].map(() => new CarouselReceiver());
  const w = until(() => rxs.every((r) => r.done));
  const ls: UdpListener[] = [];
  for (const rx of rxs) {
    ls.push(
      await listenUdp({ port, host: '127.0.0.1', share: true }, (d) => {
        rx.push(d);
        w.check();
      }),
    );
  }
  const air = await serveUdp(broadcaster(undefined, { diiIntervalMs: 50 }), { unicast: { host: '127.0.0.1', port } });
  t.teardown(async () => {
    await air.close();
    for (const l of ls) await l.close();
  });
  await w.done;
  t.true(rxs.every((r) => r.done));
});

test('when the holder leaves, a follower takes the port and keeps receiving', async (t) => {
  const port = await freeUdpPort();
  const clock = new ManualClock();
  let second = 0;
  let third = 0;
  const a = await listenShared({ port, host: '127.0.0.1', clock }, () => {});
  let w = until(() => second > 0 && third > 0);
  const b = await listenShared({ port, host: '127.0.0.1', clock }, () => void (second++, w.check()));
  const c = await listenShared({ port, host: '127.0.0.1', clock }, () => void (third++, w.check()));
  t.is(a.role(), 'hub');
  t.is(b.role(), 'follower');
  const tx = createSocket('udp4');
  t.teardown(async () => {
    tx.close();
    await b.close();
    await c.close();
  });
  const packet = Buffer.alloc(188 * 7, 0x47);
  const send = (): Promise<void> => new Promise((r) => tx.send(packet, port, '127.0.0.1', () => r()));
  while (a.stats().followers < 2) await new Promise((r) => setImmediate(r));
  await send();
  await w.done;
  // The hub leaves (it tells its followers, which race for the port; one wins, the other follows it).
  await a.close();
  while (b.role() !== 'hub' && c.role() !== 'hub') {
    clock.advance(1000); // if the goodbye came before the port was free, the next renewal takes it
    await new Promise((r) => setTimeout(r, 1));
  }
  const [hub, follower] = b.role() === 'hub' ? [b, c] : [c, b];
  while (hub.stats().followers < 1) {
    clock.advance(1000); // the loser subscribes to the new hub at its next renewal
    await new Promise((r) => setTimeout(r, 1));
  }
  const before = [second, third];
  w = until(() => second > (before[0] as number) && third > (before[1] as number));
  await send();
  await w.done;
  t.is(follower.role(), 'follower');
  t.is(hub.stats().takeovers, 1);
});

test('a hub forwards to at most maxFollowers and counts the rest', async (t) => {
  const port = await freeUdpPort();
  const hub = await listenShared({ port, host: '127.0.0.1', maxFollowers: 1 }, () => {});
  const f1 = await listenShared({ port, host: '127.0.0.1' }, () => {});
  const f2 = await listenShared({ port, host: '127.0.0.1' }, () => {});
  t.teardown(async () => {
    await f1.close();
    await f2.close();
    await hub.close();
  });
  while (hub.stats().followers + hub.stats().refusedFollowers < 2) await new Promise((r) => setImmediate(r));
  t.is(hub.stats().followers, 1);
  t.true(hub.stats().refusedFollowers >= 1);
});

test('share is for a loopback unicast port only; the default carousel is one constant', async (t) => {
  await t.throwsAsync(listenUdp({ port: 5599, host: '0.0.0.0', share: true }, () => {}), { instanceOf: ArgumentError });
  await t.throwsAsync(listenUdp({ port: 0, share: true }, () => {}), { instanceOf: ArgumentError });
  await t.throwsAsync(listenUdp({ port: 5599, group: '239.1.2.3', share: true }, () => {}), { instanceOf: ArgumentError });
  t.is(DEFAULT_CAROUSEL_URL, `udp://${DEFAULT_CAROUSEL_TARGET}`);
});
