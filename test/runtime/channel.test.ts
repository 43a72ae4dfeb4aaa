import test from 'ava';
import { ArgumentError, Channel, ChannelClosedError, Codes, ManualClock, RemoteError, TimeoutError, type Envelope } from '../../runtime/index.ts';

// Two channels wired back to back through arrays: fully deterministic, no transport.
function pair(clock = new ManualClock()) {
  const toB: Envelope[] = [];
  const toA: Envelope[] = [];
  const a = new Channel({ self: { queue: 'a' }, write: (e) => void toB.push(e), clock, timeoutMs: 1000, firstId: 100 });
  const flush = async (b: Channel) => {
    for (let i = 0; i < 5; i++) {
      while (toB.length) b.receive(toB.shift() as Envelope);
      while (toA.length) a.receive(toA.shift() as Envelope);
      await Promise.resolve();
    }
  };
  return { a, toA, toB, clock, flush };
}

test('request resolves with the reply body; ids count up and corr matches', async (t) => {
  const { a, toA, toB, clock, flush } = pair();
  const b = new Channel({ self: { queue: 'b' }, write: (e) => void toA.push(e), clock, onRequest: (e) => ({ got: e.body }) });
  const p = a.request({ queue: 'b' }, 'x', { op: 'echo' });
  t.is(toB[0]?.id, 100);
  t.is(toB[0]?.deadline, clock.now() + 1000);
  await flush(b);
  t.deepEqual(await p, { got: 'x' });
  t.is(a.stats().pending, 0);
});

test('a request with no reply fails with TimeoutError when the clock passes its deadline', async (t) => {
  const { a, clock } = pair();
  const p = a.request({ queue: 'b' }, 1, { timeoutMs: 250 });
  clock.advance(249);
  t.is(a.stats().pending, 1);
  clock.advance(1);
  const e = await t.throwsAsync(p, { instanceOf: TimeoutError });
  t.is(e.afterMs, 250);
  t.is(e.code, Codes.TIMEOUT);
});

test('close fails every pending request with ChannelClosedError, later sends too', async (t) => {
  const { a, clock } = pair();
  const ps = [a.request({ queue: 'b' }), a.request({ queue: 'b' }), a.control({ queue: 'b' }, 'client-started')];
  a.close();
  for (const p of ps) await t.throwsAsync(p, { instanceOf: ChannelClosedError });
  await t.throwsAsync(a.request({ queue: 'b' }), { instanceOf: ChannelClosedError });
  await t.throwsAsync(a.send({ queue: 'b' }), { instanceOf: ChannelClosedError });
  t.is(clock.pending, 0, 'timers cleared');
});

test('close(reason) with nothing pending: later sends fail with ChannelClosedError caused by the reason; a second close changes nothing', async (t) => {
  const { a } = pair();
  const why = new Error('instance stopped');
  a.close(why);
  t.true(a.closed);
  a.close(new Error('again'));
  const e = await t.throwsAsync(a.request({ queue: 'b' }), { instanceOf: ChannelClosedError });
  t.is(e.cause, why);
  t.is((await t.throwsAsync(a.send({ queue: 'b' }), { instanceOf: ChannelClosedError })).cause, why);
});

test('a write failure fails the request at once', async (t) => {
  const a = new Channel({ self: { queue: 'a' }, write: () => Promise.reject(new RemoteError(Codes.UNAVAILABLE, 'link down')), clock: new ManualClock() });
  const e = await t.throwsAsync(a.request({ queue: 'b' }), { instanceOf: RemoteError });
  t.is(e.message, 'link down');
  t.is(a.stats().pending, 0);
});

test('ctl is acknowledged end to end after the handler returns; a throwing handler sends err', async (t) => {
  const { a, toA, clock, flush } = pair();
  const seen: string[] = [];
  const b = new Channel({
    self: { queue: 'b' },
    write: (e) => void toA.push(e),
    clock,
    onMessage: (e) => {
      if (e.op === 'refuse') throw new RemoteError(Codes.FORBIDDEN, 'not yours');
      seen.push(e.op ?? '');
    },
  });
  const ok = a.control({ queue: 'b' }, 'client-started', { s: 1 });
  const no = a.control({ queue: 'b' }, 'refuse');
  await flush(b);
  await ok;
  const e = await t.throwsAsync(no, { instanceOf: RemoteError });
  t.is(e.code, Codes.FORBIDDEN);
  t.deepEqual(seen, ['client-started']);
});

test('a request received after its deadline is dropped and counted; a late reply is stray', async (t) => {
  const { a, toA, toB, clock } = pair();
  let served = 0;
  const b = new Channel({ self: { queue: 'b' }, write: (e) => void toA.push(e), clock, onRequest: () => ++served });
  const p = a.request({ queue: 'b' }, null, { timeoutMs: 100 });
  clock.advance(150);
  await t.throwsAsync(p, { instanceOf: TimeoutError });
  b.receive(toB.shift() as Envelope);
  t.is(served, 0);
  t.is(b.stats().expired, 1);
  a.receive({ v: 1, kind: 'rep', id: 1, corr: 100, src: { queue: 'b' }, dst: { queue: 'a' } });
  t.is(a.stats().stray, 1);
});

