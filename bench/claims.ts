// `npm run bench -- claims [--claims N] [--rounds R]`: what holding a node's portion claims costs
// (headend/portions/portion-claims.ts, issue 19.7). A setup's claim and a session end's unbind
// through PortionClaims (the node's ClaimKeeper holds the record) beside the same calls on the
// bare registry, alternating rounds in one process, on SQLite (batched commits, as the node runs
// it), on a throwaway redis-server when there is one, and on a stub that answers at once (the
// keeper's own cost, without a registry's noise). Process CPU per claim + unbind, and the
// keeper's reads during the run (it reads only on another writer's change or a reset: 0 here).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ClaimWrites } from '../headend/portions/portion-claims.ts';
import { PortionClaims } from '../headend/portions/portion-claims.ts';
import type { ChangeListener, Location, Registry } from '../headend/registry/registry.ts';
import { RedisRegistry } from '../headend/registry/registry-redis.ts';
import { SqliteRegistry } from '../headend/registry/registry-sqlite.ts';
import { which } from '../test/_helpers/env.ts';
import { startRedis } from '../test/_helpers/redis.ts';
import { result, type Row, table } from './_report.ts';

const { values } = parseArgs({ options: { claims: { type: 'string', default: '4000' }, rounds: { type: 'string', default: '6' } } });
const CLAIMS = Number(values.claims);
const ROUNDS = Number(values.rounds);
if (!Number.isInteger(CLAIMS) || CLAIMS < 100 || !Number.isInteger(ROUNDS) || ROUNDS < 2) throw new Error('--claims must be a whole number >= 100, --rounds >= 2');
/** Claims in flight, as concurrent setups on a node. */
const LANES = 32;

const cpuUs = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

/** `CLAIMS` binds of fresh vaddrs (32 in flight), then their unbinds: process CPU us per pair. */
async function round(w: ClaimWrites, tag: string): Promise<number> {
  const vaddrs = Array.from({ length: CLAIMS }, (_, i) => `weft://guide/${tag}-${i}/search`);
  const t0 = cpuUs();
  const epochs = new Map<string, number>();
  await Promise.all(Array.from({ length: LANES }, async (_, lane) => {
    for (let i = lane; i < CLAIMS; i += LANES) {
      const v = vaddrs[i] as string;
      const r = await w.bind(v, { node: 'node-a', queue: `p${i}.node-a`, udp: { host: '127.0.0.1', port: 20_000 } });
      if (!r.ok) throw new Error(`bind ${v}: ${r.error.reason}`);
      epochs.set(v, r.value.epoch);
    }
  }));
  await Promise.all(Array.from({ length: LANES }, async (_, lane) => {
    for (let i = lane; i < CLAIMS; i += LANES) await w.unbind(vaddrs[i] as string, epochs.get(vaddrs[i] as string));
  }));
  return (cpuUs() - t0) / CLAIMS;
}

interface Side {
  name: string;
  registry: Registry;
  close(): Promise<void>;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function measure(side: Side): Promise<{ raw: number; held: number; reads: number }> {
  const claims = new PortionClaims({ registry: side.registry, stopLost: () => Promise.resolve(false), log: () => {} });
  const raw: number[] = [];
  const held: number[] = [];
  try {
    await round(side.registry, 'warm-a');
    await round(claims, 'warm-b');
    for (let r = 0; r < ROUNDS; r++) {
      // Alternate which goes first, so neither gains from running later.
      if (r % 2 === 0) {
        raw.push(await round(side.registry, `raw${r}`));
        held.push(await round(claims, `held${r}`));
      } else {
        held.push(await round(claims, `held${r}`));
        raw.push(await round(side.registry, `raw${r}`));
      }
    }
    if (claims.keeper.held().length !== 0) throw new Error('claims still held after their unbinds');
    return { raw: median(raw), held: median(held), reads: claims.stats.checked };
  } finally {
    claims.close();
  }
}

/** A registry of one map that answers at once and tells its watchers, as the real ones do. */
function stubRegistry(): Registry {
  const records = new Map<string, Location & { vaddr: string; epoch: number; updatedAt: number }>();
  const listeners = new Set<ChangeListener>();
  const tell = (vaddr: string, deleted: boolean): void => {
    for (const l of listeners) l({ kind: 'location', vaddr, epoch: 1, deleted });
  };
  const stub: Partial<Registry> = {
    bind(vaddr, loc) {
      const cur = records.get(vaddr);
      if (cur !== undefined) return Promise.resolve({ ok: false, error: { reason: 'exists', current: cur } });
      const rec = { ...loc, vaddr, epoch: 1, updatedAt: 0 };
      records.set(vaddr, rec);
      tell(vaddr, false);
      return Promise.resolve({ ok: true, value: rec });
    },
    unbind(vaddr) {
      const cur = records.get(vaddr);
      if (cur === undefined) return Promise.resolve({ ok: false, error: { reason: 'missing' } });
      records.delete(vaddr);
      tell(vaddr, true);
      return Promise.resolve({ ok: true, value: cur });
    },
    lookup: (vaddr) => Promise.resolve(records.get(vaddr)),
    watch(l) {
      listeners.add(l);
      return () => void listeners.delete(l);
    },
    close: () => Promise.resolve(),
  };
  return stub as Registry;
}

const dir = mkdtempSync(join(tmpdir(), 'weft-bench-claims-'));
const sides: Side[] = [];
const stub = stubRegistry();
sides.push({ name: 'stub', registry: stub, close: () => stub.close() });
const sqlite = new SqliteRegistry({ path: join(dir, 'registry.db') });
sides.push({ name: 'sqlite', registry: sqlite, close: () => sqlite.close() });
const program = which('redis-server');
if (program !== undefined) {
  const server = await startRedis(program);
  const redis = await RedisRegistry.open({ url: server.url, prefix: 'bench:' });
  sides.push({ name: 'redis', registry: redis, close: async () => (await redis.close(), await server.stop()) });
}
const rows: Row[] = [];
const fields: Record<string, number | null> = {};
try {
  for (const side of sides) {
    const m = await measure(side);
    rows.push({ registry: side.name, 'bare us/claim': m.raw, 'held us/claim': m.held, ratio: m.held / m.raw, 'keeper reads': m.reads });
    fields[`${side.name}_us_per_claim`] = m.held;
    fields[`${side.name}_us_per_claim_bare`] = m.raw;
    fields[`${side.name}_ratio_vs_bare`] = m.held / m.raw;
    fields[`${side.name}_keeper_reads`] = m.reads;
  }
} finally {
  for (const s of sides) await s.close();
  rmSync(dir, { recursive: true, force: true });
}
if (program === undefined) Object.assign(fields, { redis_us_per_claim: null, redis_us_per_claim_bare: null, redis_ratio_vs_bare: null, redis_keeper_reads: null });
table(`claim + unbind, process CPU per pair (median of ${ROUNDS} alternating rounds of ${CLAIMS}, ${LANES} in flight)`, rows);
result('claims', { claims: CLAIMS, rounds: ROUNDS, ...fields });
