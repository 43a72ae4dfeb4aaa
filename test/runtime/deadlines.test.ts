import test from 'ava';
import { ManualClock } from '../../runtime/index.ts';
import { DeadlineWheel } from '../../runtime/deadlines.ts';

interface Item {
  name: string;
  due: number;
  live: boolean;
}

function wheel(clock: ManualClock, fired: string[]) {
  return new DeadlineWheel<Item>(clock, (it, due) => it.live && it.due === due, (it) => void fired.push(it.name));
}

test('entries fire in due order, ties in insertion order, stale ones never', (t) => {
  const clock = new ManualClock(0);
  const fired: string[] = [];
  const w = wheel(clock, fired);
  const items = [
    { name: 'c', due: 30, live: true },
    { name: 'a1', due: 10, live: true },
    { name: 'gone', due: 5, live: false },
    { name: 'a2', due: 10, live: true },
    { name: 'b', due: 20, live: true },
  ];
  for (const it of items) w.add(it, it.due);
  t.is(clock.pending, 1);
  clock.advance(25);
  t.deepEqual(fired, ['a1', 'a2', 'b']);
  clock.advance(10);
  t.deepEqual(fired, ['a1', 'a2', 'b', 'c']);
  t.is(clock.pending, 0);
});

test('compact keeps only live entries, so a never-empty pending set cannot grow the heap without bound', (t) => {
  const clock = new ManualClock(0);
  const fired: string[] = [];
  const w = wheel(clock, fired);
  const keep = { name: 'keep', due: 1000, live: true };
  w.add(keep, keep.due);
  for (let i = 0; i < 5000; i++) w.add({ name: `s${i}`, due: 1000 + i, live: false }, 1000 + i);
  t.is(w.size, 5001);
  w.compact();
  t.is(w.size, 1);
  clock.advance(1000);
  t.deepEqual(fired, ['keep']);
});

test('stop drops the entries and the timer', (t) => {
  const clock = new ManualClock(0);
  const fired: string[] = [];
  const w = wheel(clock, fired);
  w.add({ name: 'x', due: 50, live: true }, 50);
  w.stop();
  t.is(w.size, 0);
  t.is(clock.pending, 0);
  w.add({ name: 'y', due: 80, live: true }, 80);
  t.is(clock.pending, 1, 'armed again for the next entry');
  clock.advance(100);
  t.deepEqual(fired, ['y']);
});
