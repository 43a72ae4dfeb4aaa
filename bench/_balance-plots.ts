// Plots for docs/ELASTICITY.md from the simulator (`npm run bench -- balance --plots`): writes
// docs/elasticity-*.svg. Also the day scenario the benchmark times. Not a benchmark on its own.

import { writeFileSync } from 'node:fs';
import { FixedPool, HillClimbController, WaitTargetController } from '../policy/index.ts';
import type { PolicyKind } from '../policy/index.ts';
import { barChart, lineChart, runPlant, scenario, simulateThreads, throughputBetween, type RunResult, type Scenario } from '../sim/index.ts';

/** A million boxes over a compressed day: diurnal peak, a server failure, a VOD flash crowd. */
export function dayScenario(dayMs: number): Scenario {
  return scenario({
    boxes: 1_000_000,
    durationMs: dayMs,
    warmupMs: 60_000,
    diurnal: { dayMs, trough: 0.15, peakAtMs: dayMs * 0.8 },
    flash: { atMs: dayMs * 0.45, durationMs: 60_000, app: 'vod', arrivalX: 4, activityX: 2 },
    failure: { atMs: dayMs * 0.5, server: 1 },
    replicas: {},
  });
}

const DOCS = new URL('../docs/', import.meta.url);
const seconds = (series: RunResult['series'], f: (p: RunResult['series'][number]) => number) => series.map((p) => [p.t / 1000, f(p)] as const);

type Write = (name: string, svg: string) => void;
type PlotInput = { steady: readonly RunResult[]; stale: readonly RunResult[]; day: Scenario; dayWeft: RunResult; quick: boolean };

export function writePlots(input: PlotInput): string[] {
  const files: string[] = [];
  const write: Write = (name, svg) => {
    writeFileSync(new URL(name, DOCS), svg);
    files.push(`docs/${name}`);
  };
  policyPlots(input, write);
  stalenessPlot(input.quick, write);
  dayPlots(input, write);
  threadPlots(write);
  hotspotPlot(write);
  return files;
}

// 1. Policies at load 0.9: 1 s and 10 s stale reports.
function policyPlots(input: PlotInput, write: Write): void {
  const names = input.steady.map((r) => r.policy);
  write('elasticity-policies.svg', barChart({
    title: 'Sojourn at load 0.9, reports every 1 s (200-300 ms late)',
    yLabel: 'ms',
    categories: names,
    series: [{ name: 'mean', values: input.steady.map((r) => r.meanMs) }, { name: 'p99', values: input.steady.map((r) => r.p99Ms) }],
  }));
  const staleWeft = input.stale.find((r) => r.policy === 'weft');
  write('elasticity-stale.svg', barChart({
    title: 'p99 sojourn at load 0.9, reports every 10 s',
    yLabel: 'ms',
    categories: input.stale.map((r) => r.policy),
    series: [{ name: 'p99', values: input.stale.map((r) => r.p99Ms) }],
    yMax: Math.max(...input.stale.filter((r) => r.policy !== 'jsq').map((r) => r.p99Ms)) * 2 || (staleWeft?.p99Ms ?? 1) * 3,
  }));
}

// 2. p99 against report interval.
function stalenessPlot(quick: boolean, write: Write): void {
  const intervals = quick ? [1000, 10_000] : [250, 1000, 3000, 10_000];
  const kinds: PolicyKind[] = ['weft', 'p2c', 'least-connections', 'random', 'jsq'];
  const byKind = new Map<string, [number, number][]>(kinds.map((k) => [k, []]));
  for (const iv of intervals) {
    const sc = scenario({ load: 0.9, warmupMs: 150_000, durationMs: 150_000 + (quick ? 60_000 : 150_000), reports: { intervalMs: iv, delayMs: 200, jitterMs: 100 }, replicas: {} });
    for (const k of kinds) byKind.get(k)?.push([iv / 1000, runPlant(sc, k).p99Ms]);
  }
  write('elasticity-staleness.svg', lineChart({
    title: 'p99 sojourn against report interval (load 0.9, 4 balancers)',
    xLabel: 'report interval (s)',
    yLabel: 'p99 sojourn (ms, log)',
    yLog: true,
    series: kinds.map((k) => ({ name: k, points: byKind.get(k) ?? [] })),
  }));
}

