// Issue 19: a head-end thread now hosts thousands of portion instances (a runtime each), and
// Engine.newRuntime swept every runtime it ever made for dead ones on each call: O(live) per
// session start, O(n^2) over a thread's life (2.4% of a saturated worker's samples at 1,000).
// The sweep is now amortized (when the set doubles). Counted, not timed.

import test from 'ava';
import { loadEngine } from '../../sandbox/index.ts';

test('newRuntime does not visit every live runtime (failed before: 400 liveness reads per call)', async (t) => {
  const engine = await loadEngine({ maxMemoryBytes: 256 << 20 });
  const rts = Array.from({ length: 400 }, () => engine.newRuntime());
  let reads = 0;
  for (const rt of rts) {
    const proto = Object.getPrototypeOf(rt) as object;
    const get = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(proto) as object, 'alive')?.get ?? Object.getOwnPropertyDescriptor(proto, 'alive')?.get;
    Object.defineProperty(rt, 'alive', { configurable: true, get: () => (reads++, get?.call(rt) as boolean) });
  }
  const more = Array.from({ length: 10 }, () => engine.newRuntime());
  t.true(reads <= 400, `liveness reads for 10 starts: ${reads}`);
  for (const rt of rts) delete (rt as { alive?: boolean }).alive;
  t.is(engine.liveRuntimes(), 410);
  for (const rt of [...rts, ...more]) rt.dispose();
  t.is(engine.liveRuntimes(), 0, 'the count stays exact');
  // A long life of starts and stops: the count stays exact while dead runtimes are swept as the set grows.
  for (let i = 0; i < 2000; i++) engine.newRuntime().dispose();
  t.is(engine.liveRuntimes(), 0);
  await engine.renew();
  t.pass();
});
