// `npm run bench -- checkpoint [--instances N] [--bytes B]`: what durable portion state costs
// [issue 13.2]. Per write: putCheckpoint of B bytes against the baseline of the registry write a
// node already does per portion (a location move), timed the same way in the same run, on SQLite
// (file, WAL) and on a throwaway redis-server. Per round: one Checkpointer round over N changed
// instances (snapshots from memory, so the figure is the checkpointer plus the registry).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ok, systemClock } from '../runtime/index.ts';
import type { Registry } from '../headend/registry/registry.ts';
import { RedisRegistry } from '../headend/registry/registry-redis.ts';
import { SqliteRegistry } from '../headend/registry/registry-sqlite.ts';
import { Checkpointer } from '../headend/portions/checkpoint.ts';
import { which } from '../test/_helpers/env.ts';
import { startRedis } from '../test/_helpers/redis.ts';
import { percentile, result, type Row, table } from './_report.ts';

const { values } = parseArgs({ options: { instances: { type: 'string', default: '1000' }, bytes: { type: 'string', default: '1024' }, samples: { type: 'string', default: '5000' } } });
const INSTANCES = Number(values.instances);
const BYTES = Number(values.bytes);
const SAMPLES = Number(values.samples);
const vaddr = (i: number): string => `weft://tally/s-${i.toString(16).padStart(5, '0')}/counter`;
const now = (): bigint => process.hrtime.bigint();

interface Stat {
  p50: number;
  p99: number;
}

async function timed(samples: number, fn: (i: number) => Promise<unknown>): Promise<Stat> {
  const us: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t0 = now();
    await fn(i);
    us.push(Number(now() - t0) / 1000);
  }
  return { p50: percentile(us, 50), p99: percentile(us, 99) };
}

/** Baseline (a location move) and checkpoint writes, alternating in rounds so neither runs later. */
async function writes(reg: Registry): Promise<{ move: Stat; put: Stat }> {
  const n = Math.min(SAMPLES, INSTANCES);
  for (let i = 0; i < n; i++) await reg.bind(vaddr(i), { node: 'n1', queue: `p${i}.n1` });
  const epochs = new Array<number>(n).fill(1);
  const seqs = new Array<number>(n).fill(0);
  const state = new Uint8Array(BYTES).fill(7);
  const move = async (i: number): Promise<void> => {
    const k = i % n;
    const r = await reg.move(vaddr(k), { node: 'n1', queue: `p${k}.n1` }, epochs[k] as number);
    if (!r.ok) throw new Error('move refused');
    epochs[k] = r.value.epoch;
  };
  const put = async (i: number): Promise<void> => {
    const k = i % n;
    seqs[k] = (seqs[k] as number) + 1;
    const r = await reg.putCheckpoint({ vaddr: vaddr(k), node: 'n1', epoch: epochs[k] as number, seq: seqs[k] as number, state });
    if (!r.ok) throw new Error('checkpoint refused');
  };
  const m: Stat[] = [];
  const p: Stat[] = [];
  for (let r = 0; r < 4; r++) {
    m.push(await timed(SAMPLES / 4, move));
    p.push(await timed(SAMPLES / 4, put));
  }
  const med = (xs: Stat[], k: keyof Stat): number => percentile(xs.map((x) => x[k]), 50);
  return { move: { p50: med(m, 'p50'), p99: med(m, 'p99') }, put: { p50: med(p, 'p50'), p99: med(p, 'p99') } };
}

/** One checkpointer round over INSTANCES changed instances, ms. */
async function round(reg: Registry): Promise<number> {
  for (let i = 0; i < INSTANCES; i++) if ((await reg.lookup(vaddr(i))) === undefined) await reg.bind(vaddr(i), { node: 'n1', queue: `p${i}.n1` });
  const owners = new Map<string, number>();
  for (let i = 0; i < INSTANCES; i++) owners.set(`p${i}.n1`, i);
  let fill = 1;
  const cp = new Checkpointer(
    {
      id: 'n1',
      clock: systemClock,
      registry: reg,
      spec: (iid) => (owners.has(iid) ? { app: 'tally', session: `s-${(owners.get(iid) as number).toString(16).padStart(5, '0')}`, modules: ['counter'] } : undefined),
      snapshot: () => Promise.resolve(ok({ states: { counter: new Uint8Array(BYTES).fill(fill) }, queued: 0 })),
      durability: () => 'interval',
      log: () => {},
    },
    { checkpointMs: 3_600_000, budgetBytesPerSec: 1 << 30, maxCheckpointBytes: Math.max(BYTES, 1) },
  );
  const pass = async (): Promise<number> => {
    fill++;
    for (const iid of owners.keys()) cp.delivered(iid);
    const t0 = now();
    await cp.flush();
    return Number(now() - t0) / 1e6;
  };
  await pass(); // the first round also learns ownership (two reads per vaddr)
  const ms = await pass();
  await cp.close();
  if (cp.stats().written !== 2 * INSTANCES) throw new Error(`wrote ${cp.stats().written} of ${2 * INSTANCES}`);
  return ms;
}

const rows: Row[] = [];
const out: Record<string, number | null> = {};
const dir = mkdtempSync(join(tmpdir(), 'weft-bench-checkpoint-'));
try {
  const sqlite = new SqliteRegistry({ path: join(dir, 'registry.db') });
  const s = await writes(sqlite);
  rows.push({ store: 'SQLite (WAL)', 'move p50 (baseline)': s.move.p50, 'move p99': s.move.p99, 'checkpoint p50': s.put.p50, 'checkpoint p99': s.put.p99, 'p50 ratio': s.put.p50 / s.move.p50 });
  Object.assign(out, { sqlite_move_p50_us: s.move.p50, sqlite_put_p50_us: s.put.p50, sqlite_put_p99_us: s.put.p99, sqlite_ratio: s.put.p50 / s.move.p50 });
  out.sqlite_round_ms = await round(sqlite);
  await sqlite.close();
  const program = which('redis-server');
  if (program === undefined) {
    console.log('redis-server is not installed: the Redis row is skipped');
    Object.assign(out, { redis_put_p50_us: null, redis_ratio: null, redis_round_ms: null });
  } else {
    const server = await startRedis(program);
    const redis = await RedisRegistry.open({ url: server.url });
    try {
      const r = await writes(redis);
      rows.push({ store: 'Redis (loopback)', 'move p50 (baseline)': r.move.p50, 'move p99': r.move.p99, 'checkpoint p50': r.put.p50, 'checkpoint p99': r.put.p99, 'p50 ratio': r.put.p50 / r.move.p50 });
      Object.assign(out, { redis_put_p50_us: r.put.p50, redis_put_p99_us: r.put.p99, redis_ratio: r.put.p50 / r.move.p50 });
      out.redis_round_ms = await round(redis);
    } finally {
      await redis.close();
      await server.stop();
    }
  }
  table(`checkpoint write of ${BYTES} bytes vs a location move, us (each write timed alone)`, rows);
  console.log(`one round over ${INSTANCES} changed instances: SQLite ${out.sqlite_round_ms?.toFixed(1)} ms, Redis ${out.redis_round_ms?.toFixed(1) ?? '-'} ms`);
  result('checkpoint', { bytes: BYTES, instances: INSTANCES, ...out });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
