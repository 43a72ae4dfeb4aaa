// Session setup on the head-end [c26, c41-c45]: a box asks for a server portion; the balancer
// picks a node from the statistics [c43]; the portion starts there with its virtual addresses;
// mutable modules are placed from the box's resources [c5]; the box downloads its modules from
// the selected node [c41]. Also the node-to-node control operations and re-placement after a
// node dies.

import {
  Codes,
  RemoteError,
  TimeoutError,
  SessionOps,
  VADDR_SCHEME,
  checkModuleGet,
  checkOpenRequest,
  formatVaddr,
  type Address,
  type Clock,
  type Envelope,
  type OpenReply,
  type OpenRequest,
  type ResourceReport,
  type Result,
  type UdpAddress,
} from '../runtime/index.ts';
import { placeModules } from '../runtime/app/index.ts';
import { openReply, placedModules } from './session-reply.ts';
import type { AppCatalog } from './app-catalog.ts';
import { SessionRefusals } from './session-refusal.ts';
import type { ClusterView, PlacementPolicy } from '../policy/index.ts';
import type { Registry, SessionRecord } from './registry/registry.ts';
import { SessionSwitch } from './session-switch.ts';
import { LateOpens } from './session-late.ts';
import { Admission } from './admission.ts';
import { Elsewhere, pairingOf } from './session-pairing.ts';
import type { StatisticsProcess } from './stats/statistics-process.ts';
import type { BoxLocations } from './node/box-locations.ts';
import { boxPrincipal } from './node/box-ingress.ts';
import { SessionQuota, quotaError, resolveQuotas, type BoxQuotas } from './node/quotas.ts';
import { TokenBuckets } from '../transport/mqtt-ingress.ts';
import { Endpoint } from './node/endpoints.ts';
import { BOX_APP } from '../transport/mqtt-topics.ts';
import { Membership } from './node/membership.ts';
import { PortionOwned } from './portions/start-once.ts';
import { appWideModules } from './portions/shared-app.ts';
import { ControlOps, checkStartBody, sessionIdFor, type StartBody } from './session-wire.ts';
import { LiveSessions } from './live-sessions.ts';

export { ControlOps, checkStartBody, sessionIdFor, type StartBody } from './session-wire.ts';

/** What the session manager needs of its node (HeadendNode satisfies it). */
export interface SessionHost {
  readonly id: string;
  readonly registry: Registry;
  readonly catalog: AppCatalog;
  readonly policy: PlacementPolicy;
  readonly statistics: StatisticsProcess;
  /** Which box hosts a module placed on a box (written only through BoxLocations). */
  readonly boxes: BoxLocations;
  readonly clock: Clock;
  peerUdp(node: string): UdpAddress | undefined;
  /** Stop every instance this node runs for a session; how many were stopped. */
  stopSession(session: string): Promise<number>;
  /** Start once in the cluster; a PortionOwned error names the node that runs it (start-once.ts). */
  startPortion(app: string, session: string, modules: string[], states?: Record<string, Uint8Array>, from?: string): Promise<Result<string, Error>>;
  request(dst: Address, body: unknown, op: string, timeoutMs?: number): Promise<unknown>;
  /** The app's app-wide instance runs somewhere (issue 16): the node, or an error. */
  ensureAppWide?(app: string, version?: string): Promise<Result<string | undefined, Error>>;
  /** Active while the node drains (node/drain.ts): it places no new work on itself. */
  readonly drainer?: { readonly active: boolean };
  /** Switch a session's portion here to another app version, state included [issue 15.6]. */
  upgradeSession?(session: string, version: string, modules?: string[]): Promise<Result<string, Error>>;
}

/** How long the placing node waits for a remote portion.start, ms, before asking who runs it. */
const START_TIMEOUT_MS = 10_000;

/** A promise that never settles: the answer to a request another node is answering. */
const NEVER: Promise<never> = new Promise(() => {});

export class SessionManager {
  #host: SessionHost;
  #live = new LiveSessions();
  /** Sessions per box, bounded (docs/SECURITY.md, "quotas"). */
  readonly #quota: SessionQuota;
  /** module.get per box. */
  readonly #downloads: TokenBuckets;
  readonly #downloadLimit: number;
  readonly counters = { opened: 0, closed: 0, refused: 0, replaced: 0, downloads: 0, reports: 0, startTimeouts: 0, mismatched: 0, replaceMismatched: 0 };
  /** Every box report taken (its sender checked): the rollout tally reads probation outcomes from it (issue 15). */
  onReport: (report: ResourceReport) => void = () => {};

