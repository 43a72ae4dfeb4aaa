// [issue 15] The box's request ledger follows the late-timer rule (D27) as the Channel does: its
// guard firing long after its time means the box's own loop stalled, and the answer may be waiting
// unread behind the timer. At 1,000 boxes the rollout bench's key-pressing fleet process stalled
// for seconds; 633 of its 747 lost baseline requests were ended `overdue` by this guard (stage
// `sent`), their answers read a turn later. Deterministic: a clock whose timers fire late.
import test from 'ava';
import { RequestLedger, fleetRequests, overdueGraceMs } from '../../loader/request-ledger.ts';
import { TimeoutError } from '../../runtime/index.ts';
import { StallClock } from '../_helpers/stall-clock.ts';

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

function pending(): { p: Promise<unknown>; resolve: (v: unknown) => void } {
  let resolve: (v: unknown) => void = () => {};
  const p = new Promise((r) => (resolve = r));
  return { p, resolve };
}

test('after a stall past the grace, the answer read in the next turn counts ok, not overdue', async (t) => {
  const clock = new StallClock(0);
  const ledger = new RequestLedger(clock);
  const answer = pending();
  let got: unknown;
  void ledger.track(4000, () => answer.p).then((v) => (got = v));
  clock.stall(4000 + overdueGraceMs(4000) + 3000); // the loop stalled; the answer came meanwhile
  clock.fire(); // timers run first in the turn
  await flush();
  answer.resolve('hits'); // then the input is read
  await flush();
  t.is(got, 'hits');
  t.deepEqual(ledger.counts(), { sent: 1, ok: 1, retried: 0, failed: 0, overdue: 0 });
});

test('with no answer, a late guard still ends the request, once more as long as the stall later, overdue', async (t) => {
  const clock = new StallClock(0);
  const ledger = new RequestLedger(clock);
  let error: unknown;
  ledger.track(1000, () => new Promise(() => {})).catch((e: unknown) => (error = e));
  const end = 1000 + overdueGraceMs(1000);
  clock.stall(end + 500); // 500 ms late
  clock.fire();
  await flush();
  t.is(error, undefined, 'put off once');
  clock.stall(499);
  clock.fire();
  await flush();
  t.is(error, undefined, 'as long as the stall was');
  clock.stall(1);
  clock.fire();
  await flush();
  t.true(error instanceof TimeoutError);
  t.deepEqual(ledger.counts(), { sent: 1, ok: 0, retried: 0, failed: 1, overdue: 1 });
  t.is(clock.pending, 0, 'no timer left behind');
});

test('a guard on time ends the request on time (a timer a few ms late is not a stall)', async (t) => {
  const clock = new StallClock(0);
  const ledger = new RequestLedger(clock);
  let error: unknown;
  ledger.track(1000, () => new Promise(() => {})).catch((e: unknown) => (error = e));
  clock.stall(1000 + overdueGraceMs(1000) + 3);
  clock.fire();
  await flush();
  t.true(error instanceof TimeoutError);
  t.is(ledger.counts().overdue, 1);
});

test("the fleet summary adds up each box's ledger counts without building its report (which measures the sandbox's memory)", (t) => {
  let reports = 0;
  const box = (sent: number) => ({
    requests: () => ({ sent, ok: sent, retried: 0, failed: 0, overdue: 0 }),
    report: () => {
      reports++;
      return { requests: { sent, ok: sent, retried: 0, failed: 0, overdue: 0 } };
    },
  });
  t.deepEqual(fleetRequests([box(2), box(3)]), { sent: 5, ok: 5, retried: 0, failed: 0, overdue: 0 });
  t.is(reports, 0);
});
