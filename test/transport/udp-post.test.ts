// The UDP transport's callback send (issue 19 build 1): `post` tells `done` what `send` would
// resolve or reject with, and a Channel request/reply over two transports that post makes no
// promise inside the core: only the caller's own.

import { createHook } from 'node:async_hooks';
import test from 'ava';
import { AddressError, Channel, ChannelClosedError, TimeoutError, type Envelope } from '../../runtime/index.ts';
import { createUdpTransport, type UdpTransport } from '../../transport/index.ts';

async function pair(): Promise<[UdpTransport, UdpTransport]> {
  return Promise.all([createUdpTransport(), createUdpTransport()]);
}

function posted(t: UdpTransport, env: Envelope): Promise<Error | undefined> {
  return new Promise((resolve) => (t.post as NonNullable<UdpTransport['post']>)(env, (e) => resolve(e)));
}

test('post: done once acknowledged; the same typed errors as send, told, never thrown', async (t) => {
  const [a, b] = await pair();
  try {
    const got: Envelope[] = [];
    b.onEnvelope((e) => void got.push(e));
    const req: Envelope = { v: 1, kind: 'req', id: 7, src: a.address, dst: b.address, body: 'x' };
    t.is(await posted(a, req), undefined);
    t.is(a.stats().acked, 1, 'done came with the acknowledgement of a reliable kind');
    t.is(got.length, 1);
    const noUdp = await posted(a, { ...req, dst: { vaddr: 'weft://guide/s-1/ui' } });
    t.true(noUdp instanceof AddressError);
    const late = await posted(a, { ...req, deadline: 1 });
    t.true(late instanceof TimeoutError);
    await a.close();
    t.true((await posted(a, req)) instanceof ChannelClosedError);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

test('a Channel request/reply over UDP transports that post makes one promise per request (the caller\'s)', async (t) => {
  const [a, b] = await pair();
  try {
    const server = new Channel({ self: b.address, post: (e, done) => b.post(e, done), onRequest: (r) => r.body });
    const client = new Channel({ self: a.address, post: (e, done) => a.post(e, done) });
    b.onEnvelope((e) => server.receive(e));
    a.onEnvelope((e) => client.receive(e));
    const body = new Uint8Array(100).fill(7);
    for (let i = 0; i < 50; i++) await client.request(b.address, body); // warm up
    const N = 300;
    let promises = 0;
    const hook = createHook({ init: (_id, type) => void (type === 'PROMISE' && promises++) });
    hook.enable();
    try {
      for (let i = 0; i < N; i++) await client.request(b.address, body);
    } finally {
      hook.disable();
    }
    // The request's promise and the await's: a promise per send (and its .catch) on each end was 6.
    t.true(promises <= 2 * N + 10, `${promises} promises for ${N} round trips`);
    t.is(client.stats().pending, 0);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});
