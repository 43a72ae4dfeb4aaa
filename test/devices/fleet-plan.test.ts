// [issue 19, build 5] How `weft fleet run --procs auto` spreads a fleet: by the open-files hard
// limit (each box holds at least one socket; 20,000 per process here), by cores once there are
// enough boxes, never more processes than boxes; slices cover every box once; arrivals are seeded.
import test from 'ava';
import { arrivals, boxesPerProcLimit, parseOpenFilesLimit, planProcs, slices } from '../../devices/index.ts';
import { seededRandom } from '../../runtime/index.ts';

test('auto: 18,000 light boxes fit one process by files, and use both cores', (t) => {
  t.is(planProcs({ boxes: 18_000, cores: 2, openFiles: 20_000, light: true }), 2);
  t.is(planProcs({ boxes: 18_000, cores: 1, openFiles: 20_000, light: true }), 1);
});

test('auto: the open-files limit forces more processes than cores', (t) => {
  t.is(planProcs({ boxes: 50_000, cores: 2, openFiles: 20_000, light: true }), 3);
  // A full box holds four descriptors (its socket and the shaped return path's three).
  t.is(planProcs({ boxes: 12_000, cores: 2, openFiles: 20_000, light: false }), 3);
  t.true(boxesPerProcLimit(20_000, false) * 3 >= 12_000);
  t.is(planProcs({ boxes: 2_000, cores: 1, openFiles: 1024, light: true }), 3);
});

test('auto: a small fleet stays in one process', (t) => {
  t.is(planProcs({ boxes: 6, cores: 8, openFiles: 20_000, light: false }), 1);
  t.is(planProcs({ boxes: 300, cores: 8, openFiles: 20_000, light: false }), 2);
  t.throws(() => planProcs({ boxes: 10, cores: 2, openFiles: 100, light: true }), { message: /open-files/ });
});

test('slices cover every box exactly once, cut boxes spread', (t) => {
  const s = slices(10, 3, 4, 5);
  t.deepEqual(s.map((x) => [x.first, x.count]), [[5, 4], [9, 3], [12, 3]]);
  t.is(s.reduce((a, x) => a + x.cut, 0), 4);
  t.true(s.every((x) => x.cut <= x.count));
});

test('arrivals: a seeded Poisson process at the asked rate', (t) => {
  const a = arrivals(5000, 100, seededRandom(3));
  t.deepEqual(a, arrivals(5000, 100, seededRandom(3)));
  t.is(a[0], 0);
  t.true(a.every((x, i) => i === 0 || x >= (a[i - 1] as number)));
  const span = (a.at(-1) as number) / 1000;
  t.true(span > 45 && span < 55, `5000 arrivals at 100/s took ${span} s`);
  t.throws(() => arrivals(1, 0, Math.random), { message: /rate/ });
});

test('the open-files hard limit is read from /proc/self/limits', (t) => {
  const text = 'Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 20000                files\n';
  t.is(parseOpenFilesLimit(text), 20_000);
  t.is(parseOpenFilesLimit('nothing here'), undefined);
});
