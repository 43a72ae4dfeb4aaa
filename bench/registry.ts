// `npm run bench -- registry [--keys N]`: virtual-address resolve latency [c12, c32]. Cached
// (RegistryResolver hit) against a plain Map lookup baseline timed the same way in the same run;
// uncached (registry lookup through the resolver) on SQLite and on a throwaway redis-server.

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
import { percentile, result, type Row, table } from './_report.ts';

const { values } = parseArgs({ options: { keys: { type: 'string', default: '10000' } } });
const KEYS = Number(values.keys);
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

  let redis: Stat | undefined;
  const program = which('redis-server');
  if (program === undefined) {
    console.log('redis-server is not installed: the Redis row is skipped');
  } else {
    const server = await startRedis(program);
    const reg = await RedisRegistry.open({ url: server.url });
    try {
      await fill(reg);
      const rr = new RegistryResolver({ registry: reg, self: 'node-a', maxEntries: KEYS * 2 });
      redis = await timeAsync(REDIS_SAMPLES, uncached(rr));
      rows.push(row('resolve, uncached: Redis (loopback)', redis, base));
      rr.close();
    } finally {
      await reg.close();
      await server.stop();
    }
  }

  table(`registry resolve latency, ${KEYS} vaddrs (us; each call timed alone, timer included)`, rows);
  console.log(`goal: cached p99 <= 1 us -> ${cached.p99 <= 1 ? 'met' : 'NOT met'} (${cached.p99.toFixed(3)} us)`);
  result('registry', {
    resolve_cached_p99_us: cached.p99,
    resolve_uncached_sqlite_p99_us: lite.p99,
    resolve_uncached_redis_p99_us: redis?.p99 ?? 'skipped',
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
