// Live migration of a portion instance between nodes [c31-c33]. Sees its node only through
// MigrationHost (like SessionHost): it holds envelopes through dispatch's held queue and reports
// the outcome; it writes none of the node's state itself.

import { Codes, RemoteError, formatVaddr, type Address, type Result, type UdpAddress } from '../../runtime/index.ts';
import { decodeManifest } from '../../runtime/app/index.ts';
import type { Elastic } from '../portions/elastic.ts';
import type { PortionManager } from '../portions/portions.ts';
import { ControlOps } from '../session-wire.ts';
import { Endpoint } from './endpoints.ts';
import { Membership } from './membership.ts';

/** How long the target node may take to start the moved instance, ms. */
const START_TIMEOUT_MS = 10_000;

/** What a migration needs of its node. */
export interface MigrationHost {
  readonly id: string;
  readonly portions: Pick<PortionManager, 'spec' | 'inflightOf' | 'snapshot'>;
  readonly elastic: Pick<Elastic, 'stopping'>;
  peerUdp(node: string): UdpAddress | undefined;
  /** Hold new envelopes for `iid`; the returned function releases them to wherever it is then. */
  hold(iid: string): () => void;
  request(dst: Address, body: unknown, op: string, timeoutMs?: number): Promise<unknown>;
  /** Stop the instance here without unbinding its addresses (the target took them over). */
  stopPortion(iid: string, unbind?: boolean): Promise<void>;
  /** Forget cached locations of these addresses. */
  invalidate(vaddr: string): void;
  /** The box of a session this node records, so the new host records the session too [c41]. */
  boxOfSession(app: string, session: string): string | undefined;
  /** The session's record moved with its portion: forget it here. */
  sessionMoved(session: string): void;
  /** Write the moving instance's snapshot as its checkpoint (a death of the target right after loses nothing) [issue 13.2]. */
  checkpoint?(iid: string, states: Record<string, Uint8Array>): Promise<Result<number, Error>>;
  /** The version the session is pinned to here (a switch that only re-pinned leaves the instance's manifest older). */
  pinned?(session: string): string | undefined;
  /** The instance's claims go to the target (their change is no loss here); the function takes them back, read first. */
  handOver?(iid: string): () => void;
}

/**
 * Live migration [c31-c33]: hold new envelopes for the instance, let its in-flight requests
 * finish, snapshot its modules, start it on `to` with that state (which moves the registry
 * records), stop it here, then forward what was held. Nothing is lost or delivered twice:
 * each envelope reaches either this instance (before the hold) or the new one.
 */
export async function movePortion(host: MigrationHost, iid: string, to: string, drainMs: number): Promise<Result<string, Error>> {
  const spec = host.portions.spec(iid);
  const udp = host.peerUdp(to);
  if (spec === undefined) return { ok: false, error: new RemoteError(Codes.NOT_FOUND, `no instance ${iid} here`) };
  if (udp === undefined || to === host.id) return { ok: false, error: new RemoteError(Codes.NOT_FOUND, `no peer node "${to}"`) };
  // Threads added for a shared portion go first: the state that moves is the first instance's.
  await host.elastic.stopping(iid);
  const release = host.hold(iid);
  const end = Date.now() + drainMs;
  while (host.portions.inflightOf(iid) > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 1));
  const snap = await host.portions.snapshot(iid);
  if (!snap.ok) {
    release();
    return snap;
  }
  // [issue 13.2] best effort: the state also travels in the start body; a failure is counted there.
  await host.checkpoint?.(iid, snap.value);
  const takeBack = host.handOver?.(iid);
  try {
    const box = host.boxOfSession(spec.app, spec.session);
    // [issue 15.6] the session keeps its version on the new node.
    const version = host.pinned?.(spec.session) ?? decodeManifest(spec.manifest).version;
    const body = { app: spec.app, session: spec.session, modules: spec.modules, states: snap.value, from: host.id, version, ...(box === undefined ? {} : { box }) };
    await host.request({ vaddr: Membership.vaddr(to, Endpoint.control), udp }, body, ControlOps.start, START_TIMEOUT_MS);
  } catch (e) {
    // [c31] the target may have taken the records all the same (its answer lost): then the copy
    // here is the one that stops (portions/portion-claims.ts), and the record names the one that runs.
    takeBack?.();
    release();
    return { ok: false, error: e as Error };
  }
  await host.stopPortion(iid, false);
  host.sessionMoved(spec.session);
  for (const m of spec.modules) host.invalidate(formatVaddr({ app: spec.app, session: spec.session, module: m }));
  release();
  return { ok: true, value: to };
}
