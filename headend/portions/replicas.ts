// Spawning a shared portion on other servers [c25, c26, c30]: the node where a shared critical
// portion is bound (its primary) asks the saturation rule each report interval; when it says
// spawn, it starts a replica on the node the statistics pick (load of this and other apps), and
// splits the portion's requests between them. Clients keep the one virtual address [c26]; each
// replica is also reachable at its own instance address (`weft://app/*/module/<n>`) [c31, c32].
// Decisions are headend/policy's; this file measures, asks and applies.

import {
  Codes,
  RemoteError,
  formatVaddr,
  parseVaddr,
  rejectUnknown,
  type Address,
  type Clock,
  type Envelope,
  type Result,
  type TimerHandle,
  type UdpAddress,
} from '../../runtime/index.ts';
import type { Elastic, Group } from './elastic.ts';
import type { DispatchTable } from '../node/table.ts';
import { decideScale, pickShare, portionShares, scaleConfig, type ClusterView, type PortionState, type ScaleConfig, type ScaleOptions, type ShareOptions, type Uniform } from '../../policy/index.ts';
import type { PortionSpec } from './portion-protocol.ts';
import type { PortionManager } from './portions.ts';
import type { Registry } from '../registry/registry.ts';
import type { StatisticsProcess } from '../stats/statistics-process.ts';
import type { AppCatalog } from '../app-catalog.ts';
import { decodeManifest } from '../../runtime/app/index.ts';
import { specFor } from './shared-parts.ts';
import { appWideTag } from './shared-versions.ts';

export const ReplicaOps = { start: 'replica.start', stop: 'replica.stop' } as const;

export interface ReplicaOptions {
  /** Thresholds of the saturation rule (headend/policy decideScale), or false: never spawn. */
  scale?: ScaleOptions | false;
  /** How shares follow measured pressure (portionShares). */
  share?: ShareOptions;
  /** Decision cadence, ms. Default: the statistics report interval. */
  everyMs?: number;
  random?: Uniform;
}

const OPTIONS = ['scale', 'share', 'everyMs', 'random'];

/** What the replica manager needs of its node (HeadendNode). */
export interface ReplicaHost {
  readonly id: string;
  readonly clock: Clock;
  readonly udpAddress: UdpAddress;
  readonly statistics: StatisticsProcess;
  readonly elastic: Elastic;
  readonly portions: PortionManager;
  readonly table: DispatchTable;
  readonly registry: Registry;
  /** A replica runs its primary's version (a node that has not synced a new live version yet still runs the right code). */
  readonly catalog: AppCatalog;
  /** The node's held claims (portion-claims.ts): a replica's own address is held like any claim. */
  readonly claims?: Pick<Registry, 'bind'>;
  peerUdp(node: string): UdpAddress | undefined;
  request(dst: Address, body: unknown, op: string, timeoutMs?: number): Promise<unknown>;
  makeSpec(app: string, session: string, modules: string[]): Result<PortionSpec, Error>;
  stopPortion(iid: string, unbind?: boolean): Promise<void>;
}

/** A primary's spread: the nodes serving the portion (itself first) and their shares [c30]. */
export interface Spread {
  readonly vaddr: string;
  /** Module addresses whose requests are split. */
  readonly vaddrs: ReadonlySet<string>;
  state: PortionState;
  /** Replica number per node. */
  readonly instances: Map<string, string>;
  next: number;
  busy: boolean;
  /** Requests sent to each node (routing counts, for tests and the dashboard). */
  readonly routed: Map<string, number>;
  last: string;
}

interface ReplicaBody {
  app: string;
  modules: string[];
  instance: string;
  /** The primary's app version (absent from older primaries: the live one here). */
  version?: string;
  /** The primary's app-wide code when its group is that code's tagged address (a candidate's, D102): the replica serves that address only. */
  tag?: string;
}

const TAG = /^c[0-9a-f]{16}$/;

export class Replicas {
  readonly #host: ReplicaHost;
  readonly #cfg: ScaleConfig | undefined;
  readonly #share: ShareOptions;
  readonly #everyMs: number;
  readonly #random: Uniform;
  readonly #log: (line: string) => void;
  readonly #spreads = new Map<string, Spread>();
  /** Next replica number per portion address, kept across its groups: a new group's replica never reuses an old one's number. */
  readonly #numbers = new Map<string, number>();
  /** Replicas stopped because their primary's group ended (its instance stopped, or its code is no longer live), and stops that failed;
   *  replicas started here for a candidate's tagged group (D102), and starts refused because the tag was not the version's code. */
  readonly counters = { endedWithGroup: 0, stopFailed: 0, taggedStarted: 0, tagRefused: 0 };
  readonly #unlisten: () => void;
  #timer: TimerHandle | undefined;
  #closed = false;

