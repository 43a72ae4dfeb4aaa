// A session's server portion switches app version in place (issue 15.6-7), on the node that
// hosts it, through the migration path's steps: hold new envelopes for the instance, let its
// in-flight requests finish, snapshot its modules, start the new version's instance for the same
// session with that state (same virtual addresses), stop the old one, then release what was held
// to the new one. Nothing is lost or delivered twice: each envelope reaches the old instance
// before the hold or the new one after. The box asks for it when it switches version itself
// (session.open with `previous`), so client and server change formats at the same point.

import { Codes, RemoteError, type Result } from '../../runtime/index.ts';
import type { PortionManager } from '../portions/portions.ts';
import type { AppCatalog, PublishedApp } from '../app-catalog.ts';
import type { DispatchTable } from './table.ts';

export interface UpgradeHost {
  readonly id: string;
  readonly portions: Pick<PortionManager, 'spec' | 'inflightOf' | 'snapshot' | 'ofSession'>;
  readonly catalog: Pick<AppCatalog, 'get' | 'pin' | 'unpin' | 'pinned' | 'resolve'>;
  readonly table: Pick<DispatchTable, 'hosted' | 'hosts'>;
  /** Hold new envelopes for `iid`; the returned function releases them to wherever it is then. */
  hold(iid: string): () => void;
  /** Start an instance here for the session's pinned version, binding its addresses (lifecycle start). */
  startHere(app: string, session: string, modules: string[], states: Record<string, Uint8Array>): Promise<Result<string, Error>>;
  /** Stop an instance without unbinding its addresses (the new instance serves them). */
  stopPortion(iid: string, unbind?: boolean): Promise<void>;
  /** Resolves once the instance has nothing in flight, or after `ms` (a wedged request does not block the upgrade). */
  idle(iid: string, ms: number): Promise<void>;
}

export interface UpgradeStats {
  upgraded: number;
  /** Upgrades that failed; the old version runs on (held envelopes go to it). */
  failed: number;
  /** Upgrades asked again for the version the session already runs (a retried open): nothing done. */
  already: number;
  /** Switches whose head-end modules are byte for byte the old version's: re-pinned, the instance runs on. */
  repinned: number;
}

/** The instance of a session's server portion on this node (the first, for a shared one). */
export function sessionInstance(host: Pick<UpgradeHost, 'table' | 'portions'>, session: string): string | undefined {
  return host.portions.ofSession(session).find((iid) => host.table.hosts(iid));
}

/** Switch the session's portion here to `version` with its state; the old version runs on when anything fails. */
export async function upgradeSession(host: UpgradeHost, to: { session: string; version: string; modules?: string[] }, drainMs: number, stats: UpgradeStats): Promise<Result<string, Error>> {
  const { session, version } = to;
  const iid = sessionInstance(host, session);
  const spec = iid === undefined ? undefined : host.portions.spec(iid);
  if (iid === undefined || spec === undefined) return { ok: false, error: new RemoteError(Codes.NO_SESSION, `node ${host.id} runs no portion of session ${session}`) };
  if (host.catalog.pinned(session) === version) {
    stats.already++;
    return { ok: true, value: iid }; // a retried open: already on that version
  }
  const next = host.catalog.get(spec.app, version) ?? (await host.catalog.resolve(spec.app, version)); // not synced here yet: one sync first
  if (next === undefined) return { ok: false, error: new RemoteError(Codes.VERSION_MISMATCH, `node ${host.id} does not serve ${spec.app} ${version}`, { app: spec.app, version }) };
  const before = host.catalog.pinned(session);
  // The same head-end code in both versions (a release that changed the box's modules only): the
  // instance already runs the new version's bytes, so the switch is a pin; nothing is held or restarted.
  const prev = before === undefined ? undefined : host.catalog.get(spec.app, before);
  if (prev !== undefined && sameCode(prev, next, spec.modules, to.modules ?? spec.modules)) {
    host.catalog.pin(session, spec.app, version);
    stats.repinned++;
    return { ok: true, value: iid };
  }
  const release = host.hold(iid);
  try {
    await host.idle(iid, drainMs);
    const snap = await host.portions.snapshot(iid);
    if (!snap.ok) return fail(stats, snap.error);
    host.catalog.pin(session, spec.app, version);
    // The new version's modules on the head-end (it may add or drop one); each keeps its state by name.
    const modules = to.modules ?? spec.modules;
    const states = Object.fromEntries(Object.entries(snap.value).filter(([m]) => modules.includes(m)));
    const started = await host.startHere(spec.app, session, modules, states);
    if (!started.ok) {
      if (before === undefined) host.catalog.unpin(session);
      else host.catalog.pin(session, spec.app, before);
      return fail(stats, started.error);
    }
    await host.stopPortion(iid, false);
    stats.upgraded++;
    return started;
  } finally {
    release(); // [c31] held envelopes go to whichever instance now serves the addresses
  }
}

/** Both versions run exactly these modules on the head-end, each with the same bytes (signed SHA-256). */
function sameCode(a: PublishedApp, b: PublishedApp, running: readonly string[], wanted: readonly string[]): boolean {
  if (running.length !== wanted.length || !wanted.every((m) => running.includes(m))) return false;
  const sha = (p: PublishedApp, m: string): string | undefined => p.manifest.modules.find((e) => e.name === m)?.sha256;
  return wanted.every((m) => sha(a, m) !== undefined && sha(a, m) === sha(b, m));
}

function fail(stats: UpgradeStats, error: Error): Result<string, Error> {
  stats.failed++;
  return { ok: false, error };
}

/** The upgrade host of a node: its parts, its dispatch's hold and its lifecycle's start. */
export function upgradeHostOf(
  n: { readonly id: string; readonly portions: PortionManager; readonly catalog: AppCatalog; readonly table: DispatchTable; stopPortion(iid: string, unbind?: boolean): Promise<void> },
  hold: (iid: string) => () => void,
  startHere: UpgradeHost['startHere'],
): UpgradeHost {
  return {
    id: n.id,
    portions: n.portions,
    catalog: n.catalog,
    table: n.table,
    hold,
    startHere,
    stopPortion: (i, u) => n.stopPortion(i, u),
    // As the migration does (node/migration.ts): the instance's in-flight count, looked at every ms, bounded.
    idle: async (iid, ms) => {
      const end = Date.now() + ms;
      while (n.portions.inflightOf(iid) > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 1));
    },
  };
}
