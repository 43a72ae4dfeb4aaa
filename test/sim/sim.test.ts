import test from 'ava';
import fc from 'fast-check';
import { ArgumentError } from '../../runtime/index.ts';
import { EventHeap, LogHistogram, diurnalFactor, peakSessionRate, runPlant, scenario, unequalServers } from '../../sim/index.ts';
import type { Scenario } from '../../sim/index.ts';

// A small plant: ten servers of unequal capacity, a few thousand boxes, about 3000 requests/s.
const small = (over: Partial<Scenario> = {}): Scenario =>
  scenario({ boxes: 20_000, servers: unequalServers(10, 3), durationMs: 150_000, warmupMs: 60_000, seriesMs: 10_000, ...over });

test('the event heap pops in time order whatever the push order', (t) => {
  fc.assert(
    fc.property(fc.array(fc.double({ min: 0, max: 1e6, noNaN: true }), { maxLength: 3000 }), (times) => {
      const h = new EventHeap(4);
      times.forEach((x, i) => h.push(x, i % 16, i, -i));
      const out: number[] = [];
      while (h.pop()) {
        out.push(h.time);
        if (times[h.arg] !== h.time || h.kind !== h.arg % 16 || h.aux !== -h.arg) return false;
      }
      const sorted = [...times].sort((a, b) => a - b);
      return out.length === times.length && out.every((x, i) => x === sorted[i]);
    }),
  );
  const h = new EventHeap();
  t.false(h.pop());
  t.is(h.peekTime(), Infinity);
});

test('the log histogram gives percentiles within its 2% buckets and the exact mean', (t) => {
  const h = new LogHistogram();
  const xs: number[] = [];
  let seed = 7;
  for (let i = 0; i < 20_000; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    const x = -50 * Math.log(1 - seed / 2 ** 32);
    xs.push(x);
    h.add(x);
  }
  xs.sort((a, b) => a - b);
  for (const p of [50, 90, 99, 99.9]) {
    const exact = xs[Math.ceil((p / 100) * xs.length) - 1] as number;
    t.true(Math.abs(h.percentile(p) / exact - 1) < 0.021, `p${p}: ${h.percentile(p)} vs ${exact}`);
  }
  t.true(Math.abs(h.mean - xs.reduce((a, b) => a + b, 0) / xs.length) < 1e-9);
  t.true(Number.isNaN(new LogHistogram().percentile(99)));
});

test('scenarios are validated; the arrival rate offers the asked load', (t) => {
  const e = t.throws(() => scenario({ speed: 2 } as never), { instanceOf: ArgumentError });
  t.is(e?.option, 'speed');
  t.throws(() => scenario({ load: 0 }), { instanceOf: ArgumentError });
  t.throws(() => scenario({ failure: { atMs: 1, server: 99 } }), { instanceOf: ArgumentError });
  t.throws(() => scenario({ flash: { atMs: 1, durationMs: 1, app: 'nope', arrivalX: 2, activityX: 1 } }), { instanceOf: ArgumentError });
  const s = scenario({ servers: [{ workers: 10, memMB: 1 }], apps: [{ name: 'a', share: 1, requests: 10, thinkMs: 100, serviceMs: 5, memMB: 1 }], load: 0.5 });
  t.is(peakSessionRate(s), (0.5 * 10) / (10 * 5)); // sessions per ms: load x workers / work per session
  const d = { dayMs: 1000, trough: 0.2, peakAtMs: 800 };
  t.is(diurnalFactor(800, d), 1);
  t.is(diurnalFactor(300, d), 0.2);
  t.is(diurnalFactor(123, null), 1);
});

test('a run is reproducible, and every policy sees the same sessions (one trace)', (t) => {
  const sc = small({ durationMs: 70_000, warmupMs: 20_000 });
  const a = runPlant(sc, 'weft');
  const b = runPlant(sc, 'weft');
  t.deepEqual({ ...a, wallMs: 0 }, { ...b, wallMs: 0 });
  const r = runPlant(sc, 'random');
  t.is(r.sessions, a.sessions);
  t.is(r.boxesSeen, a.boxesSeen);
  t.true(a.boxesSeen > 0 && a.boxesSeen <= sc.boxes);
  t.is(a.rejected, 0);
  t.is(a.series.length, 7);
});

