// `npm run bench -- balance [--quick] [--plots]`: elasticity [c13-c16, c20-c30].
// (a) simulator: Weft's policy against P2C (the baseline), JSQ, least-connections, round-robin
//     and random on one trace at load 0.9 with realistic staleness; the herd test with 10 s stale
//     reports against random; the simulator's own runtime for a million boxes over a compressed day.
// (b) live, on real head-end nodes (worker threads, UDP, registry): react_ms after a 4x step in
//     critical-section time against hill climbing and fixed pools; spawn_remote_vs_local.
//     `--live` runs only (b) and (c) (the simulator's figures are then null).
// (c) live placement against the simulator, the multi-process part: three node processes on one
//     MQTT broker and one SQLite registry file, every session.open entering at one of them, 300
//     sessions: live_spread, live_vs_sim_decisions, live_vs_sim_counts (_balance-placement.ts).
//     `--placement` runs only (c).

import { parseArgs } from 'node:util';
import type { PolicyKind } from '../policy/index.ts';
import { comparePolicies, runPlant, scenario, type RunResult, type Scenario } from '../sim/index.ts';
import { result, table } from './_report.ts';
import { dayScenario, writePlots } from './_balance-plots.ts';
import { runLive } from './_balance-live.ts';
import { runPlacement } from './_balance-placement.ts';

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, plots: { type: 'boolean', default: false }, live: { type: 'boolean', default: false }, placement: { type: 'boolean', default: false } } });
const quick = values.quick === true;
const liveOnly = values.live === true;
const placementOnly = values.placement === true;
const KINDS: PolicyKind[] = ['weft', 'p2c', 'jsq', 'least-connections', 'round-robin', 'random'];

// Realistic staleness: every node reports each second and a balancer sees it 200-300 ms later;
// four balancers (one per head-end node) place independently.
const measureMs = quick ? 120_000 : 300_000;
const base: Partial<Scenario> = { load: 0.9, warmupMs: 180_000, durationMs: 180_000 + measureMs, replicas: {} };
const fresh = scenario({ ...base, reports: { intervalMs: 1000, delayMs: 200, jitterMs: 100 } });
const stale = scenario({ ...base, reports: { intervalMs: 10_000, delayMs: 200, jitterMs: 100 } });

function rows(results: readonly RunResult[], baseline: RunResult, baseName: string) {
  return results.map((r) => ({
    policy: r.policy,
    'mean ms': r.meanMs,
    'p99 ms': r.p99Ms,
    'p99.9 ms': r.p999Ms,
    [`mean x ${baseName}`]: r.meanMs / baseline.meanMs,
    [`p99 x ${baseName}`]: r.p99Ms / baseline.p99Ms,
    'sim s': r.wallMs / 1000,
  }));
}

function partA(): { p99: number; mean: number; stale: number } {
  console.log(`(a) simulator: ${fresh.servers.length} servers (4/8/16 workers), ${fresh.boxes.toLocaleString('en-US')} boxes, load ${fresh.load}, ${fresh.balancers} balancers, ${measureMs / 1000} s measured after ${fresh.warmupMs / 1000} s warm-up`);
  const a1 = comparePolicies(fresh, KINDS, 'p2c');
  const p2c = a1.results[KINDS.indexOf('p2c')] as RunResult;
  const weft = a1.results[0] as RunResult;
  const weftNoReplicas = runPlant(fresh, 'weft', { replicas: false });
  table('reports every 1 s, seen 200-300 ms late: sojourn per policy, ratios to P2C', rows([...a1.results, { ...weftNoReplicas, policy: 'weft (no replicas)' }], p2c, 'P2C'));

  const herdKinds: PolicyKind[] = ['weft', 'random', 'p2c', 'jsq'];
  const a2 = comparePolicies(stale, herdKinds, 'random');
  const random = a2.results[1] as RunResult;
  const weftStale = a2.results[0] as RunResult;
  table('herd test, reports every 10 s: sojourn per policy, ratios to random', rows(a2.results, random, 'random'));

  // The simulator's own speed: a million boxes over a compressed day with a failure and a flash crowd.
  const day = dayScenario(quick ? 300_000 : 600_000);
  const dayRun = runPlant(day, 'weft');
  table('simulator runtime, 1,000,000 boxes, compressed day (failure, flash crowd)', [{
    'sim day s': day.durationMs / 1000, sessions: dayRun.sessions, requests: dayRun.requests, events: dayRun.events,
    'wall s': dayRun.wallMs / 1000, 'events/s': dayRun.events / (dayRun.wallMs / 1000), 'p99 ms': dayRun.p99Ms,
  }]);

  if (values.plots === true) {
    const files = writePlots({ steady: a1.results, stale: a2.results, day, dayWeft: dayRun, quick });
    console.log(`\nplots: ${files.join(', ')}`);
  }
  return { p99: weft.p99Ms / p2c.p99Ms, mean: weft.meanMs / p2c.meanMs, stale: weftStale.p99Ms / random.p99Ms };
}

const sim = liveOnly || placementOnly ? undefined : partA();
const live = placementOnly ? undefined : await runLive(quick, values.plots === true);
if (live !== undefined && live.files.length > 0) console.log(`\nplots: ${live.files.join(', ')}`);
const placed = await runPlacement(300);
table('(c) live placement, three node processes (one MQTT broker, one SQLite registry file): 300 sessions entering at n1, sessions hosted per node', [
  { run: 'live (node reports)', ...placed.hosted },
  { run: 'live (open replies)', ...placed.replied },
  { run: 'simulator, same trace', ...placed.sim },
]);
console.log(`decisions recorded at n1: ${placed.decisions}, elsewhere: ${placed.elsewhere}; differing from the simulator's policy: ${placed.differing.length}; whose view put a node off its hosted count: ${placed.viewOff}`);

result('balance', {
  p99_vs_p2c: sim?.p99 ?? null,
  mean_vs_p2c: sim?.mean ?? null,
  stale_p99_vs_random: sim?.stale ?? null,
  react_ms: live?.reactMs ?? null,
  spawn_remote_vs_local: live?.spawnRemoteVsLocal ?? null,
  live_spread: placed.liveSpread,
  live_vs_sim_decisions: placed.liveVsSimDecisions,
  live_vs_sim_counts: placed.liveVsSimCounts,
});