  constructor(host: ReplicaHost, options: ReplicaOptions = {}, log: (line: string) => void = () => {}) {
    rejectUnknown('ReplicaOptions', options, OPTIONS);
    this.#host = host;
    this.#log = log;
    this.#cfg = options.scale === false ? undefined : scaleConfig(options.scale ?? {}, 'ReplicaOptions.scale');
    this.#share = { waitTargetMs: this.#cfg?.waitTargetMs ?? 50, ...options.share };
    this.#everyMs = options.everyMs ?? host.statistics.intervalMs;
    this.#random = options.random ?? Math.random;
    this.#unlisten = host.elastic.onGroupEnd((g) => this.#ended(g));
  }

  /** Start deciding (after the node joined). Idempotent. */
  start(): void {
    if (this.#cfg === undefined || this.#closed || this.#timer !== undefined) return;
    this.#timer = this.#host.clock.setTimeout(() => {
      this.#timer = undefined;
      this.#decideAll()
        .catch((e: unknown) => this.#log(`replica decisions: ${(e as Error).message}`))
        .finally(() => this.start());
    }, this.#everyMs);
  }

  close(): void {
    this.#closed = true;
    this.#unlisten();
    if (this.#timer !== undefined) this.#host.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Start a replica of this node's shared portion on `node` now and give it a share (a spawn decision, by hand). */
  async spawnOn(vaddr: string, node: string): Promise<Result<string, Error>> {
    const g = this.#host.elastic.group(vaddr);
    if (g === undefined || g.role !== 'primary') return { ok: false, error: new Error(`no shared portion ${vaddr} led by this node`) };
    const s = this.#spreadOf(g);
    if (s.state.nodes.includes(node) || node === this.#host.id) return { ok: false, error: new Error(`${vaddr} already runs on ${node}`) };
    return this.#spawn(g, s, node, this.#portionView(g.vaddr, [...s.state.nodes, node]));
  }

  /** Stop the replica on `node` (a retire decision, by hand). */
  async retireFrom(vaddr: string, node: string): Promise<void> {
    const g = this.#host.elastic.group(vaddr);
    const s = this.#spreads.get(vaddr);
    if (g !== undefined && s !== undefined) await this.#retire(g, s, node);
  }

  spread(vaddr: string): Spread | undefined {
    for (const s of this.#spreads.values()) if (s.vaddrs.has(vaddr)) return s;
    return undefined;
  }

  /**
   * [c30 step 4] Where a request for a hosted address goes: a replica's UDP pair for its share of
   * the requests, or undefined to serve it here. Only requests from outside this node are split:
   * a module calling another of its portion keeps the call on its own node.
   */
  route(env: Envelope, vaddr: string): UdpAddress | undefined {
    if (this.#spreads.size === 0 || env.kind === 'rep' || env.kind === 'err' || env.kind === 'ack') return undefined;
    if (env.src.queue !== undefined && this.#host.portions.has(env.src.queue)) return undefined;
    const s = this.spread(vaddr);
    if (s === undefined || s.state.nodes.length < 2) return undefined;
    const node = s.state.nodes[pickShare(s.state.shares, this.#random())] as string;
    s.routed.set(node, (s.routed.get(node) ?? 0) + 1);
    return node === this.#host.id ? undefined : this.#host.peerUdp(node);
  }

  /** Control requests from a primary: start or stop a replica here. */
  async control(env: Envelope): Promise<unknown> {
    const b = checkBody(env.body);
    if (env.op === ReplicaOps.start) return this.#startHere(b);
    if (env.op === ReplicaOps.stop) return this.#stopHere(b);
    throw new RemoteError(Codes.NOT_FOUND, `no control operation "${env.op ?? ''}"`);
  }

  async #startHere(b: ReplicaBody): Promise<unknown> {
    const h = this.#host;
    const existing = this.#replicaGroup(b);
    if (existing !== undefined) return { iid: existing.members[0] };
    const spec = b.version === undefined ? h.makeSpec(b.app, '*', b.modules) : specFor(h, b.app, b.version, b.modules);
    if (!spec.ok) throw new RemoteError(Codes.NOT_FOUND, spec.error.message);
    const iid = spec.value.iid;
    // Trust nothing: a tagged replica runs the code its tag names, or none.
    if (b.tag !== undefined && appWideTag(decodeManifest(spec.value.manifest)) !== b.tag) {
      h.elastic.started(iid, false, b.app, b.modules);
      this.counters.tagRefused++;
      throw new RemoteError(Codes.BAD_REQUEST, `${b.app} ${b.version ?? '(live)'}: its app-wide code is not ${b.tag}`);
    }
    const r = await h.portions.start(spec.value);
    h.elastic.started(iid, r.ok, b.app, b.modules, 'replica', b.instance, b.tag);
    if (!r.ok) throw new RemoteError(Codes.UNAVAILABLE, r.error.message);
    if (b.tag !== undefined) this.counters.taggedStarted++;
    // [c26] served here under the portion's one address (a candidate's: its tagged one); [c31, c32] and its own instance address in the registry.
    for (const m of b.modules) {
      h.table.host(formatVaddr({ app: b.app, session: '*', module: m, instance: b.tag }), m, iid);
      const own = formatVaddr({ app: b.app, session: '*', module: m, instance: b.instance });
      h.table.host(own, m, iid);
      await (h.claims ?? h.registry).bind(own, { node: h.id, queue: iid, udp: h.udpAddress });
    }
    h.table.host(formatVaddr({ app: b.app, session: '*', module: '_svc' }), '_svc', iid);
    return { iid };
  }

  async #stopHere(b: ReplicaBody): Promise<unknown> {
    const g = this.#replicaGroup(b);
    if (g === undefined) return { stopped: false };
    await this.#host.stopPortion(g.members[0] as string, true);
    return { stopped: true };
  }

  #replicaGroup(b: ReplicaBody): Group | undefined {
    return this.#host.elastic.groups().find((g) => g.role === 'replica' && g.app === b.app && g.instance === b.instance && g.tag === b.tag);
  }

  async #decideAll(): Promise<void> {
    const cfg = this.#cfg as ScaleConfig;
    const groups = this.#host.elastic.groups().filter((g) => g.role === 'primary');
    for (const v of this.#spreads.keys()) if (!groups.some((g) => g.vaddr === v)) this.#spreads.delete(v);
    for (const g of groups) {
      const s = this.#spreadOf(g);
      if (s.busy) continue;
      const view = this.#portionView(g.vaddr, s.state.nodes);
      const demand = Math.max(0.01, g.occupancy * g.members.length) / Math.max(0.05, s.state.shares[0] ?? 1);
      const state: PortionState = { ...s.state, demand };
      const r = decideScale(view, state, cfg, this.#random);
      s.state = { ...state, calmSince: r.calmSince, hotSince: r.hotSince };
      s.last = r.decision.kind === 'none' ? r.decision.reason : `${r.decision.kind} ${r.decision.node}: ${r.decision.reason}`;
      if (r.decision.kind === 'spawn') await this.#spawn(g, s, r.decision.node, view);
      else if (r.decision.kind === 'retire') await this.#retire(g, s, r.decision.node);
      else if (s.state.nodes.length > 1) s.state = { ...s.state, shares: portionShares(view, s.state, this.#share) };
    }
  }

  #spreadOf(g: Group): Spread {
    let s = this.#spreads.get(g.vaddr);
    if (s === undefined) {
      const vaddrs = new Set(g.modules.map((m) => formatVaddr({ app: g.app, session: '*', module: m, instance: g.tag })));
      s = { vaddr: g.vaddr, vaddrs, state: { app: g.app, nodes: [this.#host.id], shares: [1], demand: 0 }, instances: new Map(), next: this.#numbers.get(g.vaddr) ?? 2, busy: false, routed: new Map(), last: '' };
      this.#spreads.set(g.vaddr, s);
    }
    return s;
  }

  /**
   * The cluster view as this portion sees it: on the nodes serving it, a node is as busy as its
   * instances of the portion (requests in them per instance, capped at 1) and waits what they
   * wait. A node whose portion is lock-bound is saturated for this portion although its CPU
   * idles; other nodes are judged by their own reports, every application's load included.
   */
  #portionView(vaddr: string, nodes: readonly string[]): ClusterView {
    const st = this.#host.statistics;
    const base = st.clusterView();
    return {
      now: base.now,
      nodes: base.nodes.map((r) => {
        if (!nodes.includes(r.node)) return r;
        const p = st.aggregator.node(r.node)?.portions.find((x) => x.vaddr === vaddr);
        if (p === undefined) return r;
        return { ...r, util: Math.max(r.util, Math.min(1, p.queue / Math.max(1, p.workers))), waitMs: p.waitEwmaMs };
      }),
    };
  }

  // [c25, c30 step 3] start the portion on the chosen node, then give it a share.
  async #spawn(g: Group, s: Spread, node: string, view: ClusterView): Promise<Result<string, Error>> {
    const udp = this.#host.peerUdp(node);
    if (udp === undefined) return { ok: false, error: new Error(`no peer node "${node}"`) };
    // A candidate's replica numbers carry its tag: they never meet the live group's at a node or in the registry.
    const instance = g.tag === undefined ? String(s.next++) : `${g.tag}.${s.next++}`;
    this.#numbers.set(g.vaddr, s.next);
    s.busy = true;
    try {
      const lead = this.#host.portions.spec(g.members[0] as string);
      const version = lead === undefined ? undefined : decodeManifest(lead.manifest).version;
      await this.#control(node, udp, bodyOf(g, instance, version), ReplicaOps.start);
      s.instances.set(node, instance);
      const grown: PortionState = { ...s.state, nodes: [...s.state.nodes, node], shares: [...s.state.shares, 0], changedAt: view.now };
      s.state = { ...grown, shares: portionShares(view, grown, this.#share) };
      this.#log(`${g.vaddr}: replica ${instance} on ${node}`);
      return { ok: true, value: formatVaddr({ ...parseVaddr(g.vaddr), instance }) };
    } catch (e) {
      s.state = { ...s.state, changedAt: view.now };
      this.#log(`${g.vaddr}: replica on ${node} failed: ${(e as Error).message}`);
      return { ok: false, error: e as Error };
    } finally {
      s.busy = false;
    }
  }

  // A primary's group ended: its requests are no longer split, and its replicas stop (what is on its way there is served first).
  #ended(g: Group): void {
    const s = this.#spreads.get(g.vaddr);
    if (g.role !== 'primary' || s === undefined) return;
    this.#spreads.delete(g.vaddr);
    for (const [node, instance] of s.instances) {
      const udp = this.#host.peerUdp(node);
      const stop = udp === undefined ? Promise.reject(new Error(`no peer node "${node}"`)) : this.#control(node, udp, bodyOf(g, instance), ReplicaOps.stop);
      stop.then(
        () => void this.counters.endedWithGroup++,
        (e: unknown) => {
          this.counters.stopFailed++;
          this.#log(`${g.vaddr}: stopping replica ${instance} on ${node} after its group ended: ${(e as Error).message}`);
        },
      );
    }
  }

  /** A replica start or stop sent to another node's control endpoint. */
  #control(node: string, udp: UdpAddress, body: ReplicaBody, op: string): Promise<unknown> {
    return this.#host.request({ vaddr: formatVaddr({ app: 'headend', session: node, module: 'control' }), udp }, body, op, 10_000);
  }

  async #retire(g: Group, s: Spread, node: string): Promise<void> {
    const i = s.state.nodes.indexOf(node);
    const instance = s.instances.get(node);
    if (i <= 0 || instance === undefined) return;
    // Stop routing to it first; what is already on its way there is served before it stops.
    const nodes = s.state.nodes.filter((n) => n !== node);
    const kept = s.state.shares.filter((_, k) => k !== i);
    const sum = kept.reduce((a, x) => a + x, 0);
    s.state = { ...s.state, nodes, shares: kept.map((x) => (sum > 0 ? x / sum : 1 / kept.length)), changedAt: this.#host.statistics.clusterView().now };
    s.instances.delete(node);
    const udp = this.#host.peerUdp(node);
    if (udp === undefined) return;
    s.busy = true;
    try {
      await this.#control(node, udp, bodyOf(g, instance), ReplicaOps.stop);
    } catch (e) {
      this.#log(`${g.vaddr}: stopping replica ${instance} on ${node}: ${(e as Error).message}`);
    } finally {
      s.busy = false;
    }
  }
}

/** A start or stop request for replica `instance` of group `g` (its tag, when a candidate's). */
function bodyOf(g: Group, instance: string, version?: string): ReplicaBody {
  return { app: g.app, modules: [...g.modules], instance, ...(version === undefined ? {} : { version }), ...(g.tag === undefined ? {} : { tag: g.tag }) };
}

function checkBody(body: unknown): ReplicaBody {
  const b = body as Partial<ReplicaBody> | undefined;
  const okModules = Array.isArray(b?.modules) && b.modules.length > 0 && b.modules.every((m) => typeof m === 'string');
  const okTag = b?.tag === undefined || (typeof b.tag === 'string' && TAG.test(b.tag));
  if (typeof b?.app !== 'string' || !okModules || typeof b.instance !== 'string' || (b.version !== undefined && typeof b.version !== 'string') || !okTag) {
    throw new RemoteError(Codes.BAD_REQUEST, 'replica control body must be { app, modules: string[], instance, version?: string, tag?: c and 16 hex digits }');
  }
  return { app: b.app, modules: b.modules as string[], instance: b.instance, ...(b.version === undefined ? {} : { version: b.version }), ...(b.tag === undefined ? {} : { tag: b.tag }) };
}
