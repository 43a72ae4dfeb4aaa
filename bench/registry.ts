// `npm run bench -- registry [--keys N] [--claims N]`: virtual-address resolve latency [c12, c32].
// Cached (RegistryResolver hit) against a plain Map lookup baseline timed the same way in the same
// run; uncached (registry lookup through the resolver) on SQLite, on a throwaway redis-server and
// on a throwaway Redis Cluster (three masters, a replica each); and claims (binds of new vaddrs,
// 32 in flight) per second with their p99 on one Redis beside the cluster, with and without WAIT.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Registry } from '../headend/registry/registry.ts';
import { RedisRegistry } from '../headend/registry/registry-redis.ts';
import { SqliteRegistry } from '../headend/registry/registry-sqlite.ts';
import { RegistryResolver } from '../headend/registry/resolver.ts';
import type { Address } from '../runtime/index.ts';
import { which } from '../test/_helpers/env.ts';
import { startRedis } from '../test/_helpers/redis.ts';
import { startRedisCluster } from '../test/_helpers/redis-cluster.ts';
import { RedisClusterRegistry } from '../headend/registry/registry-redis-cluster.ts';
import { percentile, result, type Row, table } from './_report.ts';

const { values } = parseArgs({ options: { keys: { type: 'string', default: '10000' }, claims: { type: 'string', default: '20000' } } });
const KEYS = Number(values.keys);
const CLAIMS = Number(values.claims);
const CLAIM_LANES = 32;
if (!Number.isInteger(KEYS) || KEYS < 100 || !Number.isInteger(CLAIMS) || CLAIMS < 100) throw new Error('--keys and --claims must be whole numbers >= 100');
const CACHED_SAMPLES = 300_000;
const SQLITE_SAMPLES = 30_000;
const REDIS_SAMPLES = 10_000;

const vaddrs = Array.from({ length: KEYS }, (_, i) => `weft://guide/s-${i.toString(16).padStart(5, '0')}/search`);
// Lookups use equal but distinct string objects, as a decoded envelope would carry.
const probes = vaddrs.map((v) => [...v].join(''));
const now = (): bigint => process.hrtime.bigint();

interface Stat {
  p50: number;
  p99: number;
  mean: number;
}

function stat(ns: number[]): Stat {
  return { p50: percentile(ns, 50) / 1000, p99: percentile(ns, 99) / 1000, mean: ns.reduce((a, b) => a + b, 0) / ns.length / 1000 };
}

/** Alternate rounds of `a` and `b` so neither gains from running later (JIT, GC state). */
function interleaved(samples: number, rounds: number, a: (i: number) => unknown, b: (i: number) => unknown): [Stat, Stat] {
  const sa: number[] = [];
  const sb: number[] = [];
  for (let r = 0; r < rounds; r++) {
    sa.push(...sampleSync(samples / rounds, a));
    sb.push(...sampleSync(samples / rounds, b));
  }
  return [stat(sa), stat(sb)];
}

/** Time each call on its own (the timer pair is included: an upper bound). */
function sampleSync(samples: number, fn: (i: number) => unknown): number[] {
  const ns: number[] = new Array(samples);
  let sink = 0;
  for (let i = 0; i < 20_000; i++) if (fn(i % KEYS) !== undefined) sink++; // warm up the JIT
  for (let i = 0; i < samples; i++) {
    const k = (i * 7919) % KEYS;
    const t0 = now();
    const out = fn(k);
    ns[i] = Number(now() - t0);
    if (out !== undefined) sink++;
  }
  if (sink === 0) throw new Error('nothing resolved');
  return ns;
}

async function timeAsync(samples: number, fn: (i: number) => Promise<unknown> | unknown): Promise<Stat> {
  const ns: number[] = new Array(samples);
  for (let i = 0; i < Math.min(2000, samples); i++) await fn(i % KEYS);
  for (let i = 0; i < samples; i++) {
    const k = (i * 7919) % KEYS;
    const t0 = now();
    const out = await fn(k);
    ns[i] = Number(now() - t0);
    if (out === undefined) throw new Error(`${probes[k]} did not resolve`);
  }
  return stat(ns);
}

async function fill(reg: Registry): Promise<void> {
  for (const [i, v] of vaddrs.entries()) {
    const out = await reg.bind(v, { node: i % 2 === 0 ? 'node-a' : 'node-b', queue: `q.${i}`, udp: { host: '127.0.0.1', port: 20_000 + (i % 1000) } });
    if (!out.ok) throw new Error(`bind ${v}: ${out.error.reason}`);
  }
}

/** Every call misses: drop the entry first, then resolve through the registry. */
function uncached(resolver: RegistryResolver): (k: number) => Promise<unknown> | unknown {
  return (k) => {
    const v = probes[k] as string;
    resolver.invalidate(v);
    return resolver.resolve(v);
  };
}

