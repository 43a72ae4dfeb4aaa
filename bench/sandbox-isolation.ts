// bench/sandbox-isolation: what one hostile app costs the others (issue 12 finding 8).
//  1. neighbour p99: a well-behaved app's request latency on a portion worker thread while a
//     spinning app's requests arrive on the same thread. Baseline, in the same run: the worker as
//     it was (1 s per-event deadline, envelopes run in arrival order); and the neighbour on a
//     thread of its own (what a thread per app would give).
//  2. memory returned: process RSS after a memory bomb's sandbox is destroyed, with the app's
//     engine dropped (now) against one engine kept for the thread (before).
// `npm run bench -- sandbox-isolation [--spins N]`
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { AppEngines, AppSandbox, loadEngine } from '../sandbox/index.ts';
import { one } from '../test/sandbox/_harness.ts';
import { serverApp, WorkerUnderTest } from '../test/security/_portion-worker.ts';
import { percentile, result, table } from './_report.ts';

const argSpins = process.argv.indexOf('--spins');
const SPINS = argSpins > 0 ? Number(process.argv[argSpins + 1]) : 8;
const MiB = 1 << 20;
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

interface Run {
  config: string;
  p50: number;
  p99: number;
  max: number;
  samples: number;
}

async function neighbour(config: string, spinData: Parameters<typeof WorkerUnderTest.start>[0], ownThread: boolean): Promise<Run> {
  const spinW = await WorkerUnderTest.start(spinData);
  const goodW = ownThread ? await WorkerUnderTest.start(spinData) : spinW;
  try {
    const spin = { ...(await serverApp('spin', { m: `weft.on('request', () => { for (;;) {} });` })) };
    const good = await serverApp('good', { m: `weft.on('request', (b) => b);` });
    for (let i = 0; i < SPINS; i++) await spinW.startPortion(spin, `s${i}`);
    await goodW.startPortion(good, 'g');
    const lat: number[] = [];
    let spinsSent = 0;
    const spinAnswers: Promise<unknown>[] = [];
    // A spinning request every 150 ms (each to a fresh instance), a neighbour request every 10 ms.
    const spinTimer = setInterval(() => {
      if (spinsSent < SPINS) spinAnswers.push(spinW.answer(spinW.request('spin', `s${spinsSent++}`, 'm', null)));
    }, 150);
    const until = Date.now() + SPINS * 150 + 300;
    while (Date.now() < until || spinsSent < SPINS) {
      const t0 = performance.now();
      await goodW.answer(goodW.request('good', 'g', 'm', lat.length));
      lat.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 10));
    }
    clearInterval(spinTimer);
    await Promise.all(spinAnswers);
    return { config, p50: percentile(lat, 50), p99: percentile(lat, 99), max: Math.max(...lat), samples: lat.length };
  } finally {
    await spinW.close();
    if (goodW !== spinW) await goodW.close();
  }
}

const runs = [
  await neighbour('before: 1 s deadline, arrival order', { sliceMs: 1000, schedule: 'fifo' }, false),
  await neighbour('now: 100 ms slice, least-CPU first', {}, false),
  await neighbour('own thread per app', {}, true),
];
table(`neighbour latency, ms (${SPINS} spinning requests, one every 150 ms)`, runs.map((r) => ({ ...r })));

/** Run the bomb in its own scope; returns the engine when it is to be kept (as a worker's was). */
async function bomb(dropEngine: boolean): Promise<{ peak: number; kept: unknown }> {
  const engines = new AppEngines({ maxMemoryBytes: 512 * MiB });
  const kept = dropEngine ? undefined : await loadEngine({ maxMemoryBytes: 512 * MiB });
  const engine = kept ?? (await engines.acquire('bomb'));
  const app = new AppSandbox(engine, { app: 'bomb', side: 'headend', limits: { deadlineMs: 60_000, sliceMs: 60_000, watchdogGraceMs: 60_000, memoryBytes: 1024 * MiB } });
  const m = app.load(await one(`const h = []; weft.on('request', () => { for (;;) h.push(new Array(100000).fill(7)); });`, { name: 'm', kind: 'server' }, 'bomb'));
  if (!m.ok) throw m.error;
  m.value.start();
  await m.value.serve(null, { queue: 'bench' }).catch(() => undefined);
  const peak = process.memoryUsage().rss;
  app.destroy();
  if (kept === undefined) engines.release(engine);
  return { peak, kept };
}

async function bombRss(dropEngine: boolean): Promise<{ peakMb: number; afterMb: number; baseMb: number }> {
  gc();
  const base = process.memoryUsage().rss;
  const { peak, kept } = await bomb(dropEngine);
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  const after = process.memoryUsage().rss;
  void kept; // held across the measurement, as a worker held its one engine
  return { baseMb: base / MiB, peakMb: peak / MiB, afterMb: after / MiB };
}

const now = await bombRss(true);
const before = await bombRss(false);
table('memory bomb (512 MiB engine cap): process RSS, MiB', [
  { config: 'before: engine kept for the thread', base: before.baseMb, peak: before.peakMb, after: before.afterMb, retained: before.afterMb - before.baseMb },
  { config: 'now: the app engine is dropped', base: now.baseMb, peak: now.peakMb, after: now.afterMb, retained: now.afterMb - now.baseMb },
]);
result('sandbox-isolation', {
  neighbour_spin_p99_ms: runs[1]?.p99 ?? null,
  neighbour_spin_p99_before_ms: runs[0]?.p99 ?? null,
  neighbour_own_thread_p99_ms: runs[2]?.p99 ?? null,
  bomb_rss_retained_mb: now.afterMb - now.baseMb,
  bomb_rss_retained_before_mb: before.afterMb - before.baseMb,
});
