// One head-end server process [c13-c15]: wires its parts and exposes them. Routing, membership and
// the portion lifecycle live in headend/node/, each behind a narrow host interface; this class
// owns the endpoints and the statistics/timing wiring. It opens no socket itself.

import { availableParallelism } from 'node:os';
import {
  ArgumentError,
  Channel,
  SESSIONS_VADDR,
  STATS_VADDR,
  SessionOps,
  rejectUnknown,
  systemClock,
  type Address,
  type Clock,
  type Envelope,
  type Result,
  type Transport,
  type UdpAddress,
} from '../runtime/index.ts';
import type { TrustedKeyJson } from '../runtime/app/index.ts';
import type { AppCatalog } from './app-catalog.ts';
import { Elastic } from './portions/elastic.ts';
import { NODE_OPTIONS, type HeadendNodeOptions, type NodeCounters } from './node-options.ts';
import { BoxGate } from './node/box-gate.ts';
import type { RefusalReason } from './node/box-ingress.ts';
import { BoxLocations } from './node/box-locations.ts';
import { NodeDispatch, type DispatchRefusals } from './node/dispatch.ts';
import { Endpoint } from './node/endpoints.ts';
import { PortionLifecycle } from './node/lifecycle.ts';
import { Membership } from './node/membership.ts';
import { DRAIN_OPS, Drain, drainAsked, drainHost, type DrainOptions, type DrainProgress } from './node/drain.ts';
import { movePortion } from './node/migration.ts';
import { upgradeHostOf, upgradeSession, type UpgradeStats } from './node/version-upgrade.ts';
import { appWideHost, claimsHost, dispatchHost, migrationHost, nodeLoad, orphansOf } from './node/node-hosts.ts';
import type { DispatchTable } from './node/table.ts';
import type { NodeTracer } from './trace/tracer.ts';
import { Balancer, type PlacementPolicy } from '../policy/index.ts';
import type { PortionSpec } from './portions/portion-protocol.ts';
import { PortionManager } from './portions/portions.ts';
import { Checkpointer } from './portions/checkpoint.ts';
import { nodeCheckpointHost, observeFor } from './portions/checkpoint-wiring.ts';
import { PortionStarts } from './portions/start-once.ts';
import { PortionClaims } from './portions/portion-claims.ts';
import { SessionRecords } from './session-records.ts';
import type { Registry } from './registry/registry.ts';
import { ReplicaOps, Replicas } from './portions/replicas.ts';
import { AppWide } from './portions/shared-app.ts';
import { RegistryResolver } from './registry/resolver.ts';
import { ServiceHost } from './services/index.ts';
import { SessionManager } from './session-manager.ts';
import { NodeSampler } from './stats/statistics-sampler.ts';
import { StatisticsProcess } from './stats/statistics-process.ts';
import { TIMING_OPS, TimingProcess } from './stats/timing.ts';

/** Default statistics report and heartbeat interval, ms. */
const DEFAULT_INTERVAL_MS = 1000;
/** Default deadline of one event in a portion, ms (wall time on a shared, loaded server). */
const DEFAULT_PORTION_DEADLINE_MS = 1000;
/** Default timeout of a node-to-node control request, ms. */
const CONTROL_TIMEOUT_MS = 5000;
/** Default time a migration waits for in-flight requests to finish, ms. */
const DRAIN_MS = 5000;

