// `npm run bench -- catalog-push [--commits N]`: how long a release change made through one node
// takes to reach another node's catalog (D103, issue 15 leftover). On a throwaway redis-server,
// node A commits (promote now, then rollback, alternating between two versions); node B syncs on
// the store's announcements (new); node C syncs only by the 1 s timer a head-end runs (the
// baseline: every node before D103). Wall time from the start of A's commit until each node's
// catalog replaces its current version (AppCatalog.onLiveChange). The next commit waits for both,
// then a pause that spreads the commits evenly over the timer's second (C learns of a commit just
// after a tick then, so commit i waits i/N of a second: its lag is the rest of that second).

import { setTimeout as pause } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { AppCatalog } from '../headend/app-catalog.ts';
import { CatalogSync } from '../headend/releases/catalog-sync.ts';
import { RedisReleaseStore } from '../headend/releases/release-store-redis.ts';
import { Releases } from '../headend/releases/index.ts';
import type { ReleaseStore } from '../headend/releases/store.ts';
import { guideApp, signer } from '../test/_helpers/box-app.ts';
import { which } from '../test/_helpers/env.ts';
import { startRedis } from '../test/_helpers/redis.ts';
import { percentile, result, table } from './_report.ts';

const { values } = parseArgs({ options: { commits: { type: 'string', default: '20' } } });
const COMMITS = Number(values.commits);
if (!Number.isInteger(COMMITS) || COMMITS < 2) throw new Error('--commits must be a whole number >= 2');
const program = which('redis-server');
if (program === undefined) throw new Error('catalog-push needs redis-server');

const keys = await signer();
const apps = [await guideApp(keys, { version: '1.0.0' }), await guideApp(keys, { version: '1.0.1' })];
const server = await startRedis(program);
const stores: ReleaseStore[] = [];
let timer: NodeJS.Timeout | undefined;
try {
  for (let i = 0; i < 3; i++) stores.push(await RedisReleaseStore.open(server.url, 'bench-push:'));
  const [sa, sb, sc] = stores as [ReleaseStore, ReleaseStore, ReleaseStore];
  const a = new Releases({ store: sa, trusted: () => keys.trusted, now: () => Date.now() });
  for (const p of apps) await a.publish({ manifestBytes: p.manifestBytes, signature: p.signature, sources: p.sources }, 'operator');
  await a.promote('guide', '1.0.0', { now: true });
  const b = { catalog: new AppCatalog(), ms: [] as number[] };
  const c = { catalog: new AppCatalog(), ms: [] as number[] };
  const bSync = new CatalogSync({ catalog: b.catalog, store: sb });
  const cSync = new CatalogSync({ catalog: c.catalog, store: sc });
  await bSync.sync();
  await cSync.sync();
  bSync.listen();
  timer = setInterval(() => void cSync.sync(), 1000); // as cli/headend.ts runs it
  const reached = (n: typeof b, t0: number): Promise<void> =>
    new Promise((resolve) => {
      const off = n.catalog.onLiveChange(() => {
        off();
        n.ms.push(performance.now() - t0);
        resolve();
      });
    });
  for (let i = 0; i < COMMITS; i++) {
    await pause((i * 1000) / COMMITS);
    const t0 = performance.now();
    const both = Promise.all([reached(b, t0), reached(c, t0)]);
    const out = i % 2 === 0 ? await a.promote('guide', '1.0.1', { now: true }) : await a.rollback('guide', '1.0.0');
    if (!out.ok) throw new Error(`commit ${i} failed: ${out.message}`);
    await both;
  }
  const row = (name: string, ms: number[]) => ({ node: name, 'p50 ms': percentile(ms, 50), 'p95 ms': percentile(ms, 95), 'max ms': Math.max(...ms) });
  table(`a commit through node A reaching another node's catalog, ${COMMITS} commits on one redis-server`, [row('announced (B)', b.ms), row('timer 1 s (C)', c.ms)]);
  const st = bSync.stats();
  result('catalog-push', { commits: COMMITS, announced_p50_ms: percentile(b.ms, 50), announced_p95_ms: percentile(b.ms, 95), announced_max_ms: Math.max(...b.ms), timer_p50_ms: percentile(c.ms, 50), timer_p95_ms: percentile(c.ms, 95), timer_max_ms: Math.max(...c.ms), p50_ratio: percentile(b.ms, 50) / percentile(c.ms, 50), announcements: st.announcements, announced_syncs: st.announcedSyncs, coalesced: st.coalesced });
} finally {
  clearInterval(timer);
  for (const s of stores) await s.close();
  await server.stop();
}