const rows: Row[] = [];
const claimRows: Row[] = [];
const dir = mkdtempSync(join(tmpdir(), 'weft-bench-registry-'));
const sqlite = new SqliteRegistry({ path: join(dir, 'registry.db') });
try {
  await fill(sqlite);
  const resolver = new RegistryResolver({ registry: sqlite, self: 'node-a', maxEntries: KEYS * 2 });
  // Cache keys are the strings of the first lookups; later lookups bring equal, distinct strings.
  for (const v of vaddrs) await resolver.resolve(v);

  // Baseline: a plain Map holding the same addresses, timed the same way.
  const map = new Map<string, Address>(vaddrs.map((v, i) => [v, { queue: `q.${i}` }]));
  const [base, cached] = interleaved(
    CACHED_SAMPLES,
    6,
    (k) => map.get(probes[k] as string),
    (k) => resolver.resolve(probes[k] as string),
  );
  const awaited = await timeAsync(CACHED_SAMPLES / 3, (k) => resolver.resolve(probes[k] as string));
  const lite = await timeAsync(SQLITE_SAMPLES, uncached(resolver));
  rows.push(row('Map.get (baseline)', base, base));
  rows.push(row('resolve, cached (sync hit)', cached, base));
  rows.push(row('await resolve, cached', awaited, base));
  rows.push(row('resolve, uncached: SQLite', lite, base));
  resolver.close();

  const remote: Record<string, number | string> = {};
  const program = which('redis-server');
  const cli = which('redis-cli');
  if (program === undefined) {
    console.log('redis-server is not installed: the Redis rows are skipped');
  } else {
    const server = await startRedis(program);
    try {
      const reg = await RedisRegistry.open({ url: server.url });
      await measureRemote('Redis', 'redis', reg, base, remote);
    } finally {
      await server.stop();
    }
    if (cli === undefined) console.log('redis-cli is not installed: the Redis Cluster rows are skipped');
    else {
      const cluster = await startRedisCluster(program, cli);
      try {
        await measureRemote('Redis Cluster, WAIT 1', 'cluster', await RedisClusterRegistry.open({ url: cluster.url, prefix: 'w1:' }), base, remote);
        await measureRemote('Redis Cluster, no WAIT', 'cluster_nowait', await RedisClusterRegistry.open({ url: cluster.url, prefix: 'w0:', waitReplicas: 0 }), base, remote, false);
      } finally {
        await cluster.stop();
      }
    }
  }

  table(`registry resolve latency, ${KEYS} vaddrs (us; each call timed alone, timer included)`, rows);
  table(`claims: ${CLAIMS} binds of new vaddrs, ${CLAIM_LANES} in flight`, claimRows);
  console.log(`goal: cached p99 <= 1 us -> ${cached.p99 <= 1 ? 'met' : 'NOT met'} (${cached.p99.toFixed(3)} us)`);
  result('registry', {
    resolve_cached_p99_us: cached.p99,
    resolve_uncached_sqlite_p99_us: lite.p99,
    resolve_uncached_redis_p99_us: remote.redis_resolve_p99_us ?? 'skipped',
    resolve_uncached_cluster_p99_us: remote.cluster_resolve_p99_us ?? 'skipped',
    claims_per_s_redis: remote.redis_claims_per_s ?? 'skipped',
    claim_p99_ms_redis: remote.redis_claim_p99_ms ?? 'skipped',
    claims_per_s_cluster: remote.cluster_claims_per_s ?? 'skipped',
    claim_p99_ms_cluster: remote.cluster_claim_p99_ms ?? 'skipped',
    claims_per_s_cluster_nowait: remote.cluster_nowait_claims_per_s ?? 'skipped',
    claim_p99_ms_cluster_nowait: remote.cluster_nowait_claim_p99_ms ?? 'skipped',
    cluster_vs_redis_claims_per_s: typeof remote.cluster_claims_per_s === 'number' && typeof remote.redis_claims_per_s === 'number' ? remote.cluster_claims_per_s / remote.redis_claims_per_s : 'skipped',
    map_p99_us: base.p99,
    cached_vs_map_p99: cached.p99 / base.p99,
  });
} finally {
  await sqlite.close();
  rmSync(dir, { recursive: true, force: true });
}

function row(name: string, s: Stat, base: Stat): Row {
  return { case: name, p50_us: s.p50, p99_us: s.p99, mean_us: s.mean, p99_vs_map: s.p99 / base.p99 };
}

/** Uncached resolves and a claim storm on a registry over the network; closes it. */
async function measureRemote(name: string, key: string, reg: Registry, base: Stat, out: Record<string, number | string>, resolve = true): Promise<void> {
  try {
    if (resolve) {
      await fill(reg);
      const rr = new RegistryResolver({ registry: reg, self: 'node-a', maxEntries: KEYS * 2 });
      const s = await timeAsync(REDIS_SAMPLES, uncached(rr));
      rows.push(row(`resolve, uncached: ${name} (loopback)`, s, base));
      out[`${key}_resolve_p99_us`] = s.p99;
      rr.close();
    }
    const c = await claimStorm(reg, key);
    claimRows.push({ registry: name, claims_per_s: c.perSec, p50_ms: c.p50, p99_ms: c.p99 });
    out[`${key}_claims_per_s`] = c.perSec;
    out[`${key}_claim_p99_ms`] = c.p99;
  } finally {
    await reg.close();
  }
}

/** CLAIMS binds of new vaddrs (one per session, so they spread over shards), CLAIM_LANES in flight. */
async function claimStorm(reg: Registry, tag: string): Promise<{ perSec: number; p50: number; p99: number }> {
  const ns: number[] = [];
  const t0 = now();
  await Promise.all(Array.from({ length: CLAIM_LANES }, async (_, lane) => {
    for (let i = lane; i < CLAIMS; i += CLAIM_LANES) {
      const s = now();
      const got = await reg.bind(`weft://bench/${tag}-${i}/main`, { node: 'node-a', queue: `q.${i}` });
      ns.push(Number(now() - s));
      if (!got.ok) throw new Error(`claim ${i} refused: ${got.error.reason}`);
    }
  }));
  const secs = Number(now() - t0) / 1e9;
  return { perSec: CLAIMS / secs, p50: percentile(ns, 50) / 1e6, p99: percentile(ns, 99) / 1e6 };
}
