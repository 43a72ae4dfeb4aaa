// `npm run bench -- catalog-sync [--versions N] [--kb K] [--syncs S] [--rounds R]`: what a node's
// catalog sync costs (headend/releases/catalog-sync.ts, issue 15.6), which every node runs every
// second. One app with N published versions of K KiB of modules each (one live, one rolling, the
// rest retired), on SQLite and on a throwaway redis-server when there is one. The sync reads the
// store's heads and a version's bytes once (new); the baseline is the same sync over a store whose
// heads are its full listing, bytes included, as every sync read before. Alternating rounds in one
// process; process CPU (and wall) per sync of an unchanged store, the steady state.

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

/** The baseline: a store whose heads come from its full listing, bytes included (every sync before). */
function listing(store: ReleaseStore): ReleaseStore {
  const heads = async (app?: string): Promise<ReleaseHead[]> => (await store.list(app)).map(({ app: a, version, state, publishedAt, rev }) => ({ app: a, version, state, publishedAt, rev }));
  return new Proxy(store, { get: (t, p) => (p === 'heads' ? heads : (Reflect.get(t, p, t) as unknown as (...a: unknown[]) => unknown).bind(t)) });
}

/** SYNCS syncs of an unchanged store: process CPU and wall, us per sync. */
async function round(sync: CatalogSync): Promise<{ cpu: number; wall: number }> {
  const t0 = cpuUs();
  const w0 = performance.now();
  for (let i = 0; i < SYNCS; i++) await sync.sync();
  return { cpu: (cpuUs() - t0) / SYNCS, wall: ((performance.now() - w0) * 1000) / SYNCS };
}

async function measure(store: ReleaseStore): Promise<{ old: { cpu: number; wall: number }; now: { cpu: number; wall: number }; fetched: number }> {
  await fill(store);
  const syncNew = new CatalogSync({ catalog: new AppCatalog(), store });
  const syncOld = new CatalogSync({ catalog: new AppCatalog(), store: listing(store) });
  await syncNew.sync();
  await syncOld.sync();
  const old: { cpu: number; wall: number }[] = [];
  const now: { cpu: number; wall: number }[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    // Alternate which goes first, so neither gains from running later.
    if (r % 2 === 0) {
      old.push(await round(syncOld));
      now.push(await round(syncNew));
    } else {
      now.push(await round(syncNew));
      old.push(await round(syncOld));
    }
  }
  const pick = (xs: { cpu: number; wall: number }[]) => ({ cpu: median(xs.map((x) => x.cpu)), wall: median(xs.map((x) => x.wall)) });
  return { old: pick(old), now: pick(now), fetched: syncNew.stats().fetched };
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
      rows.push({ store: side.name, 'old us CPU/sync': m.old.cpu, 'new us CPU/sync': m.now.cpu, 'CPU ratio': m.now.cpu / m.old.cpu, 'old us wall': m.old.wall, 'new us wall': m.now.wall, 'bytes read (versions)': m.fetched });
      Object.assign(fields, { [`${side.name}_cpu_us_per_sync_old`]: m.old.cpu, [`${side.name}_cpu_us_per_sync`]: m.now.cpu, [`${side.name}_cpu_ratio_vs_old`]: m.now.cpu / m.old.cpu, [`${side.name}_wall_us_per_sync`]: m.now.wall, [`${side.name}_wall_us_per_sync_old`]: m.old.wall });
    } finally {
      await store.close();
    }
  }
} finally {
  for (const s of sides) await s.close();
  rmSync(dir, { recursive: true, force: true });
}
if (program === undefined) Object.assign(fields, { redis_cpu_us_per_sync_old: null, redis_cpu_us_per_sync: null, redis_cpu_ratio_vs_old: null, redis_wall_us_per_sync: null, redis_wall_us_per_sync_old: null });
table(`catalog sync of an unchanged store, ${VERSIONS} versions of ${KB} KiB (median of ${ROUNDS} alternating rounds of ${SYNCS} syncs)`, rows);
result('catalog-sync', { versions: VERSIONS, kb: KB, syncs: SYNCS, rounds: ROUNDS, ...fields });
