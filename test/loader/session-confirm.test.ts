// A box's confirm of its session after a reconnect (issue 13.1, wave 14): client-started again,
// so a head-end that lost the session answers NO_SESSION and the box re-opens. On a shared broker
// the node's own link drops with the box's, so the confirm can go before any node listens: it was
// dropped silently then. Now it is counted and asked again 1, 2 and 4 s later (four tries in all),
// while the session is the same. Deterministic: a manual clock and a channel that answers as told.
import test from 'ava';
import { Codes, ManualClock, RemoteError, TimeoutError, type Channel } from '../../runtime/index.ts';
import { SessionLiveness } from '../../loader/session-liveness.ts';
import { NamedTimers } from '../../loader/timers.ts';

/** A loader channel whose client-started answers come from `answers` in turn (the last one repeats). */
function loader(answers: ('ok' | 'timeout' | 'no-session')[]) {
  const sent: unknown[] = [];
  const ch = {
    control: (_dst: unknown, _op: string, body: unknown) => {
      const a = answers[Math.min(sent.length, answers.length - 1)];
      sent.push(body);
      if (a === 'ok') return Promise.resolve(undefined);
      return Promise.reject(a === 'timeout' ? new TimeoutError('no answer', 500) : new RemoteError(Codes.NO_SESSION, 'no such session'));
    },
  };
  return { ch: ch as unknown as Channel, sent };
}

function rig(session: () => string | undefined = () => 's1') {
  const clock = new ManualClock(0);
  const timers = new NamedTimers<'confirm'>(clock);
  const lost: string[] = [];
  const live = new SessionLiveness(session, (s) => lost.push(s), () => clock.now(), timers);
  return { clock, timers, lost, live };
}

const started = { session: 's1', modules: ['ui'] };
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

test('a confirm no head-end answered is counted and asked again after 1 s, then 2 s; answered, it stops', async (t) => {
  const { clock, live } = rig();
  const l = loader(['timeout', 'timeout', 'ok']);
  live.confirm(l.ch, 'weft://guide/s1/dasp', started, 500);
  await settle();
  t.is(l.sent.length, 1);
  t.is(live.stats.confirmsUnanswered, 1);
  await clock.advance(999);
  t.is(l.sent.length, 1, 'not before a second');
  await clock.advance(1);
  await settle();
  t.is(l.sent.length, 2, 'asked again after 1 s');
  await clock.advance(2000);
  await settle();
  t.is(l.sent.length, 3, 'then after 2 s, and answered');
  await clock.advance(60_000);
  t.is(l.sent.length, 3, 'nothing more once a head-end answered');
  t.like(live.stats, { confirms: 3, confirmsUnanswered: 2, lost: 0 });
});

test('at most four tries per reconnect; a NO_SESSION answer to a try loses the session as the first one would', async (t) => {
  const never = rig();
  const l = loader(['timeout']);
  never.live.confirm(l.ch, 'd', started, 500);
  for (let i = 0; i < 10; i++) {
    await never.clock.advance(10_000);
    await settle();
  }
  t.is(l.sent.length, 4, 'four tries, then the next request finds out');
  t.is(never.live.stats.confirmsUnanswered, 4);

  const gone = rig();
  const l2 = loader(['timeout', 'no-session']);
  gone.live.confirm(l2.ch, 'd', started, 500);
  await settle();
  await gone.clock.advance(1000);
  await settle();
  t.deepEqual(gone.lost, ['s1'], 'the head-end that came back had lost it: re-open');
});

test('a try is not made for a session the box has left, nor after the box stopped; a new reconnect\'s confirm replaces the pending one', async (t) => {
  let current: string | undefined = 's1';
  const { clock, timers, live } = rig(() => current);
  const l = loader(['timeout']);
  live.confirm(l.ch, 'd', started, 500);
  await settle();
  current = 's2';
  await clock.advance(10_000);
  await settle();
  t.is(l.sent.length, 2, 'the pending try went (its answer then said nothing about s2)');
  t.is(live.stats.confirmsUnanswered, 1, 'an unanswered try of a session the box left is not counted, nor tried again');
  current = 's1';
  live.confirm(l.ch, 'd', started, 500);
  await settle();
  live.confirm(l.ch, 'd', started, 500); // the link dropped and came back again
  await settle();
  timers.clearAll(); // the box stops
  await clock.advance(60_000);
  await settle();
  t.is(l.sent.length, 4, 'no try after the box stopped');
});