export class HeadendNode {
  readonly id: string;
  readonly udpAddress: UdpAddress;
  /** The registry; this node's session writes go through `records`, which keeps them (session-records.ts). */
  readonly registry: Registry;
  readonly records: SessionRecords;
  readonly resolver: RegistryResolver;
  readonly portions: PortionManager;
  /** Critical sections, their waits and the worker threads of shared portions [c20-c24, c27]. */
  readonly elastic: Elastic;
  /** This node's shared portions spread to other nodes, and the replicas it runs for others [c25, c30]. */
  readonly replicas: Replicas;
  /** App-wide instances this node runs as their one writer, their duplicate windows and checkpoints (issue 16). */
  readonly appWide: AppWide;
  readonly statistics: StatisticsProcess;
  readonly timing: TimingProcess;
  readonly sessions: SessionManager;
  /** Durable portion state: checkpoints in the registry, restore on re-placement [issue 13.2]. */
  readonly checkpoints: Checkpointer;
  readonly services: ServiceHost;
  readonly catalog: AppCatalog;
  /** Sessions switched to another app version in place [issue 15.6]. */
  readonly upgrades: UpgradeStats = { upgraded: 0, failed: 0, already: 0, repinned: 0 };
  readonly trusted: TrustedKeyJson[];
  readonly clock: Clock;
  readonly policy: PlacementPolicy;
  /** Which box hosts a virtual address (mutable and client modules placed on a box): its one writer. */
  readonly boxes: BoxLocations;
  readonly #dispatch: NodeDispatch;
  /** Every envelope from a box passes here before dispatch (docs/SECURITY.md). */
  readonly #gate: BoxGate;
  readonly #membership: Membership;
  readonly #lifecycle: PortionLifecycle;
  readonly #udp: Transport;
  readonly #sampler: NodeSampler;
  readonly #capacity: number;
  readonly #log: (line: string) => void;
  readonly #tracer: NodeTracer | undefined;
  /** One instance per (session, module): starts in flight and the registry claims [c31]. */
  readonly starts: PortionStarts;
  /** Every address this node claims for its portions, held against lost writes; a lost one stops its copy [c31]. */
  readonly claims: PortionClaims;
  /** Graceful drain: no new work, instances moved away at a rate cap, then leave (node/drain.ts). */
  readonly drainer: Drain;
  #control: Channel;
  #closed = false;

