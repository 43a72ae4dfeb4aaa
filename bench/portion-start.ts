// bench/portion-start: the worker's part of a session setup (issue 19.3), measured where the
// head-end bench cannot resolve it on a shared machine.
//  1. a portion start in a real worker thread, from the `start` message to its `started` answer,
//     warm (a warm app sandbox taken) against cold (warmPerBuild 0) in the same run, starts spaced
//     so the refill gets its turn (the moderate-load case warm sandboxes are for);
//  2. the process's CPU per start, back to back (three runs, median): the figure a noisy
//     machine moves least (wave 19);
//     and per start + stop with 100 instances held (a session's whole stay; wave 20);
//  3. a worker thread's boot CPU from the bundled entry against booting through tsx.
// Usage: npm run bench -- portion-start [--starts 300]

import { WorkerPool } from '../headend/portions/worker-pool.ts';
import { serverApp, WorkerUnderTest } from '../test/security/_portion-worker.ts';
import { percentile, result, table } from './_report.ts';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? dflt : Number(process.argv[i + 1]);
};
const STARTS = arg('starts', 300);
const SRC = `let n = 0;
weft.on('request', (b) => ({ n: ++n, b }));
export function snapshot() { return { n }; }`;

const app = await serverApp('bench', { epg: SRC, search: SRC });
const keepAlive = setInterval(() => {}, 60_000); // pools unref their threads

/** Start/answer latency (ms) of `n` portions of 2 modules, 5 ms apart (the refill's turn). */
async function starts(w: WorkerUnderTest, tag: string, n: number, gapMs = 5): Promise<number[]> {
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
    const t0 = performance.now();
    const r = await w.startPortion(app, `${tag}${i}`);
    lat.push(performance.now() - t0);
    if (!r.ok) throw new Error(r.error);
  }
  return lat;
}

// Both workers at once, so the machine's load falls on both columns alike.
const cold = await WorkerUnderTest.start({ warmPerBuild: 0 });
const warm = await WorkerUnderTest.start({ warmPerBuild: 2 });
const lc: number[] = [];
const lw: number[] = [];
for (let round = 0; round < STARTS / 50; round++) {
  await Promise.all([starts(cold, `c${round}-`, 50).then((l) => lc.push(...l)), starts(warm, `w${round}-`, 50).then((l) => lw.push(...l))]);
}
const hits = (await warm.load()).sandbox?.warmHits ?? 0;
await cold.close();
await warm.close();

/** The process's CPU (this thread and the worker's) per start, back to back after a warm-up,
 *  refills included: what a start costs, whatever the machine's other tenants do to its latency. */
async function cpuMsPerStart(n: number): Promise<number> {
  const w = await WorkerUnderTest.start({ warmPerBuild: 2 });
  await starts(w, 'warmup-', 50);
  const c0 = process.cpuUsage();
  await starts(w, 'cpu-', n, 0);
  const c = process.cpuUsage(c0);
  await w.close();
  return (c.user + c.system) / 1000 / n;
}
const cpuPerStart: number[] = [];
for (let i = 0; i < 3; i++) cpuPerStart.push(await cpuMsPerStart(STARTS));

/** The process's CPU per session's worth of churn (wave 20): with LIVE instances held, each start
 *  stops the oldest, so a start and a stop are paid per step and the engine's memory is reused. */
const LIVE = 100;
async function cpuMsPerChurn(n: number): Promise<number> {
  const w = await WorkerUnderTest.start({ warmPerBuild: 2 });
  let i = 0;
  const step = async (): Promise<void> => {
    const r = await w.startPortion(app, `churn-${i}`);
    if (!r.ok) throw new Error(r.error);
    if (i >= LIVE) await w.stopPortion('bench', `churn-${i - LIVE}`);
    i++;
  };
  while (i < LIVE + 50) await step();
  const c0 = process.cpuUsage();
  for (let k = 0; k < n; k++) await step();
  const c = process.cpuUsage(c0);
  await w.close();
  return (c.user + c.system) / 1000 / n;
}
const cpuPerChurn: number[] = [];
for (let i = 0; i < 3; i++) cpuPerChurn.push(await cpuMsPerChurn(STARTS));

async function bootCpuMs(bundle: boolean): Promise<number> {
  const pool = new WorkerPool({ entry: new URL('../headend/portions/portion-worker.ts', import.meta.url), spare: 1, max: 2, bundle });
  await pool.warm();
  const c0 = process.cpuUsage();
  await pool.acquire(); // takes the spare and boots its replacement
  await pool.warm();
  const c = process.cpuUsage(c0);
  await pool.close();
  return (c.user + c.system) / 1000;
}
const boots: { bundled: number[]; tsx: number[] } = { bundled: [], tsx: [] };
for (let i = 0; i < 3; i++) {
  boots.bundled.push(await bootCpuMs(true));
  boots.tsx.push(await bootCpuMs(false));
}
clearInterval(keepAlive);

const coldP50 = percentile(lc, 50);
const warmP50 = percentile(lw, 50);
table(`portion start in a worker, 2 modules, start -> started (ms), ${lc.length} each`, [
  { case: 'cold (warmPerBuild 0)', p50: coldP50, p99: percentile(lc, 99) },
  { case: `warm (warmPerBuild 2; ${hits} hits)`, p50: warmP50, p99: percentile(lw, 99) },
]);
table('starts back to back, process CPU per start (ms, refills included)', [{ runs: cpuPerStart.map((x) => x.toFixed(3)).join(' / '), median: percentile(cpuPerStart, 50) }]);
table(`start + stop with ${LIVE} held, process CPU per pair (ms)`, [{ runs: cpuPerChurn.map((x) => x.toFixed(3)).join(' / '), median: percentile(cpuPerChurn, 50) }]);
table('worker thread boot (process CPU, ms, median of 3)', [
  { case: 'through tsx', ms: percentile(boots.tsx, 50) },
  { case: 'bundled entry', ms: percentile(boots.bundled, 50) },
]);
result('portion-start', {
  cold_p50_ms: coldP50,
  warm_p50_ms: warmP50,
  warm_ratio_vs_cold: warmP50 / coldP50,
  warm_hits: hits,
  starts: lw.length,
  cpu_ms_per_start: percentile(cpuPerStart, 50),
  cpu_ms_per_start_stop: percentile(cpuPerChurn, 50),
  boot_cpu_ms_tsx: percentile(boots.tsx, 50),
  boot_cpu_ms_bundled: percentile(boots.bundled, 50),
  boot_ratio_bundled_vs_tsx: percentile(boots.bundled, 50) / percentile(boots.tsx, 50),
});
