// The duplicate window of an app-wide instance (headend/portions/shared-dedup.ts): a key is new
// once, running while its first request runs, then answered from its kept reply; bounded in
// entries, age (injected clock) and reply size; a checkpoint round-trips it.
import test from 'ava';
import { ManualClock } from '../../runtime/index.ts';
import { DEDUP_MAX_PENDING_MS, DEDUP_MAX_REPLY_CHARS, DedupWindow } from '../../headend/portions/shared-dedup.ts';

test('new, then running, then answered with the first reply', (t) => {
  const w = new DedupWindow(new ManualClock());
  t.deepEqual(w.see('a'), { kind: 'new' });
  t.deepEqual(w.see('a'), { kind: 'pending' });
  w.done('a', 'rep', { total: 3 });
  t.deepEqual(w.see('a'), { kind: 'done', reply: { kind: 'rep', json: '{"total":3}' } });
  t.deepEqual(w.stats, { fresh: 1, answered: 1, joined: 1, evicted: 0 });
});

test('bounded: the oldest entry goes past the count, a finished one past its age, a long reply is not kept', (t) => {
  const clock = new ManualClock();
  const w = new DedupWindow(clock, 3, 1000);
  for (const k of ['a', 'b', 'c', 'd']) {
    w.see(k);
    w.done(k, 'rep', k);
  }
  t.is(w.size, 3);
  t.deepEqual(w.see('a'), { kind: 'new' }, 'a was dropped for count, so it runs again');
  clock.advance(1001);
  w.see('z');
  t.deepEqual(w.records().map((r) => r[0]), [], 'finished entries older than the age are gone');
  t.deepEqual(w.see('a'), { kind: 'pending' }, 'a running request is not aged out by the reply age');
  clock.advance(DEDUP_MAX_PENDING_MS);
  t.deepEqual(w.see('a'), { kind: 'new' }, 'but one whose instance never answered is forgotten after a minute: a retry runs it');
  w.done('big', 'rep', 'x'.repeat(DEDUP_MAX_REPLY_CHARS + 1));
  t.deepEqual(w.see('big'), { kind: 'done', reply: { kind: 'rep', json: undefined } });
});

test('a checkpoint keeps the finished entries; a forgotten request may run again', (t) => {
  const clock = new ManualClock();
  const w = new DedupWindow(clock);
  w.see('a');
  w.done('a', 'err', { code: 1, message: 'no' });
  w.see('b'); // still running: not in a checkpoint
  w.see('c');
  w.forget('c');
  const again = new DedupWindow(clock);
  again.restore(w.records());
  t.deepEqual(again.see('a'), { kind: 'done', reply: { kind: 'err', json: '{"code":1,"message":"no"}' } });
  t.deepEqual(again.see('b'), { kind: 'new' });
  t.deepEqual(w.see('c'), { kind: 'new' });
  again.restore([['bad', 'x', 'rep', null] as unknown as [string, number, 'rep', null]]);
  t.deepEqual(again.see('bad'), { kind: 'new' }, 'malformed records are skipped');
});