  constructor(o: HeadendNodeOptions) {
    rejectUnknown('HeadendNode', o, NODE_OPTIONS);
    const udp = o.udp.address.udp;
    if (udp === undefined) throw new ArgumentError('HeadendNode: udp must be a UDP transport', 'udp');
    this.id = o.id;
    this.udpAddress = udp;
    this.boxes = new BoxLocations(o.boxLocations);
    this.records = new SessionRecords(o.registry, { id: o.id, hosts: (s) => this.sessions.ownerOf(s) !== undefined });
    this.registry = this.records.registry;
    this.catalog = o.catalog;
    this.trusted = o.trusted;
    this.clock = o.clock ?? systemClock;
    this.policy = o.policy ?? new Balancer({ random: Math.random });
    this.#udp = o.udp;
    // Capacity is the server's, not its thread count (threads grow with load: the busiest would draw more).
    this.#capacity = o.capacity ?? availableParallelism();
    this.#log = o.log ?? (() => {});
    this.#tracer = o.tracer;
    this.resolver = new RegistryResolver({ registry: o.registry, self: o.id });
    this.#dispatch = new NodeDispatch({
      host: dispatchHost(this, () => this.#membership, this.#tracer, Endpoint.control),
      udp: o.udp,
      mqtt: o.mqtt,
      boxes: this.boxes,
    });
    this.claims = new PortionClaims(claimsHost(this, (l) => this.#log(l)));
    this.#membership = new Membership({
      id: o.id,
      udpAddress: udp,
      clock: this.clock,
      registry: o.registry,
      expect: (node) => this.timing.expect(node),
      isAlive: (node) => this.timing.isAlive(node),
      sendUdp: (env) => void this.#udp.send(env).catch(() => undefined),
    });
    this.portions = new PortionManager({
      pool: o.pool,
      onOut: (env, iid) => this.#fromPortion(env, iid),
      onFault: (iid, module, error) => this.#log(`portion ${iid} ${module}: ${error}`),
      // A module's weft.log line, with where it came from (the instance names app and session).
      onLog: (iid, module, level, text) => this.#log(`${level} ${this.portions.spec(iid)?.app ?? '?'}/${this.portions.spec(iid)?.session ?? '?'}/${module} [${iid}]: ${text}`),
      observer: observeFor(() => this.checkpoints),
      onOrphans: orphansOf(this, Endpoint.control),
    });
    this.checkpoints = new Checkpointer(nodeCheckpointHost(this, () => this.timing, (l) => this.#log(l)), o.checkpoints);
    const makeSpec = (a: string, s: string, m: string[], st?: Record<string, Uint8Array>, v?: string) => this.makeSpec(a, s, m, st, v);
    this.elastic = new Elastic({ clock: this.clock, portions: this.portions, table: this.table, makeSpec, log: (l) => this.#log(l) }, o.elastic);
    this.#lifecycle = new PortionLifecycle(
      { id: o.id, udpAddress: udp, registry: this.claims, catalog: o.catalog, trusted: o.trusted, portions: this.portions, elastic: this.elastic, table: this.table, serviceNames: () => this.services.names(), ended: (i) => this.checkpoints.ended(i), letGo: (i) => this.claims.letGo(i) },
      { memoryBytes: o.portionMemoryBytes, deadlineMs: o.portionDeadlineMs ?? DEFAULT_PORTION_DEADLINE_MS },
    );
    const intervalMs = o.intervalMs ?? DEFAULT_INTERVAL_MS;
    const toPeers = (op: string, body: unknown): void => this.#membership.toPeers(Endpoint.stats, op, body);
    this.#sampler = new NodeSampler({ node: o.id, clock: this.clock, intervalMs, udp, load: () => nodeLoad(this, this.#capacity), ...(o.readings === undefined ? {} : { readings: o.readings }) });
    this.statistics = new StatisticsProcess({ sample: () => this.#sampler.sample(), clock: this.clock, intervalMs, send: toPeers });
    const startSpec = (a: string, se: string, m: string[], st?: Record<string, Uint8Array>) => this.#lifecycle.makeSpec(a, se, m, st);
    this.starts = new PortionStarts({ id: o.id, registry: this.claims, udpAddress: udp, table: this.table, portions: this.portions, elastic: this.elastic, makeSpec: startSpec });
    this.timing = new TimingProcess({
      node: o.id,
      clock: this.clock,
      intervalMs,
      udp,
      send: toPeers,
      onDead: (node, reason) => void this.#peerDead(node, reason).catch((e: unknown) => this.#log(`re-placing ${node}: ${(e as Error).message}`)),
      onAlive: (node) => this.statistics.setAlive(node, true),
    });
    this.replicas = new Replicas(this, o.replicas, (l) => this.#log(l));
    this.appWide = new AppWide({ ...appWideHost(this, this.#dispatch, (l) => this.#log(l)), isAlive: (n) => this.timing.isAlive(n), isMember: (n) => this.#isMember(n) }, o.appWide);
    this.services = new ServiceHost({ services: o.services ?? [], boxOf: (app, session) => this.sessions.boxOfSession(app, session) });
    this.sessions = new SessionManager(this, o.quotas, (l) => this.#log(l));
    const leave = [() => (o.mqtt as { stopIngress?: () => Promise<void> } | undefined)?.stopIngress?.(), () => this.statistics.stop(), () => this.timing.stop(), () => this.replicas.close(), () => this.#membership.leave(), () => this.#membership.toPeers(Endpoint.stats, DRAIN_OPS.leave, { node: this.id })];
    this.drainer = new Drain(drainHost(this, (iid, to) => this.movePortion(iid, to), leave, (l) => this.#log(l)));
    this.#control = this.#endpoints();
    this.#gate = this.#boxGate();
    this.#listen(o);
  }

  // Envelopes from peers go straight to dispatch; from boxes through the gate (broadcast ingress: only those served here).
  #listen(o: HeadendNodeOptions): void {
    o.udp.onEnvelope((e) => this.dispatch(e));
    const broadcast = o.boxIngress === 'broadcast';
    o.mqtt?.onEnvelope((e) => (broadcast && !this.#dispatch.mine(e) ? void this.counters.notMine++ : this.#gate.admit(e)));
  }

  /** What the trust boundaries refused, by reason (docs/SECURITY.md); for the statistics and the dashboard. */
  get security(): { refused: Readonly<Record<RefusalReason, number>>; dispatch: Readonly<DispatchRefusals>; strangers: number } {
    return { refused: this.#gate.refusals.counts, dispatch: this.#dispatch.refused, strangers: this.#membership.strangers };
  }

  /** The node's local tables: endpoints and hosted modules by virtual address. */
  get table(): DispatchTable {
    return this.#dispatch.table;
  }

  get counters(): NodeCounters {
    return this.#dispatch.counters;
  }

  /** Read-only view of the box-location map (BoxLocations writes it). */
  get boxOf(): ReadonlyMap<string, string> {
    return this.boxes.view;
  }

  /** `weft://headend/<this node>/<name>`. */
  vaddr(name: string): string {
    return Membership.vaddr(this.id, name);
  }

  /** Join the cluster: register this node, learn the others, start statistics and heartbeats. */
  async start(): Promise<void> {
    await this.#membership.join();
    await this.portions.addThread();
    this.statistics.start();
    this.timing.start();
    this.replicas.start();
  }

  /** Re-read cluster membership from the registry. */
  refreshPeers(): Promise<void> {
    return this.#membership.refresh();
  }

  peers(): string[] {
    return this.#membership.peers();
  }

  peerUdp(node: string): UdpAddress | undefined {
    return this.#membership.peerUdp(node);
  }

  /** Send a request from this node's control endpoint (node-to-node, DASP-to-DASP control) [c17]. */
  request(dst: Address, body: unknown, op: string, timeoutMs = CONTROL_TIMEOUT_MS): Promise<unknown> {
    return this.#control.request(dst, body, { op, timeoutMs });
  }

  /**
   * Start an instance of `modules` of an app for a session here, once in the cluster: the registry
   * claim decides the owner; binds their virtual addresses [c31] (portions/start-once.ts). `from`:
   * the node whose claim may be taken over (a migration's source, a dead node).
   */
  async startPortion(app: string, session: string, modules: string[], states?: Record<string, Uint8Array>, from?: string): Promise<Result<string, Error>> {
    // [issue 13.2] taken over from a dead node without state: start from its last checkpoint.
    const none = states === undefined || Object.keys(states).length === 0;
    const restored = from !== undefined && none ? await this.checkpoints.restore(app, session, modules, from) : undefined;
    return this.starts.start(app, session, modules, restored ?? states, from);
  }

  /** What a worker needs to start one instance here: a fresh instance id, critical sections prepared [c20-c23]. */
  makeSpec(app: string, session: string, modules: string[], states?: Record<string, Uint8Array>, version?: string): Result<PortionSpec, Error> {
    return this.#lifecycle.makeSpec(app, session, modules, states, version);
  }

  /** The app's app-wide instance (of `version`'s code) runs somewhere: its node (portions/shared-app.ts). */
  ensureAppWide(app: string, version?: string): Promise<Result<string | undefined, Error>> {
    return this.appWide.ensure(app, version);
  }

  /** Stop every instance of a session on this node (its box closed it). */
  stopSession(session: string): Promise<number> {
    return this.#lifecycle.stopSession(session);
  }

  /** Stop an instance; unbinds the addresses nothing here serves any more. */
  stopPortion(iid: string, unbind = true): Promise<void> {
    return this.#lifecycle.stop(iid, unbind);
  }

  /** Route one envelope (from any transport, a portion or an endpoint). Never throws. */
  dispatch(env: Envelope): void {
    if (this.#closed) return;
    // [issue 17] a sampled envelope goes on in this hop's span; unsampled ones cost this one check.
    if (env.ext?.tp !== undefined && this.#tracer !== undefined) env.ext = { ...env.ext, tp: this.#tracer.route(env) ?? env.ext.tp };
    this.#dispatch.dispatch(env);
  }

  /** Live migration to node `to` [c31-c33]: nothing lost or delivered twice (node/migration.ts). */
  async movePortion(iid: string, to: string, drainMs = DRAIN_MS): Promise<Result<string, Error>> {
    const r = await movePortion(migrationHost(this, this.#dispatch), iid, to, drainMs);
    if (r.ok) this.counters.moved++;
    return r;
  }

  /** Switch a session's portion here to another app version, state included (node/version-upgrade.ts) [issue 15.6]. */
  upgradeSession(session: string, version: string, modules?: string[], drainMs = DRAIN_MS): Promise<Result<string, Error>> {
    return upgradeSession(upgradeHostOf(this, (i) => this.#dispatch.hold(i), (a, s, m, st) => this.#lifecycle.start(a, s, m, st)), { session, version, ...(modules === undefined ? {} : { modules }) }, drainMs, this.upgrades);
  }

  /** Drain this node: it takes no new work, moves its instances away at a rate cap and leaves (node/drain.ts). */
  drain(o?: DrainOptions): Promise<DrainProgress> {
    return this.drainer.start(o);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.statistics.stop();
    this.timing.stop();
    this.elastic.close();
    this.sessions.lateOpens.close();
    this.replicas.close();
    this.claims.close();
    this.records.close();
    await this.appWide.close().catch(() => undefined);
    this.#dispatch.close();
    await this.checkpoints.close();
    await this.portions.close();
    await this.#membership.leave();
  }

  // Main-thread endpoints, each a Channel whose source carries this node's UDP pair so peers reply directly.
  #endpoints(): Channel {
    this.#endpoint(this.vaddr(Endpoint.services), { onRequest: this.services.handle });
    this.#endpoint(this.vaddr(Endpoint.modules), { onRequest: (e) => this.sessions.moduleGet(e) });
    for (const v of [SESSIONS_VADDR, this.vaddr(Endpoint.sessions)]) this.#endpoint(v, { onRequest: (e: Envelope) => this.sessions.handle(e) });
    const stats = (e: Envelope): void => this.#stat(e);
    this.table.endpoints.set(STATS_VADDR, stats);
    this.table.endpoints.set(this.vaddr(Endpoint.stats), stats);
    const control = (e: Envelope): unknown => (e.op === DRAIN_OPS.drain ? drainAsked(this.drainer, e.body) : this.sessions.control(e));
    return this.#endpoint(this.vaddr(Endpoint.control), { onRequest: (e) => (e.op === ReplicaOps.start || e.op === ReplicaOps.stop ? this.replicas.control(e) : control(e)) });
  }

  // What a box sends passes this gate first: endpoint classes, session ownership (docs/SECURITY.md).
  #boxGate(): BoxGate {
    return new BoxGate({
      clock: this.clock,
      log: (l) => this.#log(l),
      localOwner: (session) => this.sessions.ownerOf(session),
      lookup: (session) => this.registry.getSession(session),
      pass: (e) => this.dispatch(e),
      reply: (e) => this.dispatch(e),
    });
  }

  #fromPortion(env: Envelope, iid: string): void {
    // Stamp the instance and this node into the source so a reply finds this very instance.
    env.src = { ...env.src, queue: iid, udp: this.udpAddress };
    if (env.ext?.tp !== undefined) this.#tracer?.portionOut(env, iid);
    if (this.appWide.replied(env, iid)) return; // an app-wide reply waits for its checkpoint
    this.dispatch(env);
  }

  async #isMember(node: string): Promise<boolean> {
    if (this.#membership.isMember(node)) return true;
    await this.#membership.refresh().catch(() => undefined);
    return this.#membership.isMember(node);
  }

  #endpoint(vaddr: string, handlers: { onRequest?: (e: Envelope) => unknown; onMessage?: (e: Envelope) => void }): Channel {
    const ch = new Channel({
      self: { vaddr, udp: this.udpAddress },
      write: (e: Envelope) => this.dispatch(e),
      clock: this.clock,
      ...handlers,
      onError: (err) => this.#log(`${vaddr}: ${(err as Error).message}`),
    });
    this.table.endpoints.set(vaddr, (e) => ch.receive(e));
    return ch;
  }

  #stat(env: Envelope): void {
    if (env.op === SessionOps.report) return this.sessions.boxReport(env);
    // Heartbeats and node reports count only from nodes with a member record (docs/SECURITY.md).
    if (!this.#membership.heard(env)) return;
    if (env.op === DRAIN_OPS.leave) return this.#peerLeft(env);
    if (env.op === TIMING_OPS.beat) this.timing.receive(env);
    else this.statistics.receive(env);
  }

  #peerLeft(env: Envelope): void {
    const node = this.#membership.left(env);
    if (node === undefined) return;
    this.timing.forget(node);
    this.statistics.setAlive(node, false);
    this.#log(`node ${node} left the cluster`);
  }

  async #peerDead(node: string, reason: string): Promise<void> {
    if (this.#closed) return;
    this.statistics.setAlive(node, false);
    this.#log(`node ${node} is dead (${reason})`);
    // App-wide instances it ran: every survivor tries, the registry claim picks one (issue 16).
    await this.appWide.replaceFrom(node);
    // One survivor re-places (the lowest id this one believes alive): two never restart the same sessions.
    if (this.#membership.leader()) await this.sessions.replaceFrom(node);
  }
}

export type { HeadendNodeOptions, NodeCounters };
