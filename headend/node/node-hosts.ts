// The narrow host objects HeadendNode hands its parts: dispatch, migration, the app-wide writer,
// and the load figure its sampler reports. Each is built from the node's public parts (passed in
// structurally, so nothing here imports node.ts) plus the private ones the node passes by hand.

import { formatVaddr, parseVaddr, type Address, type Clock, type Envelope, type Result, type UdpAddress } from '../../runtime/index.ts';
import type { Elastic } from '../portions/elastic.ts';
import type { PortionManager } from '../portions/portions.ts';
import type { PortionStarts } from '../portions/start-once.ts';
import type { PortionClaims, PortionClaimsHost } from '../portions/portion-claims.ts';
import type { PortionSpec } from '../portions/portion-protocol.ts';
import type { Replicas } from '../portions/replicas.ts';
import type { AppWide } from '../portions/shared-app.ts';
import type { Checkpointer } from '../portions/checkpoint.ts';
import type { Registry } from '../registry/registry.ts';
import type { RegistryResolver } from '../registry/resolver.ts';
import type { SessionManager } from '../session-manager.ts';
import type { AppCatalog } from '../app-catalog.ts';
import { hostedWork } from '../stats/hosted-work.ts';
import type { NodeTracer } from '../trace/tracer.ts';
import type { DispatchHost, NodeDispatch } from './dispatch.ts';
import type { DispatchTable } from './table.ts';
import type { MigrationHost } from './migration.ts';
import type { Membership } from './membership.ts';
import { OrphanRoute } from './orphans.ts';
import type { NodeCounters } from '../node-options.ts';

type MakeSpec = (app: string, session: string, modules: string[], states?: Record<string, Uint8Array>) => Result<PortionSpec, Error>;

/** The public parts of a node the hosts below read. */
export interface NodeParts {
  readonly id: string;
  readonly clock: Clock;
  readonly udpAddress: UdpAddress;
  readonly resolver: RegistryResolver;
  readonly registry: Registry;
  readonly catalog: AppCatalog;
  readonly table: DispatchTable;
  readonly portions: PortionManager;
  readonly elastic: Elastic;
  readonly replicas: Replicas;
  readonly appWide: AppWide;
  readonly sessions: SessionManager;
  readonly checkpoints: Checkpointer;
  readonly claims: Pick<PortionClaims, 'handOver'>;
  readonly starts: Pick<PortionStarts, 'starting'>;
  readonly drainer: { readonly active: boolean };
  readonly counters: NodeCounters;
  vaddr(name: string): string;
  peerUdp(node: string): UdpAddress | undefined;
  request(dst: Address, body: unknown, op: string, timeoutMs?: number): Promise<unknown>;
  stopPortion(iid: string, unbind?: boolean): Promise<void>;
  makeSpec: MakeSpec;
  dispatch(env: Envelope): void;
}

/** What dispatch sees of its node; membership is read when asked (it is built after dispatch). */
export function dispatchHost(n: NodeParts, membership: () => Pick<Membership, 'leader' | 'isNodeUdp'>, tracer: NodeTracer | undefined, controlName: string): DispatchHost {
  return {
    id: n.id,
    udpAddress: n.udpAddress,
    resolver: n.resolver,
    registry: n.registry,
    portions: { has: (i) => n.portions.has(i), deliver: (i, m, e) => (e.ext?.tp !== undefined && tracer?.portionIn(e, i, m), n.portions.deliver(i, m, e)), pick: (i) => n.portions.pick(i), spec: (i) => n.portions.spec(i) },
    replicaRoute: (env, v) => n.replicas.route(env, v),
    appWide: { front: (i, m, e) => n.appWide.front(i, m, e), sharedAddress: (v) => n.appWide.sharedAddress(v) },
    leader: () => membership().leader(),
    controlVaddr: () => n.vaddr(controlName),
    isNodeUdp: (u) => membership().isNodeUdp(u),
    onUndeliverable: (e, why) => void (e.ext?.tp !== undefined && tracer?.failed(e, why)),
    starting: (v) => n.starts.starting(v),
    clientStarted: (v) => confirmFor(n, v),
  };
}

/** A box's client-started to its session's server portion at `vaddr`: the session is confirmed (session-late.ts). */
function confirmFor(n: NodeParts, vaddr: string): void {
  let session: string;
  try {
    session = parseVaddr(vaddr).session;
  } catch {
    return; // not a session's address: nothing waits for it
  }
  n.sessions.lateOpens.settled(session);
}

