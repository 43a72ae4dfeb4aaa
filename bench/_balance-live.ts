// bench/balance part (b), on real head-end nodes (worker threads, UDP, a SQLite registry):
// (i) a 4x step in the time a shared portion holds its critical section, under a fixed open-loop
// load: throughput per 100 ms for Weft's wait-target controller, hill climbing and fixed pools;
// (ii) time until a replica started on a second node serves, over a local thread's spawn.

import { writeFileSync } from 'node:fs';
import { Channel, formatVaddr, type Envelope } from '../runtime/index.ts';
import { encodeManifest, generateSigningKey, sha256Hex, signManifest, trustedKey, trustedKeyToJson, utf8, type Manifest } from '../runtime/app/index.ts';
import { createUdpTransport } from '../transport/index.ts';
import { AppCatalog, type PublishedApp } from '../headend/app-catalog.ts';
import { HeadendNode } from '../headend/node.ts';
import { FixedPool, HillClimbController, SeededRandom, WaitTargetController, type WorkerController } from '../policy/index.ts';
import { SqliteRegistry } from '../headend/registry/registry-sqlite.ts';
import { WorkerPool } from '../headend/portions/worker-pool.ts';
import { lineChart, reactionMs, throughputBetween, type ThreadSimResult } from '../sim/index.ts';
import { percentile, table } from './_report.ts';

const ENTRY = new URL('../headend/portions/portion-worker.ts', import.meta.url);
const SOURCE = `function spin(ms) { const end = Date.now() + ms; while (Date.now() < end) {} }
weft.on('request', (b) => new Promise((r) => { spin(b.cpu); weft.setTimeout(() => r(1), b.hold); }));`;

/** The portion: one server module whose requests hold a 32-permit semaphore (a connection pool). */
async function liveApp(): Promise<{ pub: PublishedApp; trusted: ReturnType<typeof trustedKeyToJson>[] }> {
  const { key } = await generateSigningKey();
  const bytes = utf8(SOURCE);
  const manifest: Manifest = {
    app: 'live',
    version: '1.0.0',
    modules: [{ name: 'store', kind: 'server', tier: 'boot', file: 'store.js', sha256: await sha256Hex(bytes), size: bytes.length, uses: [], needs: {}, critical: { guard: 'semaphore', permits: 32 } }],
  };
  const manifestBytes = encodeManifest(manifest);
  return { pub: { manifest, manifestBytes, signature: await signManifest(manifestBytes, key), sources: { store: bytes } }, trusted: [trustedKeyToJson(await trustedKey(key.publicKey))] };
}

interface Live {
  nodes: HeadendNode[];
  pools: WorkerPool[];
  box: Channel;
  close(): Promise<void>;
}

