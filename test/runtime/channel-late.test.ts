// A request's deadline timer that fires late means this process's loop was stalled (a busy
// machine): the reply may be waiting, unread, behind the timer (timers run before input in a loop
// turn). The verdict waits once more, as long as the stall; a reply read then still counts [13.4]. Seen under
// `npm run test:stress`: "req search got no answer within 5000 ms" after the test process stalled.
import test from 'ava';
import { Channel, TimeoutError, type Envelope } from '../../runtime/index.ts';
import { StallClock } from '../_helpers/stall-clock.ts';

function client(clock: StallClock): { a: Channel; sent: Envelope[] } {
  const sent: Envelope[] = [];
  return { a: new Channel({ self: { queue: 'a' }, write: (e) => void sent.push(e), clock, timeoutMs: 5000 }), sent };
}

test('a deadline that fired after a stall lets the reply that was waiting settle the request', async (t) => {
  const clock = new StallClock();
  const { a, sent } = client(clock);
  const p = a.request({ queue: 'b' }, 'x', { op: 'search' });
  clock.stall(6000); // the reply came in during the stall; the timer runs first
  clock.fire();
  const req = sent[0] as Envelope;
  a.receive({ v: 1, kind: 'rep', id: 1, corr: req.id, src: { queue: 'b' }, dst: req.src, body: 'found' });
  t.is(await p, 'found');
  t.is(clock.pending, 0, 'no timer left behind');
});

test('with no reply, the late deadline still ends the request, as long again as the stall later, with TimeoutError', async (t) => {
  const clock = new StallClock();
  const { a } = client(clock);
  const p = a.request({ queue: 'b' }, 'x', { op: 'search' });
  let settled = false;
  p.catch(() => undefined).finally(() => (settled = true));
  clock.stall(6000);
  clock.fire(); // late: put off once
  const flush = () => new Promise((r) => setImmediate(r));
  await flush();
  t.false(settled);
  t.is(a.stats().pending, 1);
  t.is(a.pending, 1, 'the load sweep\'s count agrees with stats()');
  clock.stall(999);
  clock.fire();
  await flush();
  t.false(settled, 'put off as long as the stall was (1000 ms late)');
  clock.stall(1);
  clock.fire(); // on time now
  const e = await t.throwsAsync(p, { instanceOf: TimeoutError });
  t.is(e.afterMs, 5000);
  t.is(a.stats().pending, 0);
  t.is(a.pending, 0);
});

test('a deadline on time is decided on time, and close still fails a request put off', async (t) => {
  const clock = new StallClock();
  const { a } = client(clock);
  const onTime = a.request({ queue: 'b' }, 1, { timeoutMs: 100 });
  clock.stall(100);
  clock.fire();
  await t.throwsAsync(onTime, { instanceOf: TimeoutError });
  const late = a.request({ queue: 'b' }, 2, { timeoutMs: 100 });
  clock.stall(500);
  clock.fire();
  a.close();
  await t.throwsAsync(late, { message: /closed/ });
  t.is(clock.pending, 0);
});
