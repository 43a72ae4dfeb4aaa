// bench/headend: session setups per second and their p99 latency for N emulated boxes against
// one embedded head-end (aedes, SQLite, one node), beside a baseline measured in the same run:
// a bare request/reply over the same broker (what a setup costs beyond the round trip). The
// boxes run in a child process (bench/_headend-boxes.ts).
// Usage: npm run bench -- headend [--boxes 50] [--sessions 1000] [--rate 500] [--warm 2] [--local-link 1] [--warmup 2000]
// (--warm: warm app sandboxes per build in each worker thread; 0 for the cold-start comparison;
// --local-link 0: the node is a TCP client of its own embedded broker, as before issue 19's fourth pass;
// --warmup: refused round trips, and a tenth as many setups, before the measured phases; 0 as before)
// setups_per_s is the closed-loop capacity; setup_p99_ms the p99 with setups arriving at --rate.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { startHeadend } from '../headend/main.ts';
import { percentile, result, table } from './_report.ts';
// @ts-expect-error build.mjs is plain JavaScript without types
import { build } from '../build.mjs';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? dflt : Number(process.argv[i + 1]);
};
const BOXES = arg('boxes', 50);
const SESSIONS = arg('sessions', 1000);
const RATE = arg('rate', 500);
const WARM = arg('warm', 2);
const LOCAL_LINK = arg('local-link', 1) !== 0;
const WARMUP = arg('warmup', 2000);


const dir = await mkdtemp(join(tmpdir(), 'weft-bench-headend-'));
await build({ out: join(dir, 'dist'), keys: join(dir, 'keys'), quiet: true, firmware: false });
const MASTER = 'bench-master-key-0123456789';
const h = await startHeadend({ registry: `sqlite:${join(dir, 'registry.db')}`, apps: join(dir, 'dist', 'apps'), keys: join(dir, 'keys'), masterKey: MASTER, spareThreads: 2, warmSandboxes: WARM, localLink: LOCAL_LINK, log: () => {},
  // Each emulated box opens many sessions (it stands in for many boxes): lift the per-box quota
  // (default 16) above what one box opens here, or the run ends with QUOTA.
  // The closed loops hand work to whichever box is free, so one box may open far more than its
  // share: the quota is lifted above every session the run opens.
  quotas: { sessionsPerBox: 2 * SESSIONS + BOXES } });
// The boxes run in a process of their own (bench/_headend-boxes.ts), as boxes would.
const child = spawn(process.execPath, ['--import', 'tsx', new URL('./_headend-boxes.ts', import.meta.url).pathname, '--url', h.brokerUrl, '--master', MASTER, '--modules', h.node.vaddr('modules'), '--boxes', String(BOXES), '--sessions', String(SESSIONS), '--rate', String(RATE), '--warmup', String(WARMUP)], { stdio: ['ignore', 'pipe', 'inherit'] });
let out = '';
// The head-end process's CPU (all its threads, the embedded broker included) at each phase mark.
const cpuAt = new Map<string, number>();
// Under `node --cpu-prof` the marks' monotonic time (us, the profiles' clock) goes to stderr, so
// scripts/cpu-profile.mjs can sum one phase: --from <capacity> --to <end>.
const profiled = process.execArgv.some((a) => a.startsWith('--cpu-prof'));
child.stdout.on('data', (d: Buffer) => {
  const now = process.cpuUsage();
  out += d.toString();
  for (const m of d.toString().matchAll(/^mark (\w+)$/gm)) {
    cpuAt.set(m[1] as string, (now.user + now.system) / 1000);
    if (profiled) console.error(`profile mark ${m[1] as string} ${process.hrtime.bigint() / 1000n}`);
  }
});
const code = await new Promise<number | null>((r) => child.once('exit', r));
if (code !== 0) throw new Error(`the box process failed (${String(code)})`);
const cpuMs = (from: string, to: string): number => (cpuAt.get(to) ?? NaN) - (cpuAt.get(from) ?? NaN);
const cpuPerSetup = cpuMs('capacity', 'end') / SESSIONS;
const cpuPerRoundtrip = cpuMs('baseline', 'capacity') / SESSIONS;
const { baseline, capacity: setups, offered } = JSON.parse(out.trim().split('\n').pop() as string) as Record<'baseline' | 'capacity' | 'offered', { perS: number; p50: number; p99: number }>;
const resolver = h.node.resolver;
const some = `weft://guide/${(await h.registry.listSessions({ app: 'guide' }))[0]?.id ?? 'x'}/epg`;
await resolver.resolve(some);
const lat: number[] = [];
for (let i = 0; i < 100_000; i++) {
  const s = performance.now();
  void resolver.resolve(some);
  lat.push(performance.now() - s);
}
table(`session setup, ${BOXES} boxes over MQTT, ${SESSIONS} sessions, one embedded node (threads: ${h.node.portions.threads})`, [
  { case: 'baseline: request/reply (module.get, refused)', 'per s': baseline.perS, 'p50 ms': baseline.p50, 'p99 ms': baseline.p99 },
  { case: 'session.open, closed loop (capacity)', 'per s': setups.perS, 'p50 ms': setups.p50, 'p99 ms': setups.p99 },
  { case: `session.open, open loop at ${RATE}/s offered`, 'per s': offered.perS, 'p50 ms': offered.p50, 'p99 ms': offered.p99 },
]);
const cachedP99us = percentile(lat, 99) * 1000;
console.log(`head-end CPU per setup ${cpuPerSetup.toFixed(3)} ms, per baseline round trip ${cpuPerRoundtrip.toFixed(3)} ms (process.cpuUsage, all threads)`);
console.log(`cached resolve p99 ${cachedP99us.toFixed(3)} us (timer resolution included); sessions live: ${h.node.sessions.count}`);
// Warm sandbox takes over the whole run, from the workers' last load reports (every 500 ms).
const warmOf = (k: 'warmHits' | 'warmMisses'): number => h.node.portions.threadStats().reduce((n, t) => n + (t.sandbox?.[k] ?? 0), 0);
// Registry writes per transaction over the whole run (the SQLite adapter batches a turn's writes).
const ws = 'writeStats' in h.registry ? (h.registry as { writeStats(): { writes: number; commits: number } }).writeStats() : undefined;
const threads = h.node.portions.threads;
const warmHits = warmOf('warmHits');
const warmMisses = warmOf('warmMisses');
console.log(`warm sandboxes: ${warmHits} hits, ${warmMisses} misses (all phases)`);
await h.close();
await rm(dir, { recursive: true, force: true });
result('headend', {
  setups_per_s: setups.perS,
  setup_p99_ms: offered.p99,
  offered_per_s: RATE,
  warm_per_build: WARM,
  local_link: LOCAL_LINK ? 1 : 0,
  warmup: WARMUP,
  warm_hits: warmHits,
  warm_misses: warmMisses,
  threads,
  registry_writes_per_commit: ws === undefined || ws.commits === 0 ? null : ws.writes / ws.commits,
  setups_vs_roundtrip: setups.perS / baseline.perS,
  cpu_ms_per_setup: cpuPerSetup,
  cpu_ms_per_roundtrip: cpuPerRoundtrip,
  resolve_cached_p99_us: cachedP99us,
});