  /** Sessions refused because of the app itself (untrusted key, tampered, ...), by reason (issue 16). */
  readonly refusals: SessionRefusals;
  /** Sessions whose box switched app version: their portion switches in place [issue 15.6]. */
  readonly switches: SessionSwitch;
  /** Opens that finished after their box gave up: ended at once [issue 19.6]. */
  readonly lateOpens: LateOpens;
  readonly admission: Admission; // [issue 19.6] past its setup capacity the node answers QUOTA at once

  constructor(host: SessionHost, quotas?: BoxQuotas, log: (line: string) => void = () => {}) {
    this.#host = host;
    this.refusals = new SessionRefusals(host.clock, log);
    this.switches = new SessionSwitch(host);
    const q = resolveQuotas(quotas);
    this.lateOpens = new LateOpens(() => this.#host, (rec) => this.#end(rec), q.unconfirmedMs);
    this.#quota = new SessionQuota(q, async (id) => (await host.registry.getSession(id)) !== undefined);
    this.#downloads = new TokenBuckets(q.downloads, host.clock, q.boxes);
    this.#downloadLimit = q.downloads.burst;
    this.admission = new Admission(host.clock, q.setups);
  }

  get count(): number {
    return this.#live.size;
  }

  /** [19.6] Kept as sessions come and go: the node's report does not pass over every session. */
  perApp(): Record<string, number> {
    return this.#live.perApp();
  }

  boxOfSession(_app: string, session: string): string | undefined {
    return this.#live.get(session)?.box;
  }

  /** The app and box of a session opened here (the MQTT ingress checks ownership with it). */
  ownerOf(session: string): { app: string; box: string } | undefined {
    return this.#live.get(session);
  }

  /** The session's portion moved to another node: it no longer counts here. */
  moved(session: string): void {
    this.#live.delete(session);
    this.lateOpens.settled(session);
    this.#host.catalog.unpin(session);
  }

  /** Requests to the session ingress. */
  handle(env: Envelope): Promise<unknown> {
    if (env.op === SessionOps.open) {
      const req = checkOpenRequest(env.body);
      // Identity from authentication: a box opens sessions for itself only.
      const by = boxPrincipal(env);
      if (by !== undefined && by !== req.boxId) {
        this.counters.refused++;
        return Promise.reject(new RemoteError(Codes.FORBIDDEN, `box ${by} cannot open a session for box ${req.boxId}`, { reason: 'identity' }));
      }
      return this.admission.run(env.deadline, () => this.open(req, sessionIdFor(env), env.id).then((r) => this.lateOpens.settle(env, r, (s) => this.#live.has(s))));
    }
    if (env.op === SessionOps.close) return this.close(env);
    return Promise.reject(new RemoteError(Codes.NOT_FOUND, `no session operation "${env.op ?? ''}"`));
  }

  /**
   * Open a session. `id` is derived from the request itself, so when two nodes hear the same
   * request (broadcast ingress, a failover) the registry lets exactly one of them claim it; the
   * other stays silent and the box gets one answer.
   */
  async open(req: OpenRequest, id = sessionIdFor(undefined), order?: number): Promise<OpenReply> {
    const h = this.#host;
    if (h.catalog.get(req.app) === undefined) {
      this.counters.refused++;
      throw new RemoteError(Codes.NOT_FOUND, `no app "${req.app}"`);
    }
    // [issue 15.6] the box pairs with the server portion of exactly the version it runs, or none.
    const pub = h.catalog.get(req.app, req.version) ?? (await h.catalog.resolve(req.app, req.version)); // not synced here yet: one sync first
    if (pub === undefined) {
      this.counters.mismatched++;
      throw new RemoteError(Codes.VERSION_MISMATCH, `${req.app} ${req.version} is not served here (serving ${h.catalog.versions(req.app).join(', ')}); open again on the version the carousel names`, { app: req.app, version: req.version, serving: h.catalog.versions(req.app) });
    }
    if (req.previous !== undefined) {
      const r = await this.switches.open({ ...req, previous: req.previous }, pub, (old) => this.#end(old), order); // [D96] the box's order: its envelope id
      if (r !== undefined) return r;
    }
    try {
      await this.#quota.reserve(req.boxId, id);
    } catch (e) {
      this.counters.refused++;
      throw e;
    }
    try {
      return await this.#open(req, id, pub);
    } catch (e) {
      this.#quota.release(req.boxId, id);
      h.catalog.unpin(id);
      if (e instanceof RemoteError && e.remoteCode === Codes.REFUSED) this.counters.refused++;
      // Refused by a draining node: the box opens again elsewhere, under a new id; drop this claim.
      if (e instanceof RemoteError && e.remoteCode === Codes.DRAINING) await this.#host.registry.deleteSession(id).catch(() => false);
      throw e;
    }
  }

  async #open(req: OpenRequest, id: string, pub: NonNullable<ReturnType<AppCatalog['get']>>): Promise<OpenReply> {
    const h = this.#host;
    // [c5] mutable modules go to the box only when its reported resources cover their needs.
    // App-wide modules are no session's: they run once for the app (portions/shared-app.ts).
    const wide = appWideModules(pub.manifest);
    const placements = placeModules(pub.manifest, { memory: req.report.freeMemoryBytes, storage: req.report.storageFreeBytes, cpu: req.report.cpuClass }).filter((p) => !wide.includes(p.module));
    const session = id;
    const sides = Object.fromEntries(placements.map((p) => [p.module, p.side]));
    // One registry write claims the session with its placements; a module on the box is found
    // through this record (its box), so it needs no location record of its own.
    const claim = await h.registry.createSession({ id: session, app: req.app, box: req.boxId, node: h.id, placements: sides, appVersion: pub.manifest.version });
    if (!claim.ok) {
      if (claim.error.reason === 'exists') {
        this.#quota.release(req.boxId, session);
        return NEVER as Promise<OpenReply>; // another node has it
      }
      throw new RemoteError(Codes.UNAVAILABLE, `could not record session ${session}: ${claim.error.reason}`);
    }
    this.#quota.opened(req.boxId, session);
    h.catalog.pin(session, pub.manifest.app, pub.manifest.version);
    const onHeadend = placements.filter((p) => p.side === 'headend').map((p) => p.module);
    const states: Record<string, Uint8Array> = {};
    for (const r of req.running ?? []) if (onHeadend.includes(r.module)) states[r.module] = r.state;
    if (wide.length > 0) await this.#appWide(req.app, pub.manifest.version);
    const node = onHeadend.length === 0 ? h.id : await this.#startSomewhere(req.app, session, onHeadend, states, req.boxId);
    if (onHeadend.length === 0) this.#record(session, req.app, req.boxId);
    const modules = placedModules(pub.manifest, session, placements, wide);
    for (const m of modules) if (m.side === 'box') h.boxes.set(m.vaddr, req.boxId);
    if (node !== h.id) await h.registry.updateSession(session, { node }, claim.value.version);
    if (node !== h.id) h.catalog.unpin(session); // its host pinned it (portion.start carries the version)
    this.counters.opened++;
    return openReply(pub.manifest, session, node, modules, onHeadend, wide);
  }

  /** `session.close`: the box ended the session; its portion stops wherever it runs and the record goes. */
  async close(env: Envelope): Promise<unknown> {
    const b = env.body as { session?: unknown } | undefined;
    if (typeof b?.session !== 'string' || b.session.length === 0 || b.session.length > 64) throw new RemoteError(Codes.BAD_REQUEST, 'session.close: session must be a session id');
    const h = this.#host;
    const rec = await h.registry.getSession(b.session);
    if (rec === undefined) return { closed: false };
    // Only the box the session belongs to may close it (the MQTT ingress proves the box).
    const from = env.src.vaddr ?? '';
    const by = boxPrincipal(env);
    const own = from.startsWith(`${VADDR_SCHEME}${BOX_APP}/${rec.box}/`) || from.startsWith(`${VADDR_SCHEME}${rec.app}/${rec.id}/`);
    if (!own || (by !== undefined && by !== rec.box)) throw new RemoteError(Codes.FORBIDDEN, 'a session is closed by its own box');
    await this.#end(rec);
    return { closed: true };
  }

  // A session ends: its portion stops wherever it runs and the record goes.
  async #end(rec: SessionRecord): Promise<void> {
    const h = this.#host;
    const udp = h.peerUdp(rec.node);
    if (rec.node === h.id) await h.stopSession(rec.id);
    else if (udp !== undefined) await h.request({ vaddr: Membership.vaddr(rec.node, Endpoint.control), udp }, { session: rec.id }, ControlOps.stop).catch(() => undefined);
    h.boxes.forgetSession(rec.app, rec.id, Object.keys(rec.placements));
    await h.registry.deleteSession(rec.id);
    this.#live.delete(rec.id);
    this.lateOpens.settled(rec.id);
    this.#quota.release(rec.box, rec.id);
    h.catalog.unpin(rec.id);
    this.counters.closed++;
  }

  /** `module.get` [c41]: the code of a module of the session's app, from this node. */
  moduleGet(env: Envelope): unknown {
    const req = checkModuleGet(env.body);
    const box = boxPrincipal(env);
    if (box !== undefined && !this.#downloads.take(box)) {
      this.counters.refused++;
      throw quotaError('downloads', `box ${box} is over its module download rate`, this.#downloadLimit);
    }
    const live = this.#live.get(req.session);
    if (box !== undefined && live !== undefined && live.box !== box) throw new RemoteError(Codes.FORBIDDEN, `session ${req.session} is not box ${box}'s`);
    const app = live?.app ?? env.src.vaddr?.split('/')[2];
    const pub = app === undefined ? undefined : this.#host.catalog.forSession(app, req.session);
    const entry = pub?.manifest.modules.find((m) => m.name === req.module);
    if (pub === undefined || entry === undefined) throw new RemoteError(Codes.NOT_FOUND, `no module "${req.module}" for session ${req.session}`);
    if (entry.kind === 'server' || entry.kind === 'peer') throw new RemoteError(Codes.FORBIDDEN, `module "${req.module}" runs on the head-end only`);
    this.counters.downloads++;
    return { module: entry.name, code: pub.sources[entry.name], sha256: entry.sha256 };
  }

  /** Node-to-node control: start a portion here for a session placed by another node. */
  async control(env: Envelope): Promise<unknown> {
    if (env.op === ControlOps.stop) {
      const id = (env.body as { session?: unknown } | undefined)?.session;
      if (typeof id !== 'string') throw new RemoteError(Codes.BAD_REQUEST, 'portion.stop: session must be a session id');
      const live = this.#live.get(id);
      if (live !== undefined) this.#quota.release(live.box, id);
      this.#live.delete(id);
      this.#host.catalog.unpin(id);
      return { stopped: await this.#host.stopSession(id) };
    }
    if (env.op === ControlOps.upgrade) return this.switches.control(env.body);
    if (env.op !== ControlOps.start) throw new RemoteError(Codes.NOT_FOUND, `no control operation "${env.op ?? ''}"`);
    const b = checkStartBody(env.body);
    // A draining node takes no new portion; the placing node runs it itself (#startSomewhere).
    if (this.#host.drainer?.active === true && b.from === undefined) throw new RemoteError(Codes.DRAINING, `node ${this.#host.id} is draining`);
    if (b.version !== undefined && this.#host.catalog.get(b.app, b.version) === undefined) await this.#host.catalog.resolve(b.app, b.version); // not synced here yet: one sync first
    if (b.version !== undefined) this.#host.catalog.pin(b.session, b.app, b.version);
    const undo = b.box === undefined ? () => {} : this.#hosting(b.session, b.app, b.box);
    const r = await this.#host.startPortion(b.app, b.session, b.modules, b.states, b.from);
    if (!r.ok) undo();
    if (!r.ok && b.version !== undefined) this.#host.catalog.unpin(b.session);
    // [c31] already running (a retry, or another node won the claim): say where, start nothing.
    if (!r.ok && r.error instanceof PortionOwned) return { iid: r.error.iid, node: r.error.node };
    if (!r.ok) throw new RemoteError(Codes.UNAVAILABLE, r.error.message);
    return { iid: r.value, node: this.#host.id };
  }

  // The session's portion runs here: it counts in this node's load and its box is known here.
  #record(session: string, app: string, box: string): void {
    if (session !== '*') this.#live.set(session, { app, box });
  }

  // [D16] Counted from when this node takes the start (a balancer trusts reports measured after its decision).
  #hosting(session: string, app: string, box: string): () => void {
    if (this.#live.has(session)) return () => {};
    this.#record(session, app, box);
    return () => void this.#live.delete(session);
  }

  /** A box's periodic resource report [c5]: counted; placement uses the report session.open carries. */
  boxReport(env: Envelope): void {
    const r = env.body as ResourceReport | undefined;
    if (r === undefined || typeof r.boxId !== 'string') return;
    const by = boxPrincipal(env);
    if (by !== undefined && by !== r.boxId) {
      this.counters.refused++;
      return;
    }
    this.counters.reports++;
    this.onReport(r);
  }

  /** Re-place the sessions of a dead node [c16] on live nodes, each on the version its box runs [issue 15.6]. */
  async replaceFrom(dead: string): Promise<number> {
    const h = this.#host;
    const sessions = await h.registry.listSessions({ node: dead });
    const elsewhere = new Elsewhere(h, dead); // a version not served here may still be served by another live node
    let n = 0;
    for (const s of sessions) {
      const pair = await pairingOf(h.catalog, s);
      if (pair.kind === 'mismatch' && (await elsewhere.place(s, pair.version)) === undefined) this.counters.replaceMismatched++; // given up
      if (pair.kind !== 'serve') continue;
      if (pair.version !== undefined) h.catalog.pin(s.id, s.app, pair.version); // its start (here or portion.start) takes that version
      const modules = Object.entries(s.placements).filter(([, side]) => side === 'headend').map(([m]) => m);
      const node = modules.length === 0 ? h.id : await this.#startSomewhere(s.app, s.id, modules, {}, s.box, dead);
      if (node !== h.id) h.catalog.unpin(s.id);
      await h.registry.updateSession(s.id, { node }, s.version);
      n++;
    }
    this.counters.replaced += n + elsewhere.placed;
    return n + elsewhere.placed;
  }

  // The app's app-wide instance must run before a session may reach it; its failure refuses the session.
  async #appWide(app: string, version: string): Promise<void> {
    const r = await this.#host.ensureAppWide?.(app, version); // its version's app-wide code (issue 15.6)
    if (r === undefined || r.ok) return;
    throw this.refusals.refuse(app, version, r.error.message) ?? new RemoteError(Codes.UNAVAILABLE, `could not start ${app}'s app-wide modules: ${r.error.message}`);
  }

  // [c41 step 3, c43] the balancer picks from the cluster view; this node starts it or asks the
  // chosen one. [c31] one instance per session: a start that times out is resolved by asking the
  // registry (who claimed it) and the remote again (portion.start is idempotent), never by
  // starting a second copy; only an unclaimed portion is started here, and the claim decides.
  async #startSomewhere(app: string, session: string, modules: string[], states: Record<string, Uint8Array>, box: string, dead?: string): Promise<string> {
    const h = this.#host;
    const view: ClusterView = h.statistics.clusterView();
    const draining = h.drainer?.active === true;
    const exclude = [...(dead === undefined ? [] : [dead]), ...(draining ? [h.id] : [])];
    const choice = view.nodes.length === 0 ? undefined : h.policy.place(view, { app, cost: 1, exclude });
    const chosen = choice?.ok === true ? choice.value.node : h.id;
    const udp = h.peerUdp(chosen);
    const v0 = formatVaddr({ app, session, module: modules[0] ?? '' });
    if (chosen !== h.id && udp !== undefined) {
      const version = h.catalog.pinned(session);
      const body: StartBody = { app, session, modules, states, box, ...(dead === undefined ? {} : { from: dead }), ...(version === undefined ? {} : { version }) };
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          const r = (await h.request({ vaddr: Membership.vaddr(chosen, Endpoint.control), udp }, body, ControlOps.start, START_TIMEOUT_MS)) as { node?: unknown } | undefined;
          return typeof r?.node === 'string' ? r.node : chosen;
        } catch (e) {
          if (!(e instanceof TimeoutError)) break; // it could not start it: run it here
          this.counters.startTimeouts++;
          const owner = await h.registry.lookup(v0);
          if (owner !== undefined && owner.node !== dead) return owner.node;
        }
      }
    }
    // [issue 17] a draining node never runs new work itself: DRAINING, and the box opens again.
    if (draining) throw new RemoteError(Codes.DRAINING, `node ${h.id} is draining and no other node took ${app}`);
    const undo = this.#hosting(session, app, box);
    const r = await h.startPortion(app, session, modules, states, dead);
    if (!r.ok) undo();
    if (!r.ok && r.error instanceof PortionOwned) return r.error.node;
    if (!r.ok) {
      const version = h.catalog.get(app)?.manifest.version ?? '?';
      throw this.refusals.refuse(app, version, r.error.message) ?? new RemoteError(Codes.UNAVAILABLE, `could not start ${app} for ${session}: ${r.error.message}`);
    }
    return h.id;
  }
}
