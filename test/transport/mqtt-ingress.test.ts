// The ingress data structures on a fake clock: per-box token buckets, the duplicate window and
// the vaddr -> box routes that a forged source cannot take over.

import test from 'ava';
import { ManualClock } from '../../runtime/index.ts';
import { BoxRoutes, DedupWindow, TokenBuckets } from '../../transport/mqtt-ingress.ts';

test('token buckets: a burst, then the sustained rate, per key', (t) => {
  const clock = new ManualClock(0);
  const b = new TokenBuckets({ perSec: 10, burst: 5 }, clock);
  let ok = 0;
  for (let i = 0; i < 20; i++) if (b.take('box-a')) ok++;
  t.is(ok, 5);
  t.true(b.take('box-b'), 'another box has its own bucket');
  clock.advance(1000);
  ok = 0;
  for (let i = 0; i < 20; i++) if (b.take('box-a')) ok++;
  t.is(ok, 5, 'refill never passes the burst');
  clock.advance(300);
  ok = 0;
  for (let i = 0; i < 20; i++) if (b.take('box-a')) ok++;
  t.is(ok, 3);
});

test('token buckets: reserve goes into debt up to the wait allowed, then refuses', (t) => {
  const clock = new ManualClock(0);
  const b = new TokenBuckets({ perSec: 100, burst: 2 }, clock);
  t.is(b.reserve('x', 50), 0);
  t.is(b.reserve('x', 50), 0);
  t.is(b.reserve('x', 50), 10);
  t.is(b.reserve('x', 50), 20);
  for (let i = 0; i < 3; i++) b.reserve('x', 50);
  t.is(b.reserve('x', 50), -1, 'a sixth of a second of debt is past 50 ms');
  clock.advance(100);
  t.true(b.reserve('x', 50) >= 0);
  const frozen = new TokenBuckets({ perSec: 0, burst: 1 }, clock);
  t.is(frozen.reserve('y', 1e9), 0, 'the burst');
  t.is(frozen.reserve('y', 1e9), -1, 'no rate: no debt either');
});

test('token buckets forget the oldest key past their size', (t) => {
  const clock = new ManualClock(0);
  const b = new TokenBuckets({ perSec: 1, burst: 1 }, clock, 3);
  for (const k of ['a', 'b', 'c']) t.true(b.take(k));
  t.false(b.take('b'));
  t.true(b.take('d')); // evicts a, the oldest
  t.is(b.size, 3);
  t.false(b.take('b'), 'b is still remembered and still empty');
  t.true(b.take('a'), 'a starts over with a full bucket');
});

test('dedup window remembers the last N keys', (t) => {
  const d = new DedupWindow(3);
  t.false(d.seen('a'));
  t.true(d.seen('a'));
  d.seen('b');
  d.seen('c');
  d.seen('d'); // pushes a out
  t.false(d.seen('a'));
  t.true(d.seen('d'));
});

test('box routes: learned on first sight, never taken over by another box, moved only by bind', (t) => {
  const r = new BoxRoutes(2);
  t.true(r.learn('weft://g/s/ui', 'box-a'));
  t.true(r.learn('weft://g/s/ui', 'box-a'));
  t.false(r.learn('weft://g/s/ui', 'box-b'));
  t.is(r.get('weft://g/s/ui'), 'box-a');
  r.bind('weft://g/s/ui', 'box-b'); // the head-end moved it [c31]
  t.true(r.learn('weft://g/s/ui', 'box-b'));
  t.true(r.unbind('weft://g/s/ui'));
  t.is(r.get('weft://g/s/ui'), undefined);
  r.learn('weft://g/s/1', 'x');
  r.learn('weft://g/s/2', 'x');
  r.learn('weft://g/s/3', 'x');
  t.is(r.size, 2);
  t.is(r.get('weft://g/s/1'), undefined);
});
