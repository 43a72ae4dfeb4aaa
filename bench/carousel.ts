// Carousel acquisition time in simulated time: an app of 20 modules / 600 KB (60 KB boot tier) at
// 2 Mbit/s, boxes tuning in at random instants, datagram loss 0, 1e-3, 1e-2 replayed identically
// to every system. Ours (tiered + Reed-Solomon FEC) against the plain cyclic DSM-CC baseline
// (every module once per cycle, no FEC) and the airtime bound 8*S/R. Run: npm run bench -- carousel

import { Broadcaster, type CarouselOptions, CarouselReceiver, type ModuleSet, type Tier, makeModule } from '../carousel/index.ts';
import { percentile, result, table } from './_report.ts';

const BITRATE = 2_000_000;
// Tune-ins per cell; the 1e-2 cells get more, since their p99 sits on the baseline's
// "one more cycle" cliff and 200 samples put it at the 3rd-largest value.
const TRIALS = Number(process.env.CAROUSEL_TRIALS ?? 200);
const P99_TRIALS = Number(process.env.CAROUSEL_P99_TRIALS ?? 1000);
const LOSSES = [0, 1e-3, 1e-2];
const TUNE_WINDOW_MS = 30_000;

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0; // mulberry32
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function bytes(n: number, seed: number): Uint8Array {
  const r = prng(seed);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (r() * 256) | 0;
  return b;
}

/** 20 modules, 600 KB: boot 60 KB (manifest, signature, 4 client modules), two fallback tiers. */
function app(): ModuleSet {
  const KB = 1024;
  const spec: [string, 'client' | 'mutable' | 'manifest' | 'signature', Tier, number][] = [
    ['manifest.json', 'manifest', 'boot', 3 * KB],
    ['manifest.sig', 'signature', 'boot', 64],
    ['boot.js', 'client', 'boot', 21 * KB],
    ['ui.js', 'client', 'boot', 18 * KB],
    ['keys.js', 'client', 'boot', 8 * KB],
    ['guide-lite.js', 'client', 'boot', 10 * KB - 64],
  ];
  const f1 = [40, 38, 36, 34, 32, 32, 30, 28];
  f1.forEach((k, i) => spec.push([`f1-${i}.js`, i % 3 === 0 ? 'mutable' : 'client', 'fallback-1', k * KB]));
  const f2 = [52, 48, 46, 44, 42, 38];
  f2.forEach((k, i) => spec.push([`f2-${i}.js`, 'client', 'fallback-2', k * KB]));
  return { appId: 'bench', version: '1', modules: spec.map(([name, kind, tier, n], i) => makeModule(name, kind, tier, bytes(n, 1000 + i))) };
}