test('malformed err bodies still give a RemoteError; handler bugs never leak their message', async (t) => {
  const { a, toA, clock, flush } = pair();
  const errors: unknown[] = [];
  const b = new Channel({
    self: { queue: 'b' },
    write: (e) => void toA.push(e),
    clock,
    onRequest: () => Promise.reject(new Error('password=hunter2')),
    onError: (e) => errors.push(e),
  });
  const p = a.request({ queue: 'b' });
  await flush(b);
  const e = await t.throwsAsync(p, { instanceOf: RemoteError });
  t.is(e.message, 'internal error');
  t.is(errors.length, 1);
  const q = a.request({ queue: 'b' });
  a.receive({ v: 1, kind: 'err', id: 9, corr: 101, src: { queue: 'b' }, dst: { queue: 'a' }, body: 'nonsense' });
  t.regex((await t.throwsAsync(q, { instanceOf: RemoteError })).message, /malformed error reply/);
});

test('options are checked by name', (t) => {
  const e = t.throws(() => new Channel({ self: { queue: 'a' }, write: () => {}, timeout: 5 } as never), { instanceOf: ArgumentError });
  t.regex(e.message, /unknown option "timeout"/);
  t.throws(() => new Channel({ self: { queue: 'a' } } as never), { message: /write must be a function/ });
});

test('maxPending bounds the requests waiting at once', async (t) => {
  const a = new Channel({ self: { queue: 'a' }, write: () => {}, clock: new ManualClock(), maxPending: 2 });
  void a.request({ queue: 'b' }).catch(() => {});
  void a.request({ queue: 'b' }).catch(() => {});
  const e = await t.throwsAsync(a.request({ queue: 'b' }), { instanceOf: RemoteError });
  t.is(e.code, Codes.UNAVAILABLE);
  a.close();
});

test('pending deadlines share one clock timer (a deadline wheel), and still fail in order', async (t) => {
  const { a, toB, clock } = pair();
  const ps = Array.from({ length: 1000 }, (_, i) => a.request({ queue: 'b' }, i, { timeoutMs: 100 + (i % 10) }));
  t.is(clock.pending, 1, 'one timer for 1000 pending requests');
  // Answer the first half; the rest time out at their own deadlines.
  for (const req of toB.slice(0, 500)) a.receive({ v: 1, kind: 'rep', id: 1, corr: req.id, src: { queue: 'b' }, dst: { queue: 'a' }, body: 'ok' });
  const failed: number[] = [];
  ps.forEach((p, i) => p.catch(() => failed.push(i)));
  clock.advance(104);
  await Promise.resolve();
  t.is(a.stats().pending, 250, 'deadlines 100..104 of the unanswered half failed, 105..109 wait');
  clock.advance(10);
  for (const p of ps.slice(500)) await t.throwsAsync(p, { instanceOf: TimeoutError });
  t.deepEqual(failed.slice(0, 3), [500, 510, 520], "earliest deadline first, ties in request order");
  t.is(a.stats().pending, 0);
  t.is(clock.pending, 0, 'the wheel re-arms nothing once empty');
});

test('a deadline whose timer fires late waits one turn, once: a reply read then still counts', async (t) => {
  // A clock whose timers fire only when the test says, at whatever time it then is (a stall).
  let now = 1_000;
  const timers = new Map<number, () => void>();
  let seq = 0;
  const clock = { now: () => now, setTimeout: (fn: () => void) => (timers.set(++seq, fn), seq), clearTimeout: (h: unknown) => void timers.delete(h as number) };
  const fireAll = (): void => {
    const due = [...timers.values()];
    timers.clear();
    for (const fn of due) fn();
  };
  const sent: Envelope[] = [];
  const a = new Channel({ self: { queue: 'a' }, write: (e) => void sent.push(e), clock, timeoutMs: 100 });
  const late = a.request({ queue: 'b' });
  const lost = a.request({ queue: 'b' });
  now += 100 + 50; // the loop stalled 50 ms past the deadline
  fireAll();
  t.is(a.stats().pending, 2, 'put off, not failed');
  a.receive({ v: 1, kind: 'rep', id: 9, corr: sent[0]?.id, src: { queue: 'b' }, dst: { queue: 'a' }, body: 'slow' });
  t.is(await late, 'slow');
  now += 60; // late again: the second verdict is not put off
  fireAll();
  await t.throwsAsync(lost, { instanceOf: TimeoutError });
  t.is(a.stats().pending, 0);
});

test('once nothing is pending, no timer is left armed (a process could not exit)', async (t) => {
  const { a, toB, clock } = pair();
  const p = a.request({ queue: 'b' }, 1);
  a.receive({ v: 1, kind: 'rep', id: 1, corr: toB[0]?.id, src: { queue: 'b' }, dst: { queue: 'a' }, body: 'ok' });
  t.is(await p, 'ok');
  t.is(clock.pending, 0);
});
