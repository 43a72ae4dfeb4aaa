import test from 'ava';
import { AddressError, LocalBus, Router, type Address, type Envelope, type Transport } from '../../runtime/index.ts';

function recorder(kind: string): Transport & { sent: Envelope[] } {
  const sent: Envelope[] = [];
  return {
    kind,
    address: { queue: kind },
    sent,
    send: (e) => {
      sent.push(e);
      return Promise.resolve();
    },
    onEnvelope: () => {},
    close: () => Promise.resolve(),
    closed: false,
    stats: () => ({ sent: sent.length }),
  };
}

const env = (dst: Address): Envelope => ({ v: 1, kind: 'msg', id: 1, src: { queue: 'me' }, dst });

test('routes a queue id to local, an IP/UDP pair to UDP, and resolves a vaddr to either [c8-c12]', async (t) => {
  const bus = new LocalBus();
  bus.open('search-1');
  const local = recorder('local');
  const udp = recorder('udp');
  const locations = new Map<string, Address>([
    ['weft://guide/s1/search', { queue: 'search-1' }],
    ['weft://guide/*/epg', { udp: { host: '10.0.0.2', port: 7000 } }],
  ]);
  const router = new Router({
    routes: [
      { name: 'local', transport: local, accepts: (d) => d.queue !== undefined && bus.has(d.queue) },
      { name: 'udp', transport: udp, accepts: (d) => d.udp !== undefined },
    ],
    resolver: { resolve: (v) => locations.get(v) },
  });
  await router.send(env({ queue: 'search-1' }));
  await router.send(env({ udp: { host: '10.0.0.9', port: 1 } }));
  await router.send(env({ vaddr: 'weft://guide/s1/search' }));
  await router.send(env({ vaddr: 'weft://guide/*/epg' }));
  t.is(local.sent.length, 2);
  t.is(udp.sent.length, 2);
  t.deepEqual(local.sent[1]?.dst, { queue: 'search-1', vaddr: 'weft://guide/s1/search' }, 'vaddr kept for dispatch');
  t.deepEqual(udp.sent[1]?.dst, { udp: { host: '10.0.0.2', port: 7000 }, vaddr: 'weft://guide/*/epg' });
  t.deepEqual(router.stats(), { routed: { local: 2, udp: 2 }, resolved: 2, unroutable: 0 });
  await t.throwsAsync(router.send(env({ vaddr: 'weft://guide/*/nobody' })), { instanceOf: AddressError, message: /no route to weft:\/\/guide\/\*\/nobody/ });
  await t.throwsAsync(router.send(env({ queue: 'elsewhere' })), { instanceOf: AddressError });
  t.is(router.stats().unroutable, 2);
  t.throws(() => new Router({ routes: [], resolve: 1 } as never), { message: /unknown option "resolve"/ });
});

test('post (issue 19): a direct route posts on its transport without a promise; a vaddr is resolved; failures are told, never thrown', async (t) => {
  const posted: Envelope[] = [];
  const udp: Transport = { ...recorder('udp'), post: (e, done) => (posted.push(e), done(undefined, e)) };
  const local = recorder('local');
  const router = new Router({
    routes: [
      { name: 'udp', transport: udp, accepts: (d) => d.udp !== undefined },
      { name: 'local', transport: local, accepts: (d) => d.queue !== undefined },
    ],
    resolver: { resolve: (v) => (v === 'weft://guide/s1/search' ? { queue: 'search-1' } : undefined) },
  });
  const told: [Error | undefined, number][] = [];
  const done = (e: Error | undefined, x: Envelope): void => void told.push([e, x.id]);
  router.post(env({ udp: { host: '10.0.0.9', port: 1 } }), done);
  t.deepEqual(told, [[undefined, 1]], 'told at once: no promise on a direct route');
  t.is(posted.length, 1);
  const asked = new Promise<Error | undefined>((resolve) => router.post(env({ vaddr: 'weft://guide/s1/search' }), (e) => resolve(e)));
  t.is(await asked, undefined);
  t.deepEqual(local.sent[0]?.dst, { queue: 'search-1', vaddr: 'weft://guide/s1/search' }, 'a transport without post is sent to');
  const nobody = await new Promise<Error | undefined>((resolve) => router.post(env({ vaddr: 'weft://guide/*/nobody' }), (e) => resolve(e)));
  t.true(nobody instanceof AddressError);
  t.deepEqual(router.stats(), { routed: { udp: 1, local: 1 }, resolved: 1, unroutable: 1 });
  router.close();
  router.post(env({ udp: { host: '10.0.0.9', port: 1 } }), done);
  t.regex(String(told[1]?.[0]), /router closed/);
});