/** A broadcaster's output, generated once and cached: every system is deterministic. */
class Stream {
  readonly b: Broadcaster;
  readonly dt: number;
  #cache: Uint8Array[] = [];
  constructor(set: ModuleSet, options: CarouselOptions) {
    this.b = new Broadcaster(set, { bitrate: BITRATE, ...options });
    this.dt = this.b.datagramMs;
  }
  at(i: number): Uint8Array {
    while (this.#cache.length <= i) this.#cache.push(this.b.nextDatagram() as Uint8Array);
    return this.#cache[i] as Uint8Array;
  }
}

interface Trial {
  boot: number;
  all: number;
}

/** One box: tunes in at t0 ms, loses datagrams by the shared mask, returns seconds to boot and to all. */
function acquire(s: Stream, t0: number, loss: number, seed: number): Trial {
  const lost = prng(seed);
  const first = Math.ceil(t0 / s.dt);
  let boot = NaN;
  let all = NaN;
  let i = first;
  const rx = new CarouselReceiver({
    tiers: ['boot', 'fallback-1', 'fallback-2'],
    onEvent: (e) => {
      if (e.kind === 'tier' && e.tier === 'boot' && Number.isNaN(boot)) boot = (i + 1) * s.dt - t0;
    },
  });
  for (; i < first + 200_000; i++) {
    const drop = lost() < loss; // drawn for every datagram, so both systems see the same mask
    if (!drop) rx.push(s.at(i));
    if (rx.done) {
      all = (i + 1) * s.dt - t0;
      break;
    }
  }
  return { boot: boot / 1000, all: all / 1000 };
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

const set = app();
const size = (tier?: Tier): number => set.modules.filter((m) => tier === undefined || m.tier === tier).reduce((n, m) => n + m.bytes.length, 0);
const bootBound = (8 * size('boot')) / BITRATE;
const allBound = (8 * size()) / BITRATE;
const ABLATION = 'tiered, no FEC'; // what repetition alone buys, to show what FEC adds
const systems: [string, CarouselOptions][] = [
  ['baseline (plain, no FEC)', { schedule: 'plain', fec: false }],
  [ABLATION, { fec: false }],
  // CAROUSEL_OURS='{"repeat":{"boot":4}}' tries other options for ours (defaults otherwise).
  ['ours (tiered + RS FEC)', JSON.parse(process.env.CAROUSEL_OURS ?? '{}') as CarouselOptions],
];
const diiMs = new Broadcaster(set).options.diiIntervalMs;
console.log(`carousel bench: ${set.modules.length} modules, ${(size() / 1024).toFixed(0)} KB (boot ${(size('boot') / 1024).toFixed(0)} KB), ${BITRATE / 1e6} Mbit/s, DII every ${diiMs} ms, ${TRIALS} tune-ins per cell (${P99_TRIALS} at 1e-2, but for the ablation)`);
console.log(`bounds 8*S/R: boot ${bootBound.toFixed(3)} s, all ${allBound.toFixed(3)} s`);

const started = Date.now();
const res = new Map<string, Trial[]>();
for (const [name, options] of systems) {
  const s = new Stream(set, options);
  for (const loss of LOSSES) {
    const tune = prng(42);
    const trials: Trial[] = [];
    const n = loss >= 1e-2 && name !== ABLATION ? P99_TRIALS : TRIALS;
    for (let j = 0; j < n; j++) trials.push(acquire(s, tune() * TUNE_WINDOW_MS, loss, 7919 * (j + 1)));
    res.set(`${name}|${loss}`, trials);
  }
}

const rows = [];
for (const [name] of systems) {
  for (const loss of LOSSES) {
    const t = res.get(`${name}|${loss}`) as Trial[];
    const boot = t.map((x) => x.boot);
    const all = t.map((x) => x.all);
    rows.push({
      system: name,
      loss: String(loss),
      'boot mean s': mean(boot),
      'boot p99 s': percentile(boot, 99),
      'boot/bound': mean(boot) / bootBound,
      'all mean s': mean(all),
      'all p99 s': percentile(all, 99),
      'all/bound': mean(all) / allBound,
    });
  }
}
table('acquisition time from tune-in (simulated)', rows);

const get = (sys: string, loss: number): Trial[] => res.get(`${sys}|${loss}`) as Trial[];
const ours = 'ours (tiered + RS FEC)';
const base = 'baseline (plain, no FEC)';
const oursBoot0 = mean(get(ours, 0).map((x) => x.boot));
const oursAll0 = mean(get(ours, 0).map((x) => x.all));
const fields = {
  boot_mean_vs_bound: oursBoot0 / bootBound,
  all_mean_vs_bound: oursAll0 / allBound,
  'loss1e-3_mean_vs_noloss': mean(get(ours, 1e-3).map((x) => x.all)) / oursAll0,
  'loss1e-2_p99_vs_baseline': percentile(get(ours, 1e-2).map((x) => x.all), 99) / percentile(get(base, 1e-2).map((x) => x.all), 99),
  boot_mean_vs_dii_plus_airtime: oursBoot0 / (diiMs / 1000 + bootBound),
  'boot_loss1e-3_mean_vs_noloss': mean(get(ours, 1e-3).map((x) => x.boot)) / oursBoot0,
  'boot_loss1e-2_p99_vs_baseline': percentile(get(ours, 1e-2).map((x) => x.boot), 99) / percentile(get(base, 1e-2).map((x) => x.boot), 99),
};
table('ratios (ours; loss ratios use the whole app, boot_* the boot tier)', Object.entries(fields).map(([k, v]) => ({ metric: k, value: v })));
console.log(`\n(${((Date.now() - started) / 1000).toFixed(1)} s wall)`);
result('carousel', fields);
