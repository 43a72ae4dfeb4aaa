// App-wide server portions (issue 16, manifest `"scope": "app"`): one logical instance per app,
// reached by every session at `weft://<app>/*/<module>`. Its node is decided by a registry claim
// (one owner cluster-wide) and re-claimed when that node dies, restoring its checkpoint. It is the
// single writer (DECISIONS "D22 App-wide state: one writer"): threads and replicas of it forward
// to it. Requests carry ids and a bounded window drops retried duplicates (shared-dedup.ts).
// Starts, claims, forwards and remembers replies; routes nothing itself (the node's dispatch does).

import { ArgumentError, Codes, formatVaddr, ok, parseVaddr, rejectUnknown, type Envelope, type Result } from '../../runtime/index.ts';
import { DEDUP_MAX_ENTRIES, DedupWindow, dedupKey } from './shared-dedup.ts';
import { bounded, decodeCheckpoint, encodeCheckpoint } from './shared-checkpoint.ts';
import { CHECKPOINT_TIMEOUT_MS, MAX_JOINED, OPTIONS, answer, appWideInstanceId, appWideModules, replyKey, v0Of, type AppWideCounters, type AppWideHost, type AppWideOptions, type Pending, type Writer } from './shared-parts.ts';

export { MemoryCheckpoints, decodeCheckpoint, encodeCheckpoint, type SharedCheckpoints } from './shared-checkpoint.ts';
export { appWideInstanceId, appWideModules, type AppWideCounters, type AppWideHost, type AppWideOptions } from './shared-parts.ts';

export class AppWide {
  readonly counters: AppWideCounters = { started: 0, restored: 0, takenOver: 0, forwarded: 0, duplicates: 0, checkpoints: 0, checkpointFailures: 0, demoted: 0, withheld: 0 };
  readonly #h: AppWideHost;
  readonly #o: AppWideOptions;
  readonly #writers = new Map<string, Writer>();
  readonly #inflight = new Map<string, Promise<Result<string | undefined, Error>>>();
  readonly #unwatch: () => void;

