// Wires the rollout loop into a running head-end (issue 15): box reports feed the tally, every
// state change of a version puts the new plan on the app's carousel, and the plan found in the
// release store goes on air at once (a restarted head-end resumes mid-rollout). The caller owns
// the timer that calls `tick` (cli/headend.ts) and the operator key that signs.
import { importSigningKey, signManifest } from '../../runtime/app/index.ts';
import type { ResourceReport } from '../../runtime/index.ts';
import type { Releases } from './releases.ts';
import type { DirectiveSigner } from './rollout-carousel.ts';
import { RolloutDriver, type CarouselSink } from './rollout-driver.ts';
import { RolloutTally } from './rollout-tally.ts';
import type { ReleaseStore } from './store.ts';
import type { AppCatalog } from '../app-catalog.ts';
import { CatalogSync } from './catalog-sync.ts';
import { CatalogFill } from './catalog-fill.ts';

export interface RolloutLoop {
  driver: RolloutDriver;
  tally: RolloutTally;
  /** Keeps the node's catalog serving live and the candidate beside it (when given a catalog). */
  sync?: CatalogSync;
  /** Syncs at once for a session pinned to a version the catalog does not know yet (with a catalog). */
  fill?: CatalogFill;
}

export async function startRollout(o: {
  releases: Releases;
  store: ReleaseStore;
  carousels: ReadonlyMap<string, CarouselSink>;
  /** Where box reports arrive (SessionManager.onReport). */
  reports: { onReport: (r: ResourceReport) => void };
  sign?: DirectiveSigner;
  now: () => number;
  log?: (line: string) => void;
  maxBoxes?: number;
  /** The node's app catalog: serves the candidate's server portion beside live's [issue 15.6]. */
  catalog?: AppCatalog;
}): Promise<RolloutLoop> {
  const tally = new RolloutTally(o.maxBoxes === undefined ? {} : { maxBoxes: o.maxBoxes });
  const driver = new RolloutDriver({ releases: o.releases, store: o.store, tally, carousels: o.carousels, ...(o.sign === undefined ? {} : { sign: o.sign }), now: o.now, ...(o.log === undefined ? {} : { log: o.log }) });
  // A report that changes a wave's count is decided at once: a quorum promotes, a budget halts, on that report.
  o.reports.onReport = (r) => {
    for (const key of tally.report(r)) driver.reported(key);
  };
  const sync = o.catalog === undefined ? undefined : new CatalogSync({ catalog: o.catalog, store: o.store, ...(o.log === undefined ? {} : { log: o.log }) });
  const fill = sync === undefined || o.catalog === undefined ? undefined : new CatalogFill({ catalog: o.catalog, sync: (app) => sync.sync(app), now: o.now, get: (app, v) => o.store.get(app, v) });
  if (fill !== undefined) o.catalog?.onMissing(fill.want);
  sync?.listen(); // [D103] a write through any node syncs its app here at once; the caller's timer is the fallback
  o.releases.onChange = (app) => {
    void sync?.sync(app);
    void driver.refresh(app);
  };
  if (o.sign === undefined) o.log?.('rollout: no operator key, so the carousel carries the live version only (no rollout directive)');
  await sync?.sync();
  for (const app of o.carousels.keys()) await driver.refresh(app);
  return { driver, tally, ...(sync === undefined ? {} : { sync }), ...(fill === undefined ? {} : { fill }) };
}

/** A signer from an operator key file (JWK, as build.mjs writes keys); undefined when the file is absent. */
export async function operatorSigner(jwkText: string | undefined): Promise<DirectiveSigner | undefined> {
  if (jwkText === undefined) return undefined;
  const key = await importSigningKey(JSON.parse(jwkText));
  return (bytes) => signManifest(bytes, key);
}
