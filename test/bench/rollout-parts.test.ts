// [issue 15] The rollout bench's request counts over a window (bench/_rollout-parts.ts). The
// fleet's counts are cumulative; a request sent before the window and answered inside it was
// counted answered but not sent, so "sent - answered" over the window went negative (-33 in the
// lead's 1,000-box run: the key-pressing fleet had 33 requests in flight when the publish began).
import test from 'ava';
import { requestWindow } from '../../bench/_rollout-parts.ts';

test('requests in flight when the window opens are not a negative count when it closes', (t) => {
  const before = { sent: 100, ok: 60, retried: 0, failed: 7, overdue: 0 }; // 33 in flight
  const after = { sent: 150, ok: 143, retried: 0, failed: 7, overdue: 0 }; // all answered
  const w = requestWindow(before, after);
  t.is(w.inFlightStart, 33);
  t.is(w.inFlight, 0);
  t.is(w.sent, 50);
  t.is(w.ok, 83);
  // Every request the window saw ends in exactly one place: answered, failed, or still in flight.
  t.is(w.inFlightStart + w.sent, w.ok + w.retried + w.failed + w.inFlight);
});

test('a request still unanswered at the end is in flight, whenever it was sent', (t) => {
  const w = requestWindow({ sent: 10, ok: 9, retried: 0, failed: 0, overdue: 0 }, { sent: 20, ok: 15, retried: 1, failed: 2, overdue: 1 });
  t.deepEqual(w, { sent: 10, ok: 6, retried: 1, failed: 2, overdue: 1, inFlightStart: 1, inFlight: 2 });
});

test('a fleet whose counts went backwards (a summary of another process) is refused, not counted', (t) => {
  t.throws(() => requestWindow({ sent: 10, ok: 10, retried: 0, failed: 0, overdue: 0 }, { sent: 5, ok: 5, retried: 0, failed: 0, overdue: 0 }), { instanceOf: RangeError });
});
