import test from 'ava';
import { ArgumentError } from '../../runtime/index.ts';
import { RequestTimer } from '../../headend/stats/timing-requests.ts';

function fakeNow(): { now: () => number; advance: (ms: number) => void } {
  let t = 1000;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

test('[c24] each request is timed from its start; the oldest in flight is visible before it finishes', (t) => {
  const c = fakeNow();
  const timer = new RequestTimer({ now: c.now });
  const first = timer.start('weft://guide/*/epg');
  c.advance(5);
  const second = timer.start('weft://guide/*/epg');
  c.advance(10);
  t.is(timer.elapsed(first), 15);
  let snap = timer.snapshot('weft://guide/*/epg');
  t.is(snap.inFlight, 2);
  t.is(snap.oldestMs, 15);
  t.is(snap.count, 0);
  t.is(timer.finish(first), 15);
  snap = timer.snapshot('weft://guide/*/epg');
  t.is(snap.oldestMs, 10, 'the second is now the oldest');
  c.advance(2);
  t.is(timer.finish(second), 12);
  snap = timer.snapshot('weft://guide/*/epg');
  t.deepEqual([snap.count, snap.inFlight, snap.oldestMs, snap.maxMs, snap.p50Ms], [2, 0, 0, 15, 12]);
  t.throws(() => timer.finish(second), { instanceOf: ArgumentError, message: /finished ticket/ });
});

test('percentiles per portion over many requests; portions are kept apart and can be dropped', (t) => {
  const c = fakeNow();
  const timer = new RequestTimer({ now: c.now, windowMs: 100_000 });
  for (let i = 1; i <= 100; i++) {
    const k = timer.start('a');
    c.advance(i);
    timer.finish(k);
  }
  const k = timer.start('b');
  c.advance(3);
  timer.finish(k);
  const a = timer.snapshot('a');
  t.is(a.count, 100);
  t.is(a.p50Ms, 50);
  t.is(a.p99Ms, 99);
  t.is(a.maxMs, 100);
  t.is(timer.snapshot('b').maxMs, 3);
  t.deepEqual(timer.portions(), ['a', 'b']);
  timer.drop('a');
  t.deepEqual(timer.portions(), ['b']);
  t.throws(() => timer.start(''), { instanceOf: ArgumentError });
  t.throws(() => new RequestTimer({ clock: 1 } as never), { instanceOf: ArgumentError, message: /"clock"/ });
});

test('the default clock is monotonic performance.now', async (t) => {
  const timer = new RequestTimer();
  const k = timer.start('p');
  await new Promise((resolve) => setTimeout(resolve, 15));
  const ms = timer.finish(k);
  t.true(ms >= 10 && ms < 1000, `${ms} ms`);
});
