// A small, honest head-end counterpart for box tests, built from the real runtime Channel and
// MQTT transport: it answers session.open (placing mutable modules with the real placement rule
// from the box's report [c5]), module.get and client-started per runtime/session.ts, runs the
// modules placed on the head-end in a real head-end sandbox (restoring moved state [c31]), and
// records everything it saw. The real head-end node (headend/node.ts) gets its own end-to-end tests.

import {
  type Address,
  Channel,
  Codes,
  type Envelope,
  type ModuleGetRequest,
  type OpenReply,
  type OpenRequest,
  RemoteError,
  type ResourceReport,
  SESSIONS_VADDR,
  STATS_VADDR,
  SessionOps,
  checkClientStarted,
  checkModuleGet,
  checkOpenRequest,
  checkReport,
  formatVaddr,
  modulesVaddr,
  parseVaddr,
} from '../../runtime/index.ts';
import { type TrustedKey, type TrustedManifest, placeModules, verifyManifest, verifyModule } from '../../runtime/app/index.ts';
import { AppSandbox, type Engine, channelHandlers } from '../../sandbox/index.ts';
import { connectMqttTransport, type MqttTransport } from '../../transport/mqtt.ts';
import type { BuiltApp } from './box-app.ts';
import { NODE } from './box-fixtures.ts';

export interface ResponderOptions {
  url: string;
  engine: Engine;
  app: BuiltApp;
  trusted: TrustedKey[];
  /** Override the placement rule for a module (default: runtime/app placeModules on the report). */
  place?: (module: string, report: ResourceReport) => 'box' | 'headend' | undefined;
  /** Refuse this many session.open requests first (NO_CAPACITY, or `refuseCode`). */
  refuse?: number;
  /** The code of those refusals (default NO_CAPACITY; REFUSED for a refusal of the app itself). */
  refuseCode?: number;
  /** The `data` of those refusals (e.g. QUOTA's `{quota: 'setups', retryAfterMs}`). */
  refuseData?: unknown;
  /** Change the code served by module.get (a tampered download). */
  tamper?: (module: string, code: Uint8Array) => Uint8Array;
  reportEveryMs?: number;
  /** Hear this many client-started and answer none (the answer lost on a loaded broker). */
  muteStarted?: number;
}

interface Hosted {
  session: string;
  box: string;
  sandbox: AppSandbox;
  channels: Map<string, Channel>;
}

export class Responder {
  readonly opens: OpenRequest[] = [];
  readonly gets: ModuleGetRequest[] = [];
  readonly started: { dst: string; modules: string[]; session: string }[] = [];
  readonly reports: ResourceReport[] = [];
  readonly closes: unknown[] = [];
  /** Requests the head-end-side modules served: module name and body. */
  readonly served: { module: string; session: string; body: unknown }[] = [];
  readonly replies: OpenReply[] = [];
  /** When set, a request to a head-end-side module waits for the promise it returns (a slow answer). */
  gate: ((module: string) => Promise<void> | undefined) | undefined;
  /** When set, the answer to a session.open waits for the promise it returns (a loaded head-end). */
  gateOpen: ((req: OpenRequest) => Promise<void> | undefined) | undefined;
  /** Opens of another version that continued the box's previous session (a version switch). */
  continued = 0;
  #o: ResponderOptions;
  #muted: number;
  #t: MqttTransport;
  #trusted!: TrustedManifest;
  #sessions: Channel;
  #modules: Channel;
  #hosted = new Map<string, Hosted>();
  #n = 0;
  /** The version each session runs now: an open of that same version naming it is a fresh one. */
  #pins = new Map<string, string>();
  #refuse: number;

