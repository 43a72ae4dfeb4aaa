import test from 'ava';
import { AddressError, LocalBus } from '../../runtime/index.ts';
import { transportContract } from '../_contracts/transport.ts';

transportContract('local', async () => {
  const bus = new LocalBus();
  const a = bus.open('a');
  const b = bus.open('b');
  return { a, b, nowhere: { queue: 'nobody' }, close: async () => void (await Promise.all([a.close(), b.close()])) };
});

test('local: an unknown queue is refused at once with AddressError', async (t) => {
  const bus = new LocalBus();
  const a = bus.open('a');
  await t.throwsAsync(a.send({ v: 1, kind: 'msg', id: 1, src: a.address, dst: { queue: 'x' } }), { instanceOf: AddressError, message: /no local queue for "x"/ });
  await t.throwsAsync(a.send({ v: 1, kind: 'msg', id: 1, src: a.address, dst: { udp: { host: '10.0.0.1', port: 1 } } }), { instanceOf: AddressError });
  t.throws(() => bus.open('a'), { instanceOf: AddressError, message: /already open/ });
});

test('local: passes the envelope object itself (no encoding) and keeps order', async (t) => {
  const bus = new LocalBus();
  const a = bus.open('a');
  const b = bus.open('b');
  const got: unknown[] = [];
  const body = { big: new Array(1000).fill(1) };
  const done = new Promise<void>((resolve) =>
    b.onEnvelope((e) => {
      got.push(e.body);
      if (got.length === 3) resolve();
    }),
  );
  for (const x of [body, 2, 3]) await a.send({ v: 1, kind: 'msg', id: 1, src: a.address, dst: b.address, body: x });
  await done;
  t.is(got[0], body);
  t.deepEqual(got.slice(1), [2, 3]);
});

test('local: messages queued before a handler is set are delivered once it is', async (t) => {
  const bus = new LocalBus();
  const a = bus.open('a');
  const b = bus.open('b');
  await a.send({ v: 1, kind: 'msg', id: 1, src: a.address, dst: b.address, body: 'early' });
  const got = await new Promise((resolve) => b.onEnvelope((e) => resolve(e.body)));
  t.is(got, 'early');
});
