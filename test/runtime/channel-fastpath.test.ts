import test from 'ava';
import { Channel, TimeoutError, type Clock, type Envelope, type TimerHandle } from '../../runtime/index.ts';

// A clock whose handles can be ref'd and unref'd like Node's timers, counting every timer set; its
// timers fire only when the test moves time.
function refClock() {
  let now = 1_000;
  const timers = new Set<{ at: number; fn: () => void; refed: boolean; cleared: boolean }>();
  let set = 0;
  const clock: Clock = {
    now: () => now,
    setTimeout: (fn, ms) => {
      set++;
      const h = { at: now + ms, fn, refed: true, cleared: false, ref: () => void (h.refed = true), unref: () => void (h.refed = false) };
      timers.add(h);
      return h as unknown as TimerHandle;
    },
    clearTimeout: (h) => {
      const x = h as unknown as { cleared: boolean };
      x.cleared = true;
      timers.delete(h as never);
    },
  };
  const advance = (ms: number): void => {
    now += ms;
    for (const h of [...timers]) if (h.at <= now && timers.delete(h)) h.fn();
  };
  return { clock, advance, sets: () => set, refed: () => [...timers].filter((h) => h.refed).length, armed: () => timers.size };
}

function echoPair(clock: Clock) {
  const client: Channel = new Channel({ self: { queue: 'a' }, write: (e) => server.receive(e), clock, timeoutMs: 1000 });
  const server: Channel = new Channel({ self: { queue: 'b' }, write: (e) => client.receive(e), clock, onRequest: (e) => e.body });
  return client;
}

test('sequential requests share the deadline wheel timer: one timer set for 100 request/replies, not one each', async (t) => {
  const c = refClock();
  const client = echoPair(c.clock);
  for (let i = 0; i < 100; i++) t.is(await client.request({ queue: 'b' }, i), i);
  t.is(c.sets(), 1);
  t.is(c.refed(), 0, 'idle: the kept timer does not hold the process open');
  t.is(c.armed(), 1);
});

test('the kept timer is ref-ed again while a request waits, and still fails it at its deadline', async (t) => {
  const c = refClock();
  const sent: Envelope[] = [];
  const a = new Channel({ self: { queue: 'a' }, write: (e) => void sent.push(e), clock: c.clock, timeoutMs: 1000 });
  const first = a.request({ queue: 'b' }, 1);
  a.receive({ v: 1, kind: 'rep', id: 1, corr: sent[0]?.id, src: { queue: 'b' }, dst: { queue: 'a' }, body: 'ok' });
  t.is(await first, 'ok');
  t.is(c.refed(), 0);
  c.advance(10);
  const lost = a.request({ queue: 'b' }, 2);
  t.is(c.refed(), 1, 'a pending request holds the process, as before');
  c.advance(995); // the kept timer fires at the first request's due time (2000): re-armed for this one (2010)
  t.is(a.stats().pending, 1);
  c.advance(10);
  await t.throwsAsync(lost, { instanceOf: TimeoutError });
  t.is(c.sets(), 2);
});

test('a request without options checks no options object: no Object.keys per request', async (t) => {
  const c = refClock();
  const client = echoPair(c.clock);
  t.is(await client.request({ queue: 'b' }, 0), 0); // warm
  const original = Object.keys;
  let calls = 0;
  Object.keys = ((o: object) => {
    calls++;
    return original(o);
  }) as typeof Object.keys;
  try {
    for (let i = 0; i < 100; i++) t.is(await client.request({ queue: 'b' }, i), i);
  } finally {
    Object.keys = original;
  }
  t.is(calls, 0);
  t.throws(() => void client.request({ queue: 'b' }, 1, { bogus: 1 } as never), { message: /unknown option "bogus"/ });
});