  private constructor(o: ResponderOptions, t: MqttTransport) {
    this.#o = o;
    this.#muted = o.muteStarted ?? 0;
    this.#t = t;
    this.#refuse = o.refuse ?? 0;
    const write = (env: Envelope): Promise<void> => t.send(env);
    this.#sessions = new Channel({ self: { vaddr: `weft://headend/${NODE.id}/sessions` }, write, onRequest: (env) => this.#session(env) });
    this.#modules = new Channel({ self: { vaddr: modulesVaddr(NODE.id) }, write, onRequest: (env) => this.#moduleGet(env) });
    t.onEnvelope((env) => this.#dispatch(env));
  }

  static async start(o: ResponderOptions): Promise<Responder> {
    const t = await connectMqttTransport({ role: 'headend', url: o.url, id: NODE.id, password: NODE.password, log: () => {}, deadPath: { initialRttMs: 1000 } });
    const r = new Responder(o, t);
    const m = await verifyManifest(o.app.manifestBytes, o.app.signature, o.trusted);
    if (!m.ok) throw m.error;
    r.#trusted = m.value;
    return r;
  }

  /** The head-end instance of a module of a session, if it runs here. */
  hosted(session: string, module: string): boolean {
    return this.#hosted.get(session)?.sandbox.module(module) !== undefined;
  }

  /**
   * A restart that kept nothing (kill -9 with an in-memory registry): every session is forgotten,
   * and, as headend/node.ts does, a request for one is answered NO_SESSION.
   */
  forgetSessions(): void {
    for (const h of this.#hosted.values()) h.sandbox.destroy();
    this.#hosted.clear();
  }

  async close(): Promise<void> {
    for (const h of this.#hosted.values()) h.sandbox.destroy();
    this.#hosted.clear();
    await this.#t.close();
  }

  #dispatch(env: Envelope): void {
    const v = env.dst.vaddr ?? '';
    if (v === SESSIONS_VADDR || v === `weft://headend/${NODE.id}/sessions`) return this.#sessions.receive(env);
    if (v === modulesVaddr(NODE.id)) return this.#modules.receive(env);
    if (v === STATS_VADDR) {
      if (env.op === SessionOps.report) this.reports.push(checkReport(env.body));
      return;
    }
    if (env.kind === 'ctl' && env.op === SessionOps.clientStarted) {
      this.started.push({ dst: v, ...checkClientStarted(env.body) });
      if (this.#muted > 0) return void this.#muted--; // heard, not answered
    }
    try {
      const a = parseVaddr(v);
      const h = this.#hosted.get(a.session);
      if (h !== undefined) return h.channels.get(a.module)?.receive(env);
      if ((env.kind === 'req' || env.kind === 'ctl') && a.app !== 'box' && a.app !== 'headend') this.#noSession(env);
    } catch {
      /* not an address this responder hosts */
    }
  }

  async #session(env: Envelope): Promise<unknown> {
    if (env.op === SessionOps.close) {
      this.closes.push(env.body);
      return {};
    }
    if (env.op !== SessionOps.open) throw new RemoteError(Codes.NOT_FOUND, `no operation ${env.op ?? ''}`);
    const req = checkOpenRequest(env.body);
    this.opens.push(req);
    if (this.#refuse > 0) {
      this.#refuse--;
      if (this.#o.refuseCode === Codes.REFUSED) throw new RemoteError(Codes.REFUSED, 'session refused: untrusted-key', { reason: 'untrusted-key' });
      throw new RemoteError(this.#o.refuseCode ?? Codes.NO_CAPACITY, 'no node can take the session now', this.#o.refuseData);
    }
    await this.gateOpen?.(req);
    const kept = req.previous === undefined ? undefined : this.#continue(req.previous, req);
    if (kept !== undefined) return kept;
    const manifest = this.#o.app.manifest;
    const session = `s${++this.#n}`;
    const rule = placeModules(manifest, { memory: req.report.freeMemoryBytes, storage: req.report.storageFreeBytes, cpu: req.report.cpuClass });
    const modules = rule.map((p) => ({
      module: p.module,
      side: (manifest.modules.find((m) => m.name === p.module)?.kind === 'mutable' ? this.#o.place?.(p.module, req.report) : undefined) ?? p.side,
      vaddr: formatVaddr({ app: manifest.app, session, module: p.module }),
    }));
    const states = new Map((req.running ?? []).map((r) => [r.module, r.state]));
    const h: Hosted = { session, box: req.boxId, sandbox: new AppSandbox(this.#o.engine, { app: manifest.app, side: 'headend', session }), channels: new Map() };
    this.#hosted.set(session, h);
    for (const m of modules) {
      if (m.side === 'box') {
        this.#t.bind(m.vaddr, req.boxId); // [c31] the registry's record: this vaddr lives on that box
        continue;
      }
      await this.#host(h, m.module, m.vaddr, states.get(m.module));
    }
    const boot = new Set(manifest.modules.filter((m) => m.tier === 'boot').map((m) => m.name));
    const reply: OpenReply = {
      session,
      node: NODE.id,
      dasp: formatVaddr({ app: manifest.app, session, module: 'server' }),
      modules,
      download: modules.filter((m) => m.side === 'box' && !boot.has(m.module)).map((m) => m.module),
      reportEveryMs: this.#o.reportEveryMs ?? 200,
    };
    this.#pins.set(session, req.version);
    this.replies.push(reply);
    return reply;
  }

  // A version switch naming the box's session: the session, its addresses and its instance stay (the
  // head-end re-pins it, D57, or upgrades it in place); the reply is the one it had. An open of the
  // same version (a re-open after a drop) or naming another box's session is a fresh one, as before.
  #continue(previous: string, req: OpenRequest): OpenReply | undefined {
    const at = this.replies.findLast((r) => r.session === previous);
    if (at === undefined || this.#hosted.get(previous)?.box !== req.boxId || this.#pins.get(previous) === req.version) return undefined;
    this.#pins.set(previous, req.version); // a revert to the version before continues it too
    this.continued++;
    this.replies.push(at);
    return at;
  }

  async #host(h: Hosted, name: string, vaddr: string, state: Uint8Array | undefined): Promise<void> {
    const v = await verifyModule(this.#trusted, name, this.#o.app.sources[name] as Uint8Array);
    if (!v.ok) throw v.error;
    const self: Address = { vaddr };
    const handlers = channelHandlers(() => h.sandbox.module(name));
    const ch = new Channel({
      self,
      write: (env) => this.#t.send(env),
      onRequest: (env) => {
        this.served.push({ module: name, session: h.session, body: env.body });
        const wait = this.gate?.(name);
        return wait === undefined ? handlers.onRequest(env) : wait.then(() => handlers.onRequest(env));
      },
      onMessage: handlers.onMessage,
    });
    h.channels.set(name, ch);
    const loaded = h.sandbox.load(v.value, { link: ch });
    if (!loaded.ok) throw loaded.error;
    if (state !== undefined) {
      const r = loaded.value.restore(state);
      if (!r.ok) throw r.error;
    }
    const s = loaded.value.start();
    if (!s.ok) throw s.error;
  }

  #noSession(env: Envelope): void {
    const body = { code: Codes.NO_SESSION, message: 'undeliverable: no route' };
    this.#t.send({ v: 1, kind: 'err', id: 0, corr: env.id, src: { vaddr: `weft://headend/${NODE.id}/control` }, dst: env.src, body, ...(env.op === undefined ? {} : { op: env.op }) }).catch(() => undefined);
  }

  #moduleGet(env: Envelope): unknown {
    const req = checkModuleGet(env.body);
    this.gets.push(req);
    const entry = this.#o.app.manifest.modules.find((m) => m.name === req.module);
    const code = this.#o.app.sources[req.module];
    if (entry === undefined || code === undefined || entry.kind === 'server') throw new RemoteError(Codes.NOT_FOUND, `no module ${req.module}`);
    return { module: entry.name, code: this.#o.tamper?.(entry.name, code) ?? code, sha256: entry.sha256 };
  }
}
