import { createHook } from 'node:async_hooks';
import test from 'ava';
import { ArgumentError, Channel, ChannelClosedError, type Clock, type Envelope, type SendDone, type TimerHandle } from '../../runtime/index.ts';

// A clock whose timers never fire on their own (the tests below never wait on a deadline).
const clock: Clock = { now: () => 1_000, setTimeout: () => ({}) as TimerHandle, clearTimeout: () => {} };

/** Promises created while `fn` runs (async_hooks PROMISE inits), and its result. */
async function countPromises<T>(fn: () => Promise<T>): Promise<[number, T]> {
  let n = 0;
  const hook = createHook({ init: (_id, type) => void (type === 'PROMISE' && n++) });
  hook.enable();
  try {
    const out = await fn();
    return [n, out];
  } finally {
    hook.disable();
  }
}

function postPair() {
  const client: Channel = new Channel({ self: { queue: 'a' }, post: (e, done) => (server.receive(e), done(undefined, e)), clock, timeoutMs: 1000 });
  const server: Channel = new Channel({ self: { queue: 'b' }, post: (e, done) => (client.receive(e), done(undefined, e)), clock, onRequest: (e) => e.body });
  return client;
}

test('a request over a posting writer makes no promise inside the core: one per request, the caller\'s', async (t) => {
  const client = postPair();
  for (let i = 0; i < 20; i++) await client.request({ queue: 'b' }, i); // warm up
  const N = 200;
  const [promises, sum] = await countPromises(async () => {
    let s = 0;
    for (let i = 0; i < N; i++) s += (await client.request({ queue: 'b' }, i)) as number;
    return s;
  });
  t.is(sum, (N * (N - 1)) / 2);
  // The request's own promise and the await's: a write returning a promise adds one per hop and a .catch each.
  t.true(promises <= 2 * N + 4, `${promises} promises for ${N} request/replies`);
});

test('a post that fails fails the request that posted it, with that error, at once', async (t) => {
  const err = new ChannelClosedError('link down');
  const a = new Channel({ self: { queue: 'a' }, post: (e, done) => done(err, e), clock });
  await t.throwsAsync(a.request({ queue: 'b' }, 1), { is: err });
  t.is(a.stats().pending, 0);
  const posted: [Envelope, SendDone][] = [];
  const b = new Channel({ self: { queue: 'a' }, post: (e, done) => void posted.push([e, done]), clock });
  const pending = b.request({ queue: 'b' }, 1);
  const [env, done] = posted[0] as [Envelope, SendDone];
  done(err, { ...env, id: (env.id + 1) >>> 0 });
  t.is(b.stats().pending, 1, 'a failure for another envelope does not touch this request');
  done(undefined, env);
  t.is(b.stats().pending, 1, 'a post that succeeded leaves the request waiting for its reply');
  done(err, env);
  await t.throwsAsync(pending, { is: err });
});

test('a post that throws is a failed post, and an answer whose post fails goes to onError', async (t) => {
  const thrown = new Error('boom');
  const a = new Channel({ self: { queue: 'a' }, post: () => { throw thrown; }, clock });
  await t.throwsAsync(a.request({ queue: 'b' }, 1), { is: thrown });
  const errors: unknown[] = [];
  const srv = new Channel({ self: { queue: 'b' }, post: (e, done) => done(thrown, e), clock, onRequest: () => 'x', onError: (e) => void errors.push(e) });
  srv.receive({ v: 1, kind: 'req', id: 9, src: { queue: 'a' }, dst: { queue: 'b' } });
  t.deepEqual(errors, [thrown]);
});

test('send (msg) over a posting writer resolves when the post is done and rejects with its error', async (t) => {
  const err = new Error('no route');
  const out: Envelope[] = [];
  let fail = false;
  const a = new Channel({ self: { queue: 'a' }, post: (e, done) => (out.push(e), done(fail ? err : undefined, e)), clock });
  await a.send({ queue: 'b' }, 1, { op: 'tick' });
  fail = true;
  await t.throwsAsync(a.send({ queue: 'b' }, 2), { is: err });
  t.deepEqual(out.map((e) => e.body), [1, 2]);
});

test('a Channel takes write or post, one of them', (t) => {
  t.throws(() => new Channel({ self: { queue: 'a' }, clock } as never), { instanceOf: ArgumentError });
  t.throws(() => new Channel({ self: { queue: 'a' }, clock, write: () => {}, post: () => {} }), { instanceOf: ArgumentError });
});
