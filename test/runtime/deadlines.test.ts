import test from 'ava';
import fc from 'fast-check';
import { ManualClock } from '../../runtime/index.ts';
import { DeadlineWheel } from '../../runtime/deadlines.ts';

interface Item {
  name: string;
  due: number;
  live: boolean;
}

/** Items by key: the wheel holds the key, and the test's table says what it stands for. */
const items = new Map<number, Item>();
let nextKey = 0;

function wheel(clock: ManualClock, fired: string[]) {
  const w = new DeadlineWheel(clock, (k, due) => items.get(k)?.live === true && items.get(k)?.due === due, (k) => {
    const it = items.get(k) as Item;
    it.live = false;
    fired.push(it.name);
  });
  return {
    add: (it: Item, due: number) => {
      items.set(nextKey, it);
      w.add(nextKey++, due);
    },
    get size() {
      return w.size;
    },
    compact: () => w.compact(),
    stop: () => w.stop(),
  };
}

test('entries fire in due order, ties in insertion order, stale ones never', (t) => {
  const clock = new ManualClock(0);
  const fired: string[] = [];
  const w = wheel(clock, fired);
  const list = [
    { name: 'c', due: 30, live: true },
    { name: 'a1', due: 10, live: true },
    { name: 'gone', due: 5, live: false },
    { name: 'a2', due: 10, live: true },
    { name: 'b', due: 20, live: true },
  ];
  for (const it of list) w.add(it, it.due);
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


const step = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant('add' as const), due: fc.integer({ min: 0, max: 12 }) }), weight: 4 },
  { arbitrary: fc.record({ op: fc.constant('settle' as const), pick: fc.nat() }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 4 }) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('compact' as const) }), weight: 1 },
);

// The heap lives in parallel typed arrays (D118): every add, settle, compaction and firing must
// still give what a sorted list gives: live entries in (due, insertion) order, settled ones never.
test('any mix of adds, settles, compactions and time fires exactly the live entries in due order, ties in insertion order', (t) => {
  const check = fc.property(fc.array(step, { minLength: 10, maxLength: 200 }), (steps) => {
      const clock = new ManualClock(0);
      const fired: string[] = [];
      const w = wheel(clock, fired);
      const model: (Item & { seq: number })[] = [];
      const expected: string[] = [];
      for (const s of steps) {
        if (s.op === 'add') {
          const it = { name: `i${model.length}`, due: clock.now() + s.due, live: true, seq: model.length };
          model.push(it);
          w.add(it, it.due);
        } else if (s.op === 'settle') {
          const pending = model.filter((m) => m.live);
          if (pending.length > 0) (pending[s.pick % pending.length] as Item).live = false;
        } else if (s.op === 'compact') {
          w.compact();
          if (w.size !== model.filter((m) => m.live).length) return false;
        } else {
          const end = clock.now() + s.ms;
          const due = model.filter((m) => m.live && m.due <= end).sort((a, b) => a.due - b.due || a.seq - b.seq);
          for (const m of due) expected.push(m.name);
          clock.advance(s.ms); // the wheel's fire marks them settled
        }
        if (fired.join() !== expected.join()) return false;
      }
      return true;
  });
  t.notThrows(() => fc.assert(check, { numRuns: 300 }));
});
