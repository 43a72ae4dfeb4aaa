// A portion thread's load report walks its instances a batch per turn [issue 19.6]: the pass over
// ~3,470 instances (18,000 light boxes on one node) held the thread in one piece every 500 ms,
// and a full box's request waited behind it. Counted in turns, not timed.
import test from 'ava';
import { LoadSweep } from '../../headend/portions/load-sweep.ts';

/** A sweep over `items` whose deferred turns the test runs by hand; visits counted per turn. */
function rig(items: Map<number, number>, batch: number) {
  const later: (() => void)[] = [];
  const perTurn: number[] = [];
  let visits = 0;
  let reports = 0;
  let sum = 0;
  const sweep = new LoadSweep<number>({
    items: () => items.values(),
    batch,
    defer: (fn) => void later.push(() => (perTurn.push(0), fn())),
    visit: (v) => {
      visits++;
      sum += v;
      perTurn[perTurn.length - 1] = (perTurn[perTurn.length - 1] ?? 0) + 1;
    },
    done: () => void reports++,
  });
  const start = (): boolean => (perTurn.push(0), sweep.start());
  const turn = (): boolean => {
    const fn = later.shift();
    fn?.();
    return fn !== undefined;
  };
  return { sweep, start, turn, perTurn, visits: () => visits, reports: () => reports, sum: () => sum };
}

test('a pass over 10,000 instances visits at most a batch per turn, each once, and reports once at its end', (t) => {
  const items = new Map(Array.from({ length: 10_000 }, (_, i) => [i, 1] as [number, number]));
  const r = rig(items, 256);
  t.true(r.start());
  t.is(r.visits(), 256, 'the first turn stops at its batch');
  t.is(r.reports(), 0, 'no report before the pass ends');
  while (r.turn());
  t.is(r.visits(), 10_000);
  t.is(r.sum(), 10_000);
  t.is(r.reports(), 1);
  t.true(Math.max(...r.perTurn) <= 256, `a turn visited ${Math.max(...r.perTurn)}`);
  t.is(r.sweep.stats.maxPerTurn, 256);
  t.is(r.sweep.stats.turns, Math.ceil(10_000 / 256) + (10_000 % 256 === 0 ? 1 : 0));
  t.false(r.sweep.running);
});

test('instances stopped during a pass are skipped, started ones are seen; a start during a pass is counted, not overlapped', (t) => {
  const items = new Map(Array.from({ length: 1000 }, (_, i) => [i, 1] as [number, number]));
  const r = rig(items, 100);
  r.start();
  for (let i = 500; i < 600; i++) items.delete(i); // stopped before the pass reached them
  items.set(5000, 1); // started meanwhile
  t.false(r.start(), 'the pass under way reports; no second pass over the same instances');
  t.is(r.sweep.stats.overlapped, 1);
  while (r.turn());
  t.is(r.visits(), 1000 - 100 + 1);
  t.is(r.reports(), 1);
  t.true(r.start(), 'the next interval starts a new pass');
});

test('a visit that throws is counted and the pass goes on to its report', (t) => {
  const errors: unknown[] = [];
  let reports = 0;
  const sweep = new LoadSweep<number>({
    items: () => [1, 2, 3],
    batch: 10,
    defer: (fn) => fn(),
    visit: (v) => {
      if (v === 2) throw new Error('instance gone');
    },
    done: () => void reports++,
    onError: (e) => void errors.push(e),
  });
  sweep.start();
  t.is(sweep.stats.errors, 1);
  t.is(errors.length, 1);
  t.is(reports, 1);
  t.throws(() => new LoadSweep<number>({ items: () => [], batch: 0, visit: () => {}, done: () => {}, defer: () => {} }), { instanceOf: RangeError });
});
