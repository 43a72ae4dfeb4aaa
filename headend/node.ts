// One head-end server process [c13-c15]: hosts server portions in worker threads, serves the
// session ingress, the service interface and the module downloads, takes part in statistics
// and heartbeats, and routes every envelope: local queues, UDP to other nodes, MQTT to boxes.
// It receives its transports, registry and pool; it opens no socket itself.

import { availableParallelism } from 'node:os';
import {
  ArgumentError,
  Channel,
  Codes,
  RemoteError,
  Router,
  formatVaddr,
  parseVaddr,
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
import { movePortion } from './node-migration.ts';
import { NODE_OPTIONS, type HeadendNodeOptions, type NodeCounters } from './node-options.ts';
import { DispatchTable, moduleOf, withoutLocal } from './node-dispatch.ts';
import { Balancer, type PlacementPolicy } from '../policy/index.ts';
import { SERVICES_NAME, type PortionSpec } from './portions/portion-protocol.ts';
import { PortionManager } from './portions/portions.ts';
import { PortionStarts } from './portions/start-once.ts';
import type { Registry } from './registry/registry.ts';
import { Replicas } from './portions/replicas.ts';
import { RegistryResolver } from './registry/resolver.ts';
import { ServiceHost } from './services/index.ts';
import { SessionManager } from './session-manager.ts';
import { NodeSampler } from './stats/statistics-sampler.ts';
import { hostedWork } from './stats/hosted-work.ts';
import { StatisticsProcess } from './stats/statistics-process.ts';
import { TimingProcess } from './stats/timing.ts';

export class HeadendNode {
  readonly id: string;
  readonly udpAddress: UdpAddress;
  readonly registry: Registry;
  readonly resolver: RegistryResolver;
  readonly portions: PortionManager;
  /** Critical sections, their waits and the worker threads of shared portions [c20-c24, c27]. */
  readonly elastic: Elastic;
  /** This node's shared portions spread to other nodes, and the replicas it runs for others [c25, c30]. */
  readonly replicas: Replicas;
  readonly statistics: StatisticsProcess;
  readonly timing: TimingProcess;
  readonly sessions: SessionManager;
  readonly services: ServiceHost;
  readonly catalog: AppCatalog;
  readonly trusted: TrustedKeyJson[];
  readonly clock: Clock;
  readonly policy: PlacementPolicy;
  readonly table = new DispatchTable();
  /** One instance per (session, module): starts in flight and the registry claims [c31]. */
  readonly starts: PortionStarts = new PortionStarts(this);
  #udp: Transport;
  #mqtt: Transport | undefined;
  #router: Router;
  #sampler: NodeSampler;
  #portionMemory: number | undefined;
  #portionDeadline: number;
  #capacity: number;
  #log: (line: string) => void;
  #iid = 0;
  #peers = new Map<string, UdpAddress>();
  #control: Channel;
  #closed = false;
  /** Instances being moved: envelopes for them wait here [c31]. */
  readonly holding = new Map<string, Envelope[]>();
  /** Boxes hosting a virtual address (mutable and client modules placed on a box). */
  readonly boxOf: Map<string, string>;
  readonly counters: NodeCounters = { dispatched: 0, forwarded: 0, undeliverable: 0, clientStarted: 0, moved: 0, notMine: 0 };

  constructor(o: HeadendNodeOptions) {
    rejectUnknown('HeadendNode', o, NODE_OPTIONS);
    const udp = o.udp.address.udp;
    if (udp === undefined) throw new ArgumentError('HeadendNode: udp must be a UDP transport', 'udp');
    this.id = o.id;
    this.udpAddress = udp;
    this.boxOf = o.boxLocations ?? new Map();
    this.registry = o.registry;
    this.catalog = o.catalog;
    this.trusted = o.trusted;
    this.clock = o.clock ?? systemClock;
    this.policy = o.policy ?? new Balancer({ random: Math.random });
    this.#udp = o.udp;
    this.#mqtt = o.mqtt;
    this.#portionMemory = o.portionMemoryBytes;
    this.#portionDeadline = o.portionDeadlineMs ?? 1000;
    // Capacity is the server's, not its thread count: threads grow with load, and counting them
    // as capacity would draw more sessions to the node that is already busiest.
    this.#capacity = o.capacity ?? availableParallelism();
    this.#log = o.log ?? (() => {});
    this.resolver = new RegistryResolver({ registry: o.registry, self: o.id });
    const routes = [{ name: 'udp', transport: o.udp, accepts: (d: Address) => d.udp !== undefined }];
    if (o.mqtt !== undefined) routes.push({ name: 'mqtt', transport: o.mqtt, accepts: (d: Address) => d.vaddr !== undefined && d.udp === undefined && d.queue === undefined && this.#onBox(d.vaddr) });
    this.#router = new Router({ routes, resolver: this.resolver });
    this.portions = new PortionManager({
      pool: o.pool,
      onOut: (env, iid) => this.#fromPortion(env, iid),
      onFault: (iid, module, error) => this.#log(`portion ${iid} ${module}: ${error}`),
    });
    const makeSpec = (a: string, s: string, m: string[], st?: Record<string, Uint8Array>) => this.makeSpec(a, s, m, st);
    this.elastic = new Elastic({ clock: this.clock, portions: this.portions, table: this.table, makeSpec, log: (l) => this.#log(l) }, o.elastic);
    const intervalMs = o.intervalMs ?? 1000;
    this.#sampler = new NodeSampler({ node: o.id, clock: this.clock, intervalMs, udp, load: () => this.#load(), ...(o.readings === undefined ? {} : { readings: o.readings }) });
    this.statistics = new StatisticsProcess({
      sample: () => this.#sampler.sample(),
      clock: this.clock,
      intervalMs,
      send: (op, body) => this.#toPeers('stats', 'stat', op, body),
    });
    this.timing = new TimingProcess({
      node: o.id,
      clock: this.clock,
      intervalMs,
      udp,
      send: (op, body) => this.#toPeers('stats', 'stat', op, body),
      onDead: (node, reason) => void this.#peerDead(node, reason).catch((e: unknown) => this.#log(`re-placing ${node}: ${(e as Error).message}`)),
      onAlive: (node) => this.statistics.setAlive(node, true),
    });
    this.replicas = new Replicas(this, o.replicas, (l) => this.#log(l));
    this.services = new ServiceHost({ services: o.services ?? [], boxOf: (app, session) => this.sessions.boxOfSession(app, session) });
    this.sessions = new SessionManager(this);
    // Main-thread endpoints, each a Channel whose source carries this node's UDP pair so peers reply directly.
    this.#endpoint(this.vaddr('services'), { onRequest: this.services.handle });
    this.#endpoint(this.vaddr('modules'), { onRequest: (e) => this.sessions.moduleGet(e) });
    const sessionsHandlers = { onRequest: (e: Envelope) => this.sessions.handle(e) };
    this.#endpoint('weft://headend/*/sessions', sessionsHandlers);
    this.#endpoint(this.vaddr('sessions'), sessionsHandlers);
    this.#control = this.#endpoint(this.vaddr('control'), { onRequest: (e) => (e.op?.startsWith('replica.') === true ? this.replicas.control(e) : this.sessions.control(e)) });
    const stats = (e: Envelope): void => this.#stat(e);
    this.table.endpoints.set('weft://headend/*/stats', stats);
    this.table.endpoints.set(this.vaddr('stats'), stats);
    o.udp.onEnvelope((e) => this.dispatch(e));
    const broadcast = o.boxIngress === 'broadcast';
    o.mqtt?.onEnvelope((e) => (broadcast && !this.#mine(e) ? void this.counters.notMine++ : this.dispatch(e)));
  }

  /** `weft://headend/<this node>/<name>`. */
  vaddr(name: string): string {
    return formatVaddr({ app: 'headend', session: this.id, module: name });
  }

  /** Join the cluster: register this node, learn the others, start statistics and heartbeats. */
  async start(): Promise<void> {
    await this.registry.bind(this.#memberVaddr(this.id), { node: this.id, udp: this.udpAddress });
    await this.refreshPeers();
    await this.portions.addThread();
    this.statistics.start();
    this.timing.start();
    this.replicas.start();
  }

  /** Re-read cluster membership from the registry. */
  async refreshPeers(): Promise<void> {
    for (const r of await this.registry.listBySession('headend', '*')) {
      if (!r.vaddr.includes('/member-') || r.node === this.id || r.udp === undefined) continue;
      if (!this.#peers.has(r.node)) this.timing.expect(r.node);
      this.#peers.set(r.node, r.udp);
    }
  }

  peers(): string[] {
    return [...this.#peers.keys()];
  }

  peerUdp(node: string): UdpAddress | undefined {
    return node === this.id ? this.udpAddress : this.#peers.get(node);
  }

  /** Send a request from this node's control endpoint (node-to-node, DASP-to-DASP control) [c17]. */
  request(dst: Address, body: unknown, op: string, timeoutMs = 5000): Promise<unknown> {
    return this.#control.request(dst, body, { op, timeoutMs });
  }

  /**
   * Start an instance of `modules` of an app for a session here, once in the cluster: the registry
   * claim decides the owner; binds their virtual addresses [c31] (portions/start-once.ts). `from`:
   * the node whose claim may be taken over (a migration's source, a dead node).
   */
  startPortion(app: string, session: string, modules: string[], states?: Record<string, Uint8Array>, from?: string): Promise<Result<string, Error>> {
    return this.starts.start(app, session, modules, states, from);
  }

  /** What a worker needs to start one instance here: a fresh instance id, critical sections prepared [c20-c23]. */
  makeSpec(app: string, session: string, modules: string[], states?: Record<string, Uint8Array>): Result<PortionSpec, Error> {
    const pub = this.catalog.get(app);
    if (pub === undefined) return { ok: false, error: new RemoteError(Codes.NOT_FOUND, `no app "${app}" on node ${this.id}`) };
    const iid = `p${++this.#iid}.${this.id}`;
    const critical = this.elastic.prepare(iid, pub.manifest, session, modules);
    const spec: PortionSpec = {
      iid,
      node: this.id,
      app,
      session,
      modules,
      manifest: pub.manifestBytes,
      signature: pub.signature,
      sources: Object.fromEntries(modules.map((m) => [m, pub.sources[m] as Uint8Array])),
      trusted: this.trusted,
      services: this.services.names(),
      ...(states === undefined ? {} : { states }),
      ...(this.#portionMemory === undefined ? {} : { memoryBytes: this.#portionMemory }),
      deadlineMs: this.#portionDeadline,
      ...(critical === undefined ? {} : { critical }),
    };
    return { ok: true, value: spec };
  }

  /** Stop every instance of a session on this node (its box closed it). */
  async stopSession(session: string): Promise<number> {
    const iids = new Set<string>();
    for (const h of this.table.hosted.values()) for (const iid of h.iids) if (this.portions.spec(iid)?.session === session) iids.add(iid);
    for (const iid of iids) await this.stopPortion(iid);
    return iids.size;
  }

  /** Stop an instance; unbinds the addresses nothing here serves any more. */
  async stopPortion(iid: string, unbind = true): Promise<void> {
    await this.elastic.stopping(iid);
    const gone = this.table.unhost(iid);
    await this.portions.stop(iid);
    if (!unbind) return;
    for (const v of gone) {
      const rec = await this.registry.lookup(v);
      if (rec !== undefined && rec.node === this.id) await this.registry.unbind(v, rec.epoch);
    }
  }

  /** Route one envelope (from any transport, a portion or an endpoint). Never throws. */
  dispatch(env: Envelope): void {
    if (this.#closed) return;
    this.counters.dispatched++;
    const dst = env.dst;
    if (dst.queue !== undefined && this.portions.has(dst.queue)) {
      const module = moduleOf(dst.vaddr);
      if (module !== undefined && this.#deliver(dst.queue, module, env)) return;
    }
    const v = dst.vaddr;
    if (v !== undefined) {
      if (env.kind === 'ctl' && env.op === 'client-started') this.counters.clientStarted++;
      const ep = this.table.endpoints.get(v);
      if (ep !== undefined) return ep(env);
      const h = this.table.hosted.get(v);
      if (h !== undefined) {
        // [c30] a share of a spread portion's requests goes to its replica on another node.
        const away = this.replicas.route(env, v);
        if (away !== undefined) return this.#forward({ ...env, dst: { vaddr: v, udp: away } });
        const iid = this.portions.pick(h.iids);
        if (iid !== undefined && this.#deliver(iid, h.module, env)) return;
      }
    }
    this.#forward(env);
  }

  /** Live migration to node `to` [c31-c33]: nothing lost or delivered twice (node-migration.ts). */
  movePortion(iid: string, to: string, drainMs = 5000): Promise<Result<string, Error>> {
    return movePortion(this, iid, to, drainMs);
  }

  // With broadcast ingress: is this box message for something on this node?
  #mine(env: Envelope): boolean {
    const { queue, vaddr } = env.dst;
    if (queue !== undefined && this.portions.has(queue)) return true;
    if (vaddr === undefined) return false;
    if (vaddr.startsWith('weft://headend/*/')) return this.#leader();
    return this.table.endpoints.has(vaddr) || this.table.hosted.has(vaddr);
  }

  #leader(): boolean {
    return [this.id, ...this.peers().filter((p) => this.timing.isAlive(p) !== false)].sort()[0] === this.id;
  }

  #deliver(iid: string, module: string, env: Envelope): boolean {
    const held = this.holding.get(iid);
    if (held !== undefined) {
      held.push(env);
      return true;
    }
    return this.portions.deliver(iid, module, env);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.statistics.stop();
    this.timing.stop();
    this.elastic.close();
    this.replicas.close();
    this.#router.close();
    await this.portions.close();
    await this.registry.unbind(this.#memberVaddr(this.id)).catch(() => undefined);
  }

  // [c31] a message for a portion that is not (or no longer) here goes where the registry says.
  #forward(env: Envelope): void {
    const dst = withoutLocal(env.dst, this.udpAddress);
    const v = dst.vaddr;
    if (v !== undefined && dst.udp === undefined && env.dst.udp !== undefined) this.resolver.invalidate(v);
    const out = dst.udp !== env.dst.udp || dst.queue !== env.dst.queue ? { ...env, dst } : env;
    if (v === undefined && dst.udp === undefined) return this.#undeliverable(env, 'no address left to route');
    this.counters.forwarded++;
    this.#locateBox(v, dst)
      .then(() => this.#router.send(out))
      .catch((e: unknown) => this.#undeliverable(env, (e as Error).message));
  }

  // A module placed on a box is found through its session record (placements and box); learn
  // it before routing over MQTT.
  async #locateBox(v: string | undefined, dst: Address): Promise<void> {
    if (v === undefined || dst.udp !== undefined || this.#mqtt === undefined || this.#onBox(v)) return;
    let parts;
    try {
      parts = parseVaddr(v);
    } catch {
      return;
    }
    const rec = await this.registry.getSession(parts.session);
    if (rec !== undefined && rec.app === parts.app && rec.placements[parts.module] === 'box') this.boxOf.set(v, rec.box);
  }

  #undeliverable(env: Envelope, why: string): void {
    this.counters.undeliverable++;
    if (env.kind !== 'req' && env.kind !== 'ctl') return;
    const reply: Envelope = { v: 1, kind: 'err', id: 0, corr: env.id, src: { vaddr: this.vaddr('control'), udp: this.udpAddress }, dst: env.src, body: { code: Codes.NOT_FOUND, message: `undeliverable: ${why}` } };
    if (env.op !== undefined) reply.op = env.op;
    this.#router.send(reply).catch(() => undefined);
  }

  #fromPortion(env: Envelope, iid: string): void {
    // Stamp the instance and this node into the source so a reply finds this very instance.
    env.src = { ...env.src, queue: iid, udp: this.udpAddress };
    this.dispatch(env);
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
    if (env.op === 'timing.beat') {
      this.timing.receive(env);
      const hb = env.body as { node?: unknown; udp?: UdpAddress } | undefined;
      if (typeof hb?.node === 'string' && hb.node !== this.id && hb.udp !== undefined && !this.#peers.has(hb.node)) this.#peers.set(hb.node, hb.udp);
      return;
    }
    if (env.op === 'stats.box') {
      this.sessions.boxReport(env);
      return;
    }
    this.statistics.receive(env);
  }

  #toPeers(endpoint: string, kind: 'stat', op: string, body: unknown): void {
    for (const [node, udp] of this.#peers) {
      const env: Envelope = { v: 1, kind, id: 0, op, src: { vaddr: this.vaddr(endpoint), udp: this.udpAddress }, dst: { vaddr: formatVaddr({ app: 'headend', session: node, module: endpoint }), udp }, body };
      this.#udp.send(env).catch(() => undefined);
    }
  }

  async #peerDead(node: string, reason: string): Promise<void> {
    if (this.#closed) return;
    this.statistics.setAlive(node, false);
    this.#log(`node ${node} is dead (${reason})`);
    // One survivor re-places: the lowest id among the nodes this one believes alive, so two
    // survivors do not both restart the same sessions.
    if (this.#leader()) await this.sessions.replaceFrom(node);
  }

  #onBox(vaddr: string): boolean {
    return vaddr.startsWith('weft://box/') || this.boxOf.has(vaddr);
  }

  #memberVaddr(node: string): string {
    return formatVaddr({ app: 'headend', session: '*', module: `member-${node}` });
  }

  #load() {
    const threads = this.portions.threadStats();
    return {
      workers: threads.length,
      capacity: this.#capacity,
      work: hostedWork(this.sessions.perApp(), this.elastic.groups()),
      portions: this.elastic.portionStats(),
      queue: threads.reduce((n, t) => n + t.inflight, 0),
    };
  }
}

export { SERVICES_NAME };
export type { HeadendNodeOptions, NodeCounters };
