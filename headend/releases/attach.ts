// Joins the release manager to a running head-end: the live version of each app is what the
// node's app catalog serves to new sessions. At start, the apps the node was given (dist/apps)
// are published (idempotent) and made live where nothing is live yet; a version made live
// earlier through the admin API wins over the folder, so a restart keeps what operators shipped.
import { decodeManifest, trustedKeyFromJson, type TrustedKeyJson } from '../../runtime/app/index.ts';
import type { AppCatalog } from '../app-catalog.ts';
import { Releases, STARTUP } from './releases.ts';
import type { Release, ReleaseStore } from './store.ts';

export async function attachReleases(o: { catalog: AppCatalog; trusted: readonly TrustedKeyJson[]; store: ReleaseStore; now: () => number; log?: (line: string) => void }): Promise<Releases> {
  const keys = await Promise.all(o.trusted.map((j) => trustedKeyFromJson(j)));
  const serve = (r: Release): void => o.catalog.add({ manifest: decodeManifest(r.manifestBytes), manifestBytes: r.manifestBytes, signature: r.signature, sources: r.sources });
  const releases = new Releases({ store: o.store, trusted: () => keys, now: o.now, onLive: serve });
  for (const name of o.catalog.names()) {
    const app = o.catalog.get(name);
    if (app === undefined) continue;
    const p = await releases.publish({ manifestBytes: app.manifestBytes, signature: app.signature, sources: app.sources }, STARTUP);
    if (!p.ok) {
      o.log?.(`releases: ${name} from the apps folder was not published: ${p.message}`);
      continue;
    }
    const live = await releases.live(name);
    if (live === undefined) await releases.promote(name, app.manifest.version, { now: true });
    else if (live.version !== app.manifest.version) {
      serve(live);
      o.log?.(`releases: serving ${name} ${live.version} (live in the release store) instead of ${app.manifest.version} from the apps folder`);
    }
  }
  return releases;
}
