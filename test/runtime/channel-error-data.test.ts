// An error reply carries the RemoteError's `data` (docs/PROTOCOL.md: `{code, message, data?}`):
// QUOTA's `quota` and `retryAfterMs`, REFUSED's `reason`. The Channel sent only code and message,
// so a box never saw the retry hint of a node past its setup capacity [issue 19.6].
import test from 'ava';
import { Channel, Codes, ManualClock, RemoteError, type Envelope } from '../../runtime/index.ts';

function pair(onRequest: (env: Envelope) => unknown): Channel {
  const clock = new ManualClock();
  const link: { a?: Channel; b?: Channel } = {};
  link.a = new Channel({ self: { vaddr: 'weft://box/b1/loader' }, clock, write: (env) => void queueMicrotask(() => link.b?.receive(env)) });
  link.b = new Channel({ self: { vaddr: 'weft://headend/n1/sessions' }, clock, write: (env) => void queueMicrotask(() => link.a?.receive(env)), onRequest });
  return link.a;
}

test("a handler's RemoteError data reaches the requester; other errors send none", async (t) => {
  const a = pair((env) => {
    if (env.op === 'quota') throw new RemoteError(Codes.QUOTA, 'busy', { quota: 'setups', limit: 8, retryAfterMs: 700 });
    throw new RemoteError(Codes.NOT_FOUND, 'no');
  });
  const e = await t.throwsAsync(a.request({ vaddr: 'weft://headend/n1/sessions' }, {}, { op: 'quota' }), { instanceOf: RemoteError });
  t.is(e.remoteCode, Codes.QUOTA);
  t.deepEqual(e.data, { quota: 'setups', limit: 8, retryAfterMs: 700 });
  const e2 = await t.throwsAsync(a.request({ vaddr: 'weft://headend/n1/sessions' }, {}, { op: 'x' }), { instanceOf: RemoteError });
  t.is(e2.data, undefined);
});
