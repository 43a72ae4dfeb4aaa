// A critical section served by several threads reports the percentiles of all its waits [c24]:
// the threads' window histograms are merged (issue 14 finding 4), not averaged per thread.
import test from 'ava';
import { ManualClock } from '../../runtime/index.ts';
import type { Manifest } from '../../runtime/app/index.ts';
import { WaitStats, bucketMs, mergeWaits, waitBucket } from '../../headend/portions/critical/index.ts';
import { Elastic, type ElasticHost } from '../../headend/portions/elastic.ts';
import { DispatchTable } from '../../headend/node/table.ts';
import type { ModuleWaits } from '../../headend/portions/portion-protocol.ts';

const manifest = { app: 'crit', modules: [{ name: 'store', kind: 'server', critical: { guard: 'queue', permits: 1 } }] } as unknown as Manifest;

/** One thread's window: `waits` recorded at t=1000, read at t=1000. */
function window(iid: string, waits: number[]): ModuleWaits {
  const s = new WaitStats();
  for (const w of waits) s.record(1000, w);
  return { iid, module: 'store', ...s.snapshot(1000) };
}

test('two threads of known distributions: the node reports the percentiles of their union', (t) => {
  // Thread A: 1..100 ms, ten of each (1000 waits); thread B: ten waits of 500 ms. Over the 1010
  // waits, nearest rank: p50 is the 505th (51 ms), p99 the 1000th (100 ms), max 500 ms. The old
  // report gave p50 = mean of p50s weighted (54.5 ms) and p99 = max of p99s (500 ms).
  const a = window('p1.n1', Array.from({ length: 1000 }, (_v, i) => 1 + Math.floor(i / 10)));
  const b = window('p2.n1', Array.from({ length: 10 }, () => 500));
  const waits = new Map([[a.iid, [a]], [b.iid, [b]]]);
  const portions = { inflightOf: () => 0, waitsOf: (iid: string) => waits.get(iid) ?? [] };
  const host = { clock: new ManualClock(0), portions, table: new DispatchTable(), makeSpec: () => ({ ok: false, error: new Error('unused') }), log: () => {} } as unknown as ElasticHost;
  const elastic = new Elastic(host);
  elastic.prepare(a.iid, manifest, '*', ['store']);
  elastic.prepare(b.iid, manifest, '*', ['store']);
  const [stats] = elastic.portionStats();
  t.is(stats?.workers, 2);
  const near = (x: number | undefined, want: number) => t.true(x !== undefined && Math.abs(x - want) <= want * 0.01, `${x} is not ${want} +-1%`);
  near(stats?.waitP50Ms, 51);
  near(stats?.waitP99Ms, 100);
  t.is(stats?.waitMaxMs, 500);
  elastic.close();
});

test('mergeWaits: one window gives its own percentiles to within a bucket; empty windows give zeros', (t) => {
  const xs = Array.from({ length: 997 }, (_v, i) => 0.5 + ((i * 7919) % 997) * 0.37);
  const one = window('p1', xs).hist;
  const s = new WaitStats();
  for (const x of xs) s.record(0, x);
  const exact = s.snapshot(0);
  const m = mergeWaits([{ maxMs: exact.maxMs, hist: one }]);
  t.is(m.windowCount, 997);
  t.true(Math.abs(m.p50Ms - exact.p50Ms) <= exact.p50Ms * 0.01);
  t.true(Math.abs(m.p99Ms - exact.p99Ms) <= exact.p99Ms * 0.01);
  t.deepEqual(mergeWaits([]), { windowCount: 0, p50Ms: 0, p99Ms: 0, maxMs: 0 });
  t.is(waitBucket(0), 0);
  t.is(bucketMs(0), 0);
  for (const ms of [0.002, 1, 37.5, 1e4]) t.true(Math.abs(bucketMs(waitBucket(ms)) / ms - 1) <= 0.01, `${ms}`);
});