async function cluster(ids: string[], spare: number, max: number, controller: () => WorkerController, replicas: boolean): Promise<Live> {
  const { pub, trusted } = await liveApp();
  const registry = new SqliteRegistry({ path: ':memory:' });
  const nodes: HeadendNode[] = [];
  const pools: WorkerPool[] = [];
  const udps: Awaited<ReturnType<typeof createUdpTransport>>[] = [];
  for (const id of ids) {
    const udp = await createUdpTransport({ host: '127.0.0.1', port: 0 });
    const catalog = new AppCatalog();
    catalog.add(pub);
    const pool = new WorkerPool({ entry: ENTRY, spare, max });
    await pool.warm();
    const node = new HeadendNode({ id, udp, registry, catalog, pool, trusted, intervalMs: 200, elastic: { controller }, ...(replicas ? {} : { replicas: { scale: false } }) });
    await node.start();
    nodes.push(node);
    pools.push(pool);
    udps.push(udp);
  }
  for (const n of nodes) await n.refreshPeers();
  const boxT = await createUdpTransport({ host: '127.0.0.1', port: 0 });
  const box = new Channel({ self: { vaddr: 'weft://box/bench/inbox', udp: boxT.address.udp as { host: string; port: number } }, write: (e: Envelope) => boxT.send(e), timeoutMs: 60_000 });
  boxT.onEnvelope((e) => box.receive(e));
  return {
    nodes,
    pools,
    box,
    close: async () => {
      await boxT.close();
      for (const n of nodes) await n.close();
      for (const p of pools) await p.close();
      for (const u of udps) await u.close();
      await registry.close();
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const STORE = formatVaddr({ app: 'live', session: '*', module: 'store' });

export interface StepOptions {
  ratePerS: number;
  holdMs: number;
  stepX: number;
  cpuMs: number;
  warmMs: number;
  afterMs: number;
  binMs: number;
  spare: number;
  maxThreads: number;
}

/** One run of the step on a fresh node with `controller`; bins of completions as the simulator gives them. */
export type StepRun = ThreadSimResult & { workers: number[]; failed: number };

export async function stepRun(name: string, controller: () => WorkerController, o: StepOptions): Promise<StepRun> {
  const live = await cluster(['step'], o.spare, o.maxThreads, controller, false);
  const [node] = live.nodes as [HeadendNode];
  try {
    const started = await node.startPortion('live', '*', ['store']);
    if (!started.ok) throw started.error;
    // The same arrival times for every run (seeded Poisson), and the same work per request.
    const rng = new SeededRandom(7);
    const total = o.warmMs + o.afterMs;
    const sends: number[] = [];
    for (let t = rng.exp(1000 / o.ratePerS); t < total; t += rng.exp(1000 / o.ratePerS)) sends.push(t);
    const nBins = Math.ceil(total / o.binMs);
    const done = new Array<number>(nBins).fill(0);
    const workers = new Array<number>(nBins).fill(0);
    const t0 = performance.now();
    let i = 0;
    let failed = 0;
    const pending: Promise<unknown>[] = [];
    while (i < sends.length) {
      const now = performance.now() - t0;
      while (i < sends.length && (sends[i] as number) <= now) {
        const hold = (sends[i] as number) >= o.warmMs ? o.holdMs * o.stepX : o.holdMs;
        i++;
        pending.push(
          live.box.request({ vaddr: STORE, udp: node.udpAddress }, { hold, cpu: o.cpuMs }).then(
            () => {
              const b = Math.floor((performance.now() - t0) / o.binMs);
              if (b < nBins) done[b] = (done[b] ?? 0) + 1;
            },
            // A request that failed (a worker starved past its deadline on a loaded machine) is
            // not a completion: counted and shown, it does not end the benchmark.
            () => void failed++,
          ),
        );
      }
      const b = Math.floor(now / o.binMs);
      if (b < nBins) workers[b] = Math.max(workers[b] ?? 0, node.elastic.group(STORE)?.members.length ?? 0);
      await sleep(1);
    }
    await Promise.all(pending);
    const bins = done.map((d, k) => ({ t: (k + 1) * o.binMs, throughputPerS: (d * 1000) / o.binMs, workers: workers[k] ?? 0, meanWaitMs: 0 }));
    return { controller: name, bins, completed: sends.length - failed, maxWorkers: Math.max(...workers), meanWaitMs: 0, workers, failed };
  } finally {
    await live.close();
  }
}

export const controllers = {
  weft: (max: number, holdMs = 5000) => () => new WaitTargetController({ targetWaitMs: 20, maxWorkers: max, holdMs }),
  hill: (max: number) => () => new HillClimbController({ maxWorkers: max }),
  fixed: (n: number) => () => new FixedPool(n),
};

export interface SpawnResult {
  localMs: number[];
  remoteMs: number[];
  rttMs: number[];
}

/**
 * Time until a new instance serves its first request: a thread added on the node (taken from the
 * pre-warmed pool), and a replica started on a second node through the control operation. Both
 * are timed from the decision to the reply to a request sent through the first node.
 */
export async function spawnTimes(trials: number): Promise<SpawnResult> {
  const live = await cluster(['s1', 's2'], 1, 8, () => new FixedPool(1), true);
  const [n1, n2] = live.nodes as [HeadendNode, HeadendNode];
  const [p1] = live.pools as [WorkerPool];
  const out: SpawnResult = { localMs: [], remoteMs: [], rttMs: [] };
  try {
    const started = await n1.startPortion('live', '*', ['store']);
    if (!started.ok) throw started.error;
    const ask = (dst: { vaddr: string; queue?: string }) => live.box.request({ ...dst, udp: n1.udpAddress }, { hold: 0, cpu: 0 });
    for (let k = 0; k < 20; k++) await ask({ vaddr: STORE });
    for (let k = 0; k < trials; k++) {
      // Both start from a warm state: a spare thread ready, the second node idle.
      await p1.warm();
      await sleep(100);
      let t = performance.now();
      await ask({ vaddr: STORE });
      out.rttMs.push(performance.now() - t);
      t = performance.now();
      const r = await n1.elastic.spawnInstance(started.value);
      if (!r.ok) throw r.error;
      await ask({ vaddr: STORE, queue: r.value });
      out.localMs.push(performance.now() - t);
      await n1.elastic.retireInstance(r.value);
      await sleep(100);
      t = performance.now();
      const s = await n1.replicas.spawnOn(STORE, n2.id);
      if (!s.ok) throw s.error;
      await ask({ vaddr: s.value });
      out.remoteMs.push(performance.now() - t);
      await n1.replicas.retireFrom(STORE, n2.id);
      n1.resolver.invalidate(s.value);
    }
    return out;
  } finally {
    await live.close();
  }
}

/** Part (b) of the benchmark: prints its tables, optionally writes the plots, gives the two figures. */
export async function runLive(quick: boolean, plots: boolean): Promise<{ reactMs: number; spawnRemoteVsLocal: number; files: string[] }> {
  const max = 12;
  const o: StepOptions = { ratePerS: 100, holdMs: 10, stepX: 4, cpuMs: 0.2, warmMs: quick ? 4000 : 5000, afterMs: quick ? 4000 : 6000, binMs: 100, spare: 6, maxThreads: max };
  console.log(`\n(b) live, one node: ${o.ratePerS} requests/s (Poisson, the same arrivals for every run) to a shared portion whose requests hold a 32-permit semaphore ${o.holdMs} ms, then ${o.holdMs * o.stepX} ms from t = ${o.warmMs / 1000} s; ${o.spare} threads pre-warmed, at most ${max}`);
  // The wait-target controller shrinks after 1 s of calm so that it starts the step from what the
  // light load needs (it is at 3 workers then), not from the start-up transient.
  // The machine is shared: one late hiccup in a run would count as not yet recovered, so each
  // controller runs `reps` times and its median reaction is reported.
  const reps = quick ? 1 : 3;
  const adaptive: StepRun[][] = [[], []];
  const fixed: StepRun[] = [];
  for (const n of quick ? [4, 8] : [2, 4, 8]) fixed.push(await stepRun(`fixed-${n}`, controllers.fixed(n), o));
  for (let k = 0; k < reps; k++) {
    adaptive[0]?.push(await stepRun('weft', controllers.weft(max, 1000), o));
    adaptive[1]?.push(await stepRun('hill-climb', controllers.hill(max), o));
  }
  const after = (r: ThreadSimResult) => throughputBetween(r, o.warmMs, o.warmMs + o.afterMs);
  const best = fixed.reduce((a, b) => (after(b) >= after(a) ? b : a));
  const react = (r: ThreadSimResult) => reactionMs(r, best, o.warmMs, 0.9, 3);
  const median = (rs: StepRun[]) => [...rs].sort((a, b) => react(a) - react(b))[Math.floor((rs.length - 1) / 2)] as StepRun;
  const shown = [...adaptive.map(median), ...fixed];
  const rows = shown.map((r) => ({
    controller: r.controller,
    'req/s before': throughputBetween(r, 1000, o.warmMs),
    'req/s after step': after(r),
    [`x ${best.controller}`]: after(r) / after(best),
    'react ms (90%)': react(r),
    'react ms, each run': adaptive.find((rs) => rs.includes(r))?.map((x) => react(x).toFixed(0)).join(' ') ?? '',
    'workers at step': r.workers[o.warmMs / o.binMs] ?? 0,
    'max workers': r.maxWorkers,
    failed: r.failed,
  }));
  table(`throughput after a ${o.stepX}x step in critical-section time; react = time until a 300 ms window stays >= 90% of the best fixed pool (${best.controller}); median of ${reps}`, rows);
  const runs = adaptive.map(median);

  const trials = quick ? 3 : 7;
  const sp = await spawnTimes(trials);
  const local = percentile(sp.localMs, 50);
  const remote = percentile(sp.remoteMs, 50);
  const rtt = percentile(sp.rttMs, 50);
  table(`time until a new instance serves its first request (median of ${trials}; request sent through the first node)`, [
    { where: 'local thread (pre-warmed, same node)', ms: local, 'first ms': sp.localMs[0] ?? NaN, 'max ms': Math.max(...sp.localMs) },
    { where: 'replica on a second node (control op)', ms: remote, 'first ms': sp.remoteMs[0] ?? NaN, 'max ms': Math.max(...sp.remoteMs) },
    { where: 'one request round trip (baseline)', ms: rtt, 'first ms': sp.rttMs[0] ?? NaN, 'max ms': Math.max(...sp.rttMs) },
  ]);
  const files: string[] = [];
  if (plots) {
    const show = [runs[0] as ThreadSimResult, runs[1] as ThreadSimResult, best];
    const smooth = (r: ThreadSimResult) => r.bins.map((b, i, all) => [b.t / 1000, all.slice(Math.max(0, i - 2), i + 1).reduce((a, x) => a + x.throughputPerS, 0) / Math.min(3, i + 1)] as const);
    const write = (name: string, svg: string) => {
      writeFileSync(new URL(`../docs/${name}`, import.meta.url), svg);
      files.push(`docs/${name}`);
    };
    const step = [{ x: o.warmMs / 1000, label: `${o.stepX}x` }];
    write('elasticity-live-step.svg', lineChart({ title: `Live node: throughput after a ${o.stepX}x step (300 ms mean)`, xLabel: 's', yLabel: 'requests/s', series: show.map((r) => ({ name: r.controller, points: smooth(r) })), markers: step }));
    write('elasticity-live-workers.svg', lineChart({ title: 'Live node: worker threads of the portion', xLabel: 's', yLabel: 'threads', series: show.map((r) => ({ name: r.controller, points: r.bins.map((b) => [b.t / 1000, b.workers] as const) })), markers: step }));
  }
  return { reactMs: react(runs[0] as ThreadSimResult), spawnRemoteVsLocal: remote / local, files };
}
