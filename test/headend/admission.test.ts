// [issue 19.6] Admission of session opens (headend/admission.ts): past its setup capacity a node
// answers QUOTA at once, with a retry hint from its queue and measured setup rate, instead of
// queueing the open until the box's deadline passes (the box retries, retries amplify the load).
// Deterministic: a manual clock; the node's portion starts held in flight (InThreadPool.holdStarts).
import test from 'ava';
import { ArgumentError, Codes, ManualClock, RemoteError, checkOpenReply, type Envelope } from '../../runtime/index.ts';
import { Admission, resolveAdmission } from '../../headend/admission.ts';
import { resolveQuotas } from '../../headend/node/quotas.ts';
import { openRig } from '../_helpers/open-rig.ts';

const flush = async (): Promise<void> => {
  for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
};

async function node(t: import('ava').ExecutionContext) {
  const rig = await openRig(t);
  const { n1, clock } = rig;
  t.teardown(() => void (n1.pool.holdStarts = undefined)); // AVA runs teardowns last-first: before the node closes
  let id = 0;
  const open = (boxId: string): Envelope => rig.open(boxId, clock.now() + 5000, ++id);
  // The node's portion starts wait until released: its setups stay in flight, as on a saturated node.
  let release: () => void = () => {};
  const held = new Promise<void>((r) => (release = r));
  const hold = (): void => {
    n1.pool.holdStarts = { wait: () => held };
  };
  return { n1, clock, open, hold, release };
}

/** Track a promise's outcome without awaiting it (a hung open must not hang the test). */
function watch<T>(p: Promise<T>): { state: 'pending' | 'ok' | 'err'; error?: unknown; value?: T } {
  const w: { state: 'pending' | 'ok' | 'err'; error?: unknown; value?: T } = { state: 'pending' };
  p.then((v) => Object.assign(w, { state: 'ok', value: v }), (e: unknown) => Object.assign(w, { state: 'err', error: e }));
  return w;
}

test('a burst past capacity is answered QUOTA (setups) at once with a retry hint, not left to time out', async (t) => {
  const { n1, clock, open, hold, release } = await node(t);
  hold();
  const first = Array.from({ length: 10 }, (_, i) => watch(n1.sessions.handle(open(`b${i}`))));
  await flush();
  t.true(first.every((w) => w.state === 'pending'), 'ten setups in flight');
  // The oldest has waited 3 s of the 5 s a new open has: more than half. The node is behind.
  clock.advance(3000);
  const late = watch(n1.sessions.handle(open('b10')));
  await flush();
  t.is(late.state, 'err', 'answered at once, before any deadline passed');
  const e = late.error as RemoteError;
  t.true(e instanceof RemoteError);
  t.is(e.remoteCode, Codes.QUOTA);
  const data = e.data as { quota: string; retryAfterMs: number; limit: number };
  t.is(data.quota, 'setups');
  t.is(data.limit, 10);
  t.true(data.retryAfterMs >= 100 && data.retryAfterMs <= 30_000, `hint ${data.retryAfterMs} ms`);
  // Refusals are spread: the next one is told to come back later, not with the same herd.
  const next = watch(n1.sessions.handle(open('b11')));
  await flush();
  t.true(((next.error as RemoteError).data as { retryAfterMs: number }).retryAfterMs > data.retryAfterMs);
  const s = n1.sessions.admission.stats;
  t.is(s.refusedBehind, 2);
  t.is(s.inFlight, 10);
  release();
  await flush();
  t.true(first.every((w) => w.state === 'ok'), 'the setups let in complete');
  t.is(n1.sessions.admission.stats.inFlight, 0);
  // Drained: the box that comes back after its hint is let in.
  const back = watch(n1.sessions.handle(open('b10')));
  await flush();
  t.is(back.state, 'ok');
  checkOpenReply(back.value);
});

