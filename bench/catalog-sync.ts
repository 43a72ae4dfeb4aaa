// `npm run bench -- catalog-sync [--versions N] [--kb K] [--syncs S] [--rounds R]`: what a node's
// catalog sync costs (headend/releases/catalog-sync.ts, issue 15.6), which every node runs every
// second. One app with N published versions of K KiB of modules each (one live, one rolling, the
// rest retired), on SQLite and on a throwaway redis-server when there is one. The sync reads the
// store's change token, and its heads and a version's bytes once only when the token moved (new);
// the baselines are the same sync over a store whose token moves at every read, with its heads
// (wave 8's sync: heads every second) or with heads that are its full listing, bytes included (as
// every sync read before wave 8). Alternating rounds in one process; process CPU (and wall) per
// sync of an unchanged store, the steady state.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AppCatalog } from '../headend/app-catalog.ts';
import { CatalogSync } from '../headend/releases/catalog-sync.ts';
import { RedisReleaseStore } from '../headend/releases/release-store-redis.ts';
import { SqliteReleaseStore } from '../headend/releases/release-store-sqlite.ts';
import type { ReleaseHead, ReleaseStore } from '../headend/releases/store.ts';
import { signedApp, type ModuleSpec } from '../test/_helpers/apps.ts';
import { which } from '../test/_helpers/env.ts';
import { startRedis } from '../test/_helpers/redis.ts';
import { result, type Row, table } from './_report.ts';

const { values } = parseArgs({ options: { versions: { type: 'string', default: '20' }, kb: { type: 'string', default: '64' }, syncs: { type: 'string', default: '100' }, rounds: { type: 'string', default: '6' } } });
const VERSIONS = Number(values.versions);
const KB = Number(values.kb);
const SYNCS = Number(values.syncs);
const ROUNDS = Number(values.rounds);
for (const [k, v, min] of [['versions', VERSIONS, 2], ['kb', KB, 1], ['syncs', SYNCS, 10], ['rounds', ROUNDS, 2]] as const) {
  if (!Number.isInteger(v) || v < min) throw new Error(`--${k} must be a whole number >= ${min}`);
}

const cpuUs = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/** Publish N versions of a three-module app, K KiB of module source each version. */
async function fill(store: ReleaseStore): Promise<void> {
  const pad = (name: string, v: number): string => `weft.on('request', (b) => b); // ${name} ${v} ${'x'.repeat(Math.floor((KB * 1024) / 3))}`;
  let key;
  for (let v = 0; v < VERSIONS; v++) {
    const specs: ModuleSpec[] = ['ui', 'search', 'tally'].map((name) => ({ name, kind: name === 'ui' ? 'client' : 'server', source: pad(name, v) }));
    const app = await signedApp('guide', specs, `1.0.${v}`, key);
    key = app.key;
    const r = await store.publish({ app: 'guide', version: `1.0.${v}`, manifestBytes: app.pub.manifestBytes, signature: app.pub.signature, sources: app.pub.sources, publishedBy: 'operator', publishedAt: 1000 + v });
    if (!r.ok) throw new Error(`publish 1.0.${v}: ${r.reason}`);
    const state = v === VERSIONS - 1 ? 'rolling' : v === VERSIONS - 2 ? 'live' : 'retired';
    await store.update('guide', `1.0.${v}`, r.release.rev, { state });
  }
}

/** A baseline: a store whose change token moves at every read (every sync reads heads), and whose
 *  heads come from its full listing, bytes included, with `bytes` (every sync before wave 8). */
function baseline(store: ReleaseStore, bytes: boolean): ReleaseStore {
  let n = 0;
  const changes = async (): Promise<string> => `moved ${++n}`;
  const heads = async (app?: string): Promise<ReleaseHead[]> => (await store.list(app)).map(({ app: a, version, state, publishedAt, rev }) => ({ app: a, version, state, publishedAt, rev }));
  const own: Record<string, unknown> = bytes ? { changes, heads } : { changes };
  return new Proxy(store, { get: (t, p) => (typeof p === 'string' && p in own ? own[p] : (Reflect.get(t, p, t) as unknown as (...a: unknown[]) => unknown).bind(t)) });
}