  constructor(host: AppWideHost, options: AppWideOptions = {}) {
    rejectUnknown('AppWideOptions', options, OPTIONS);
    for (const k of ['dedupEntries', 'dedupAgeMs'] as const) {
      const v = options[k];
      if (v !== undefined && !(Number.isInteger(v) && v > 0)) throw new ArgumentError(`AppWideOptions: ${k} must be a positive integer, got ${String(v)}`, k);
    }
    if (options.checkpoints !== undefined && (typeof options.checkpoints.save !== 'function' || typeof options.checkpoints.load !== 'function')) {
      throw new ArgumentError('AppWideOptions: checkpoints must have save(id, bytes) and load(id)', 'checkpoints');
    }
    this.#h = host;
    this.#o = options;
    // [fencing] a node judged dead while it still ran loses its claim to a survivor: when the
    // registry says the claim moved, this writer stops, so two writers never both answer for long.
    this.#unwatch = host.registry.watch((c) => {
      if (c.kind === 'reset' || (c.kind === 'location' && [...this.#writers.values()].some((w) => c.vaddr === v0Of(w)))) void this.#fence();
    });
  }

  /** The writer's duplicate window of an app on this node (tests, the dashboard). */
  window(app: string): DedupWindow | undefined {
    return this.#writers.get(app)?.window;
  }

  writerIid(app: string): string | undefined {
    return this.#writers.get(app)?.iid;
  }

  /** `weft://<app>/*\/<module>` for a session's view of an app-wide module, else undefined. */
  sharedAddress(vaddr: string): string | undefined {
    let v;
    try {
      v = parseVaddr(vaddr);
    } catch {
      return undefined;
    }
    if (v.session === '*' || v.instance !== undefined) return undefined;
    const entry = this.#h.catalog.get(v.app)?.manifest.modules.find((m) => m.name === v.module);
    return entry?.scope === 'app' ? formatVaddr({ app: v.app, session: '*', module: v.module }) : undefined;
  }

  /**
   * Make sure the app's app-wide instance runs somewhere: the node its claim names while that node
   * lives, else here (a claim taken over from a dead node restores its checkpoint). Gives the node.
   */
  ensure(app: string): Promise<Result<string | undefined, Error>> {
    const running = this.#inflight.get(app);
    if (running !== undefined) return running;
    const p = this.#ensure(app).finally(() => this.#inflight.delete(app));
    this.#inflight.set(app, p);
    return p;
  }

  /** A peer died: re-claim the app-wide instances it ran (every survivor tries; the claim decides). */
  async replaceFrom(dead: string): Promise<number> {
    let n = 0;
    for (const app of this.#h.catalog.names()) {
      const pub = this.#h.catalog.get(app);
      const mods = pub === undefined ? [] : appWideModules(pub.manifest);
      if (mods.length === 0) continue;
      const rec = await this.#h.registry.lookup(formatVaddr({ app, session: '*', module: mods[0] as string }));
      if (rec?.node !== dead) continue;
      const r = await this.ensure(app);
      if (r.ok && r.value === this.#h.id) n++;
    }
    return n;
  }

  async #ensure(app: string): Promise<Result<string | undefined, Error>> {
    const h = this.#h;
    const pub = h.catalog.get(app);
    const modules = pub === undefined ? [] : appWideModules(pub.manifest);
    if (modules.length === 0) return ok(undefined);
    if (this.#writers.has(app)) return ok(h.id);
    const v0 = formatVaddr({ app, session: '*', module: modules[0] as string });
    const cur = await h.registry.lookup(v0);
    // The owner stands while it is a member that has not been declared dead (a node that left or
    // never came back after a restart has no member record).
    if (cur !== undefined && cur.node !== h.id && h.isAlive(cur.node) !== false && (await h.isMember(cur.node))) return ok(cur.node);
    const spec = h.makeSpec(app, '*', modules);
    if (!spec.ok) return spec;
    const loc = { node: h.id, queue: spec.value.iid, udp: h.udpAddress };
    // [one owner] the claim decides: a bind, or a move away from a dead (or restarted) owner.
    const claim = cur === undefined ? await h.registry.bind(v0, loc) : await h.registry.move(v0, loc, cur.epoch);
    if (!claim.ok) {
      h.elastic.started(spec.value.iid, false, app, modules);
      return ok(claim.error.current?.node);
    }
    if (cur !== undefined) this.counters.takenOver++;
    // Claim first, then read the checkpoint: a writer judged dead that still runs checks its claim
    // after each checkpoint and before it answers (#commit), so whatever it answered is in here.
    const saved = await this.#o.checkpoints?.load(appWideInstanceId(app)).catch(() => undefined);
    const restored = saved === undefined ? undefined : decodeCheckpoint(saved);
    if (restored !== undefined) spec.value.states = restored.states;
    const r = await h.portions.start(spec.value);
    h.elastic.started(spec.value.iid, r.ok, app, modules, 'primary');
    if (!r.ok) {
      await h.registry.unbind(v0, claim.value.epoch);
      return r;
    }
    for (const m of modules) {
      const v = formatVaddr({ app, session: '*', module: m });
      h.table.host(v, m, spec.value.iid);
      if (v === v0) continue;
      const b = await h.registry.bind(v, loc);
      if (!b.ok && b.error.current !== undefined) await h.registry.move(v, loc, b.error.current.epoch);
    }
    h.table.host(formatVaddr({ app, session: '*', module: '_svc' }), '_svc', spec.value.iid);
    const window = new DedupWindow(h.clock, this.#o.dedupEntries, this.#o.dedupAgeMs);
    if (restored !== undefined) {
      window.restore(restored.window);
      this.counters.restored++;
    }
    this.#writers.set(app, { app, iid: spec.value.iid, modules, window, pending: new Map(), byKey: new Map(), held: [], saving: false });
    this.counters.started++;
    h.log(`app-wide ${app}: ${modules.join(', ')} runs here as ${spec.value.iid}${restored === undefined ? '' : ' (restored from its checkpoint)'}`);
    return ok(h.id);
  }

  /**
   * An envelope for instance `iid` of an app-wide module: forwarded to the writer (from a thread or
   * replica), answered from the duplicate window, or delivered. False: not an app-wide instance.
   */
  front(iid: string, module: string, env: Envelope): boolean {
    const spec = this.#h.portions.spec(iid);
    if (spec === undefined || spec.session !== '*') return false;
    const w = this.#writers.get(spec.app);
    if (w === undefined) {
      if (this.#h.catalog.get(spec.app)?.manifest.modules.find((m) => m.name === module)?.scope !== 'app') return false;
      this.#toWriter(spec.app, module, env);
      return true;
    }
    if (env.kind !== 'req') return this.#h.portions.deliver(w.iid, module, env);
    const key = dedupKey(spec.app, env);
    const seen = w.window.see(key);
    if (seen.kind === 'new') {
      // Bounded like the window: a request whose instance never answered is dropped oldest first.
      const oldest = w.pending.size >= DEDUP_MAX_ENTRIES ? w.pending.entries().next().value : undefined;
      if (oldest !== undefined) void (w.pending.delete(oldest[0]), w.byKey.delete(oldest[1].key));
      const p: Pending = { key, joined: [] };
      w.pending.set(replyKey(env.id, env.src), p);
      w.byKey.set(key, p);
      if (!this.#h.portions.deliver(w.iid, module, env)) this.#abandon(w, env);
      return true;
    }
    this.counters.duplicates++;
    if (seen.kind === 'pending') {
      const p = w.byKey.get(key);
      if (p !== undefined && p.joined.length < MAX_JOINED) p.joined.push(env);
      return true;
    }
    const body = seen.reply.json === undefined ? { duplicate: true } : (JSON.parse(seen.reply.json) as unknown);
    this.#h.send(answer(env, seen.reply.kind, body, this.#h.udpAddress));
    return true;
  }

  /** A reply from an instance (its source stamped): true when this manager sends it on (held for a checkpoint). */
  replied(env: Envelope, iid: string): boolean {
    if ((env.kind !== 'rep' && env.kind !== 'err') || env.corr === undefined) return false;
    const w = [...this.#writers.values()].find((x) => x.iid === iid);
    const p = w?.pending.get(replyKey(env.corr, env.dst));
    if (w === undefined || p === undefined) return false;
    w.pending.delete(replyKey(env.corr, env.dst));
    w.byKey.delete(p.key);
    w.window.done(p.key, env.kind, env.body);
    const out = [env, ...p.joined.map((d) => answer(d, env.kind as 'rep' | 'err', env.body, this.#h.udpAddress, env.src))];
    if (this.#o.checkpoints === undefined) {
      for (const e of out.slice(1)) this.#h.send(e);
      return false;
    }
    w.held.push(...out);
    void this.#commit(w);
    return true;
  }

  /** The instance's state as one checkpoint: module snapshots (its storage included) and the window. */
  async snapshot(app: string): Promise<Result<Uint8Array, Error>> {
    const w = this.#writers.get(app);
    if (w === undefined) return { ok: false, error: new Error(`no app-wide instance of ${app} here`) };
    const s = await this.#h.portions.snapshot(w.iid);
    if (!s.ok) return s;
    return ok(encodeCheckpoint(app, s.value, w.window.records()));
  }

  /** The node is leaving: give the claims back so the next session's node takes them at once. */
  async close(): Promise<void> {
    this.#unwatch();
    const h = this.#h;
    for (const w of this.#writers.values()) {
      for (const m of w.modules) {
        const v = formatVaddr({ app: w.app, session: '*', module: m });
        const rec = await h.registry.lookup(v).catch(() => undefined);
        if (rec !== undefined && rec.node === h.id && rec.queue === w.iid) await h.registry.unbind(v, rec.epoch).catch(() => undefined);
      }
    }
    this.#writers.clear();
  }

  // Group commit: replies leave after a checkpoint taken after they were produced.
  async #commit(w: Writer): Promise<void> {
    if (w.saving) return;
    w.saving = true;
    try {
      while (w.held.length > 0) {
        const batch = w.held.splice(0);
        try {
          await bounded(this.#h.clock, this.#checkpoint(w.app), CHECKPOINT_TIMEOUT_MS);
          this.counters.checkpoints++;
        } catch (e) {
          // Availability over durability: the replies still go; the failure is counted and logged.
          this.counters.checkpointFailures++;
          this.#h.log(`app-wide ${w.app}: checkpoint failed: ${(e as Error).message}`);
        }
        // [fencing] answer only while the claim is still this writer's: a successor read the
        // checkpoint after its claim, so what it may lack was never acknowledged (the sender retries there).
        const rec = await this.#h.registry.lookup(v0Of(w)).catch(() => null);
        if (rec !== null && (rec?.node !== this.#h.id || rec.queue !== w.iid)) {
          this.counters.withheld += batch.length;
          void this.#fence();
          return;
        }
        for (const e of batch) this.#h.send(e);
      }
    } finally {
      w.saving = false;
    }
  }

  async #fence(): Promise<void> {
    const h = this.#h;
    for (const [app, w] of [...this.#writers]) {
      const rec = await h.registry.lookup(v0Of(w)).catch(() => null);
      if (rec === null || (rec !== undefined && rec.node === h.id && rec.queue === w.iid)) continue;
      if (this.#writers.get(app) !== w) continue;
      this.#writers.delete(app);
      this.counters.demoted++;
      h.log(`app-wide ${app}: the claim moved to ${rec?.node ?? 'nobody'}; stopping ${w.iid} here`);
      await h.stopInstance(w.iid).catch(() => undefined);
    }
  }

  async #checkpoint(app: string): Promise<void> {
    const snap = await this.snapshot(app);
    if (!snap.ok) throw snap.error;
    await this.#o.checkpoints?.save(appWideInstanceId(app), snap.value);
  }

  #abandon(w: Writer, env: Envelope): void {
    const p = w.pending.get(replyKey(env.id, env.src));
    w.pending.delete(replyKey(env.id, env.src));
    if (p !== undefined) {
      w.byKey.delete(p.key);
      w.window.forget(p.key);
    }
  }

  // [single writer] a thread or replica of the instance sends the request on to the writer's queue,
  // unchanged (same id and source), so the writer's window sees one request however it arrived.
  #toWriter(app: string, module: string, env: Envelope): void {
    const h = this.#h;
    const v = formatVaddr({ app, session: '*', module });
    this.counters.forwarded++;
    h.registry
      .lookup(v)
      .then((rec) => {
        if (rec === undefined || rec.queue === undefined || rec.node === h.id) throw new Error(`no writer for ${v}`);
        if (rec.udp === undefined) throw new Error(`no UDP pair for the writer of ${v}`);
        h.sendUdp({ ...env, dst: { vaddr: v, queue: rec.queue, udp: rec.udp } });
      })
      .catch((e: unknown) => {
        if (env.kind === 'req') h.send(answer(env, 'err', { code: Codes.UNAVAILABLE, message: `${(e as Error).message}: retry` }, h.udpAddress));
      });
  }
}