test('opens under capacity are untouched: a few slow setups, or many quick ones, are never refused', async (t) => {
  const { n1, clock, open, hold, release } = await node(t);
  hold();
  // Fewer than minInFlight (8) in flight, however old: one slow start is not a queue.
  const slow = Array.from({ length: 7 }, (_, i) => watch(n1.sessions.handle(open(`s${i}`))));
  clock.advance(4900);
  const still = watch(n1.sessions.handle(open('s7')));
  await flush();
  t.is(still.state, 'pending', 'let in');
  release();
  await flush();
  t.true([...slow, still].every((w) => w.state === 'ok'));
  // Many at once that complete in time: all let in.
  const quick = await Promise.all(Array.from({ length: 40 }, (_, i) => n1.sessions.handle(open(`q${i}`))));
  t.is(quick.length, 40);
  const s = n1.sessions.admission.stats;
  t.is(s.refusedBehind + s.refusedCeiling, 0);
  t.is(s.admitted, 48);
});

test('the ceiling refuses past maxInFlight whatever the age; its hint drains at the measured rate', (t) => {
  const clock = new ManualClock(0);
  const a = new Admission(clock, { maxInFlight: 4, minInFlight: 2 });
  // Measure a rate: 10 setups done in 1 s (10/s).
  for (let i = 0; i < 10; i++) {
    const r = a.admit(undefined);
    if (!r.ok) return t.fail('refused while idle');
    r.value();
    clock.advance(100);
  }
  t.is(Math.round(a.stats.ratePerS), 10);
  const held = [1, 2, 3, 4].map(() => a.admit(clock.now() + 5000));
  t.true(held.every((r) => r.ok));
  const r = a.admit(clock.now() + 5000);
  if (r.ok) return t.fail('let in past the ceiling');
  t.like(r.error.data as object, { quota: 'setups', limit: 4, retryAfterMs: 400 }, '4 in flight at 10/s: 400 ms');
  t.is(a.stats.refusedCeiling, 1);
  const r2 = a.admit(clock.now() + 5000);
  t.like(!r2.ok && (r2.error.data as object), { retryAfterMs: 500 }, 'the next refusal one slot (100 ms) later');
});

test('one stuck open does not make every later open look late: refused only when minInFlight setups waited too long', (t) => {
  const clock = new ManualClock(0);
  const a = new Admission(clock);
  a.admit(clock.now() + 5000); // never settles (a duplicate open whose claim exists is answered by no one here)
  clock.advance(3000);
  const fresh = Array.from({ length: 10 }, () => a.admit(clock.now() + 5000));
  t.true(fresh.every((r) => r.ok), 'eleven in flight, only one of them old: let in');
  for (const r of fresh) if (r.ok) r.value();
  t.is(a.stats.refusedBehind, 0);
});

test('a hint is bounded by maxRetryMs; a setup that never settles stops counting after 60 s', (t) => {
  const clock = new ManualClock(0);
  const a = new Admission(clock, { maxInFlight: 2, minInFlight: 1, maxRetryMs: 1000 });
  a.admit(undefined);
  a.admit(undefined);
  clock.advance(20_000);
  const r = a.admit(undefined);
  t.like(!r.ok && (r.error.data as object), { retryAfterMs: 1000 }, 'unmeasured: as long as the oldest waited, capped');
  clock.advance(40_001);
  t.true(a.admit(undefined).ok, 'the two that never settled no longer count');
  t.is(a.stats.stale, 2);
});

test('admission options are validated and unknown ones rejected by name, through the node quotas too', (t) => {
  t.deepEqual(resolveAdmission({ maxInFlight: 64 }).maxInFlight, 64);
  t.throws(() => resolveAdmission({ maxInflight: 3 } as never), { instanceOf: ArgumentError, message: /unknown option "maxInflight"/ });
  t.throws(() => resolveAdmission({ maxInFlight: 0 }), { instanceOf: ArgumentError, message: /maxInFlight/ });
  t.throws(() => resolveAdmission({ ageShare: 1.5 }), { instanceOf: ArgumentError, message: /ageShare/ });
  t.throws(() => resolveAdmission({ minInFlight: 10, maxInFlight: 5 }), { instanceOf: ArgumentError, message: /minInFlight/ });
  t.is(resolveQuotas({ setups: { maxInFlight: 32 } }).setups.maxInFlight, 32);
  t.throws(() => resolveQuotas({ setups: { ceiling: 3 } } as never), { instanceOf: ArgumentError, message: /"ceiling"/ });
});