/** SYNCS syncs of an unchanged store: process CPU and wall, us per sync. */
async function round(sync: CatalogSync): Promise<{ cpu: number; wall: number }> {
  const t0 = cpuUs();
  const w0 = performance.now();
  for (let i = 0; i < SYNCS; i++) await sync.sync();
  return { cpu: (cpuUs() - t0) / SYNCS, wall: ((performance.now() - w0) * 1000) / SYNCS };
}

type Cost = { cpu: number; wall: number };

async function measure(store: ReleaseStore): Promise<{ old: Cost; heads: Cost; now: Cost; fetched: number }> {
  await fill(store);
  const syncs = [new CatalogSync({ catalog: new AppCatalog(), store: baseline(store, true) }), new CatalogSync({ catalog: new AppCatalog(), store: baseline(store, false) }), new CatalogSync({ catalog: new AppCatalog(), store })];
  for (const s of syncs) await s.sync();
  const costs: Cost[][] = [[], [], []];
  for (let r = 0; r < ROUNDS; r++) {
    // Rotate which goes first, so none gains from running later.
    for (let k = 0; k < 3; k++) {
      const i = (r + k) % 3;
      costs[i]!.push(await round(syncs[i]!));
    }
  }
  const pick = (xs: Cost[]): Cost => ({ cpu: median(xs.map((x) => x.cpu)), wall: median(xs.map((x) => x.wall)) });
  return { old: pick(costs[0]!), heads: pick(costs[1]!), now: pick(costs[2]!), fetched: syncs[2]!.stats().fetched };
}

const dir = mkdtempSync(join(tmpdir(), 'weft-bench-catalog-'));
const sides: { name: string; open(): Promise<ReleaseStore>; close(): Promise<void> }[] = [];
sides.push({ name: 'sqlite', open: async () => new SqliteReleaseStore(join(dir, 'releases.db')), close: async () => {} });
const program = which('redis-server');
if (program !== undefined) {
  const server = await startRedis(program);
  sides.push({ name: 'redis', open: () => RedisReleaseStore.open(server.url, 'bench:'), close: () => server.stop() });
}
const rows: Row[] = [];
const fields: Record<string, number | null> = {};
try {
  for (const side of sides) {
    const store = await side.open();
    try {
      const m = await measure(store);
      rows.push({ store: side.name, 'listing us CPU/sync': m.old.cpu, 'heads us CPU/sync': m.heads.cpu, 'token us CPU/sync': m.now.cpu, 'ratio vs listing': m.now.cpu / m.old.cpu, 'ratio vs heads': m.now.cpu / m.heads.cpu, 'listing us wall': m.old.wall, 'heads us wall': m.heads.wall, 'token us wall': m.now.wall, 'bytes read (versions)': m.fetched });
      const n = side.name;
      Object.assign(fields, { [`${n}_cpu_us_per_sync_old`]: m.old.cpu, [`${n}_cpu_us_per_sync_heads`]: m.heads.cpu, [`${n}_cpu_us_per_sync`]: m.now.cpu, [`${n}_cpu_ratio_vs_old`]: m.now.cpu / m.old.cpu, [`${n}_cpu_ratio_vs_heads`]: m.now.cpu / m.heads.cpu, [`${n}_wall_us_per_sync`]: m.now.wall, [`${n}_wall_us_per_sync_heads`]: m.heads.wall, [`${n}_wall_us_per_sync_old`]: m.old.wall });
    } finally {
      await store.close();
    }
  }
} finally {
  for (const s of sides) await s.close();
  rmSync(dir, { recursive: true, force: true });
}
if (program === undefined) for (const k of ['cpu_us_per_sync_old', 'cpu_us_per_sync_heads', 'cpu_us_per_sync', 'cpu_ratio_vs_old', 'cpu_ratio_vs_heads', 'wall_us_per_sync', 'wall_us_per_sync_heads', 'wall_us_per_sync_old']) fields[`redis_${k}`] = null;
table(`catalog sync of an unchanged store, ${VERSIONS} versions of ${KB} KiB (median of ${ROUNDS} alternating rounds of ${SYNCS} syncs)`, rows);
result('catalog-sync', { versions: VERSIONS, kb: KB, syncs: SYNCS, rounds: ROUNDS, ...fields });