// 3. A compressed day with a million boxes.
function dayPlots(input: PlotInput, write: Write): void {
  const dayKinds: PolicyKind[] = ['p2c', 'least-connections', 'random'];
  const dayRuns = [input.dayWeft, ...dayKinds.map((k) => runPlant(input.day, k))];
  const fail = input.day.failure;
  const flash = input.day.flash;
  const markers = [
    ...(fail === null ? [] : [{ x: fail.atMs / 1000, label: 'server fails' }]),
    ...(flash === null ? [] : [{ x: flash.atMs / 1000, label: 'VOD flash crowd' }]),
  ];
  write('elasticity-day.svg', lineChart({
    title: 'p99 sojourn per 10 s over a compressed day, 1,000,000 boxes',
    xLabel: 'simulated time (s)',
    yLabel: 'p99 sojourn (ms, log)',
    yLog: true,
    markers,
    series: dayRuns.map((r) => ({ name: r.policy, points: seconds(r.series, (p) => p.p99Ms) })),
  }));
  write('elasticity-day-load.svg', lineChart({
    title: 'Offered load and utilisation over the day (Weft)',
    xLabel: 'simulated time (s)',
    yLabel: 'fraction of capacity',
    markers,
    series: [
      { name: 'offered (model)', points: seconds(input.dayWeft.series, (p) => p.offered) },
      { name: 'mean util', points: seconds(input.dayWeft.series, (p) => p.meanUtil) },
      { name: 'max util', points: seconds(input.dayWeft.series, (p) => p.maxUtil) },
    ],
  }));
}

// 4. Thread controllers after a 4x step in critical-section time.
function threadPlots(write: Write): void {
  const run = { stepAtMs: 2000, durationMs: 10_000 };
  const fixed = [8, 16, 24, 32, 48].map((n) => simulateThreads(new FixedPool(n), run));
  const best = fixed.reduce((a, b) => (throughputBetween(b, 2000, 10_000) > throughputBetween(a, 2000, 10_000) ? b : a));
  const ctl = [simulateThreads(new WaitTargetController({ targetWaitMs: 20 }), run), simulateThreads(new HillClimbController(), run), fixed[0] as ReturnType<typeof simulateThreads>, best];
  const smooth = (bins: { t: number; throughputPerS: number }[]) => bins.map((b, i) => [b.t / 1000, bins.slice(Math.max(0, i - 2), i + 1).reduce((a, x) => a + x.throughputPerS, 0) / Math.min(3, i + 1)] as const);
  write('elasticity-threads.svg', lineChart({
    title: 'Throughput after the critical section slows 4x at t = 2 s (400 req/s offered)',
    xLabel: 'time (s)',
    yLabel: 'completions/s (300 ms mean)',
    markers: [{ x: 2, label: 'critical section 4x slower' }],
    series: ctl.map((r) => ({ name: r.controller, points: smooth([...r.bins]) })),
  }));
  write('elasticity-workers.svg', lineChart({
    title: 'Worker threads chosen by each controller',
    xLabel: 'time (s)',
    yLabel: 'workers',
    markers: [{ x: 2, label: 'critical section 4x slower' }],
    series: ctl.map((r) => ({ name: r.controller, points: r.bins.map((b) => [b.t / 1000, b.workers] as const) })),
  }));
}

// 5. A hot spot: a 16-worker server runs 2x slower for two minutes; replicas on and off.
function hotspotPlot(write: Write): void {
  const hot = (replicas: boolean) =>
    runPlant(scenario({ load: 0.8, warmupMs: 180_000, durationMs: 420_000, slowdown: { atMs: 240_000, durationMs: 120_000, server: 1, factor: 2 }, replicas: replicas ? {} : null }), 'weft');
  const on = hot(true);
  const off = hot(false);
  write('elasticity-hotspot.svg', lineChart({
    title: 'A 16-worker server slows 2x for 120 s: p99 per 10 s, with and without replicas [c30]',
    xLabel: 'simulated time (s)',
    yLabel: 'p99 sojourn (ms, log)',
    yLog: true,
    markers: [{ x: 240, label: 'slowdown' }, { x: 360, label: 'recovered' }],
    series: [
      { name: 'replicas on', points: seconds(on.series.filter((p) => p.t > 150_000), (p) => p.p99Ms) },
      { name: 'replicas off', points: seconds(off.series.filter((p) => p.t > 150_000), (p) => p.p99Ms) },
    ],
  }));
}