/** What a live migration needs of its source node (node/migration.ts). */
export function migrationHost(n: NodeParts, dispatch: Pick<NodeDispatch, 'hold'>): MigrationHost {
  return {
    id: n.id,
    portions: n.portions,
    elastic: n.elastic,
    peerUdp: (node) => n.peerUdp(node),
    hold: (i) => dispatch.hold(i),
    request: (d, b, op, ms) => n.request(d, b, op, ms),
    stopPortion: (i, u) => n.stopPortion(i, u),
    invalidate: (v) => n.resolver.invalidate(v),
    boxOfSession: (a, s) => n.sessions.boxOfSession(a, s),
    sessionMoved: (s) => n.sessions.moved(s),
    checkpoint: (i, st) => n.checkpoints.checkpointNow(i, st),
    pinned: (s) => n.catalog.pinned(s),
    handOver: (i) => n.claims.handOver(i),
  };
}

/**
 * What the node's claims need (portions/portion-claims.ts): a copy whose claim another node holds
 * stops as a move-out's source does, without unbinding, and its session no longer counts here.
 */
export function claimsHost(n: Omit<NodeParts, 'claims'>, log: (line: string) => void): PortionClaimsHost {
  return {
    registry: n.registry,
    log,
    // A session's portion is owned by the record of its first address (start-once.ts); an app's
    // shared one ('*') moves that record between its own instances, so it keeps the plain rule.
    claimOf: (iid) => {
      const spec = n.portions.spec(iid);
      return spec === undefined || spec.session === '*' ? undefined : formatVaddr({ app: spec.app, session: spec.session, module: spec.modules[0] ?? '' });
    },
    stopLost: async (iid) => {
      let spec = n.portions.spec(iid);
      // A start still in flight finishes first (it routes and binds its addresses), then stops.
      const v0 = spec === undefined ? undefined : formatVaddr({ app: spec.app, session: spec.session, module: spec.modules[0] ?? '' });
      if (v0 !== undefined) await n.starts.starting(v0)?.catch(() => undefined);
      spec = n.portions.spec(iid);
      if (spec === undefined) return false;
      // No hold of its envelopes (a move or upgrade of it may hold them): the stop unhosts it and
      // forgets it in one turn, after which what comes for it is routed by the registry.
      try {
        await n.stopPortion(iid, false);
      } finally {
        if (spec.session !== '*') n.sessions.moved(spec.session);
        for (const m of spec.modules) n.resolver.invalidate(formatVaddr({ app: spec.app, session: spec.session, module: m }));
      }
      return true;
    },
  };
}

/**
 * [c31] Where the requests a stopped instance had not answered go (node/orphans.ts). Built while
 * the node is constructed: its portions and starts are read when a stop reports.
 */
export function orphansOf(n: Pick<NodeParts, 'id' | 'udpAddress' | 'clock' | 'registry' | 'counters' | 'table' | 'portions' | 'starts' | 'vaddr' | 'dispatch'>, controlName: string): (iid: string, requests: Envelope[]) => void {
  const route = new OrphanRoute({
    id: n.id,
    udpAddress: n.udpAddress,
    clock: n.clock,
    registry: n.registry,
    counters: n.counters,
    serves: (v) => n.table.hosted.get(v)?.iids.some((i) => n.portions.has(i)) === true || n.starts.starting(v) !== undefined,
    dispatch: (e) => n.dispatch(e),
    controlVaddr: () => n.vaddr(controlName),
  });
  return (iid, requests) => route.take(iid, requests);
}

/** What the app-wide writer needs of its node (portions/shared-app.ts). */
export function appWideHost(n: Omit<NodeParts, 'appWide' | 'sessions' | 'checkpoints' | 'replicas' | 'claims'>, dispatch: Pick<NodeDispatch, 'send'>, log: (line: string) => void) {
  const makeSpec: MakeSpec = (a, s, m, st) => n.makeSpec(a, s, m, st);
  return { id: n.id, clock: n.clock, udpAddress: n.udpAddress, registry: n.registry, catalog: n.catalog, table: n.table, portions: n.portions, elastic: n.elastic, makeSpec, stopInstance: (i: string) => n.stopPortion(i, false), send: (e: Envelope) => n.dispatch(e), sendUdp: (e: Envelope) => void dispatch.send(e).catch(() => undefined), log };
}

/** The node's load as its sampler reports it: the demand of the portions it hosts (issue 14.1). */
export function nodeLoad(n: Pick<NodeParts, 'portions' | 'drainer' | 'sessions' | 'elastic'>, capacity: number) {
  const threads = n.portions.threadStats();
  return {
    workers: threads.length,
    // A draining node reports no capacity, so no balancer places new work on it.
    capacity: n.drainer.active ? 0 : capacity,
    work: hostedWork(n.sessions.perApp(), n.elastic.groups()),
    portions: n.elastic.portionStats(),
    queue: threads.reduce((k, t) => k + t.inflight, 0),
  };
}