test('under 10 s stale reports JSQ herds; Weft\'s balancer does not and is no worse than random', (t) => {
  const sc = small({ reports: { intervalMs: 10_000, delayMs: 200, jitterMs: 100 } });
  const weft = runPlant(sc, 'weft');
  const random = runPlant(sc, 'random');
  const jsq = runPlant(sc, 'jsq');
  t.log(`p99 weft ${weft.p99Ms.toFixed(0)} random ${random.p99Ms.toFixed(0)} jsq ${jsq.p99Ms.toFixed(0)} ms`);
  t.true(jsq.p99Ms > 3 * weft.p99Ms);
  t.true(weft.p99Ms <= 1.05 * random.p99Ms);
  t.true(weft.meanMs <= 1.05 * random.meanMs);
  // Once the plant has filled with sessions it serves close to the offered load (0.9 of capacity;
  // the cost model leaves out the waits, so a little less).
  const capacityPerS = sc.servers.reduce((x, v) => x + v.workers, 0) / (22.6 / 1000);
  const perS = (weft.series.at(-1)?.requests ?? 0) / (sc.seriesMs / 1000);
  t.true(perS > 0.75 * capacityPerS && perS < 0.95 * capacityPerS, `${perS} req/s vs capacity ${capacityPerS}`);
});

test('a failed server: requests in it time out and are retried, its sessions are placed again', (t) => {
  const sc = small({ durationMs: 90_000, warmupMs: 10_000, failure: { atMs: 40_000, server: 1 } });
  const r = runPlant(sc, 'weft');
  t.true(r.timeouts > 0);
  t.true(r.replaced > 50, `replaced ${r.replaced}`);
  t.is(r.rejected, 0);
  t.true(r.maxMs >= sc.timeoutMs); // a retried request's sojourn includes the timeout
  // after detection nothing is served there
  t.true((r.nodes[1]?.util ?? 1) < 0.5 * (r.nodes[2]?.util ?? 0));
  const before = r.series.find((p) => p.t === 40_000);
  const after = r.series.find((p) => p.t === 60_000);
  t.true(before !== undefined && after !== undefined && after.offered > before.offered); // less capacity, same demand
});

test('a node near its memory limit gets no more sessions from Weft; random keeps filling it', (t) => {
  const servers = unequalServers(10, 3).map((s, i) => (i === 0 ? { ...s, memMB: 200 } : s));
  const sc = small({ servers, durationMs: 80_000, warmupMs: 40_000 });
  const weft = runPlant(sc, 'weft');
  const random = runPlant(sc, 'random');
  const w0 = weft.nodes[0]?.demand ?? 1;
  const r0 = random.nodes[0]?.demand ?? 0;
  t.true(w0 < 0.5 * r0, `weft ${w0} random ${r0}`);
});

test('a flash crowd raises the offered load while it lasts', (t) => {
  const sc = small({ durationMs: 120_000, warmupMs: 10_000, load: 0.5, flash: { atMs: 60_000, durationMs: 30_000, app: 'vod', arrivalX: 4, activityX: 2 } });
  const r = runPlant(sc, 'weft');
  const at = (ms: number) => r.series.find((p) => p.t === ms)?.offered ?? NaN;
  t.true(at(90_000) > 1.2 * at(60_000), `${at(60_000)} -> ${at(90_000)}`);
  t.true(at(120_000) < at(90_000));
});

test('a slowed node gets a replica portion that takes part of its requests [c25, c30]', (t) => {
  const base = { durationMs: 150_000, warmupMs: 60_000, load: 0.8, slowdown: { atMs: 70_000, durationMs: 60_000, server: 0, factor: 2 } } as const;
  const off = runPlant(small({ ...base, replicas: null }), 'weft');
  const on = runPlant(small({ ...base, replicas: {} }), 'weft');
  t.is(off.spawns, 0);
  t.true(on.spawns >= 1);
  t.true(Math.max(...on.series.map((p) => p.replicas)) >= 1);
  t.log(`p99 ${off.p99Ms.toFixed(0)} -> ${on.p99Ms.toFixed(0)} ms; mean ${off.meanMs.toFixed(1)} -> ${on.meanMs.toFixed(1)} ms`);
  t.true(on.meanMs < off.meanMs);
  // the replica only goes to Weft's policy: baselines run without it
  t.is(runPlant(small({ ...base, durationMs: 80_000, replicas: {} }), 'random').spawns, 0);
});

test('a million boxes: sessions come from boxes across the whole population', (t) => {
  const sc = small({ boxes: 1_000_000, durationMs: 20_000, warmupMs: 0 });
  const r = runPlant(sc, 'weft');
  t.true(r.sessions > 1000);
  t.true(r.boxesSeen > 0.99 * r.sessions); // distinct boxes: a million is far more than the sessions
});
