// App-wide server portions (issue 16, manifest `"scope": "app"`): one logical instance per app
// and app-wide code (issue 15.6: versions whose app-wide code differs run side by side, each
// session reaching its own version's, shared-versions.ts), claimed at `weft://<app>/*/<module>/<tag>`;
// the live code's instance also answers at `weft://<app>/*/<module>`. Its node is decided by a
// registry claim (one owner cluster-wide) and re-claimed when that node dies, restoring its
// checkpoint. It is the single writer (DECISIONS "D22 App-wide state: one writer"): threads and
// replicas of it forward to it. Requests carry ids and a bounded window drops retried duplicates
// (shared-dedup.ts). An instance of a code no session pins any more stops (shared-retire.ts).
// Starts, claims, forwards and remembers replies; routes nothing itself (the node's dispatch does).

import { ArgumentError, formatVaddr, ok, parseVaddr, rejectUnknown, type Envelope, type Result } from '../../runtime/index.ts';
import { DEDUP_MAX_ENTRIES, DedupWindow, dedupKey } from './shared-dedup.ts';
import { bounded, decodeCheckpoint, encodeCheckpoint } from './shared-checkpoint.ts';
import type { PublishedApp } from '../app-catalog.ts';
import { Retirement, type RetireHost } from './shared-retire.ts';
import { LiveHandover, untagged } from './shared-live.ts';
import { adoptUntagged, dropStaleReplica, ledGroup } from './shared-groups.ts';
import { SharedVersions, taggedVaddr } from './shared-versions.ts';
import { CHECKPOINT_TIMEOUT_MS, MAX_JOINED, OPTIONS, answer, bindOrMove, releaseClaims, forwardToWriter, isAppWide, specFor, appWideInstanceId, appWideModules, replyKey, v0Of, type AppWideCounters, type AppWideHost, type AppWideOptions, type Pending, type Writer } from './shared-parts.ts';

export { MemoryCheckpoints, decodeCheckpoint, encodeCheckpoint, type SharedCheckpoints } from './shared-checkpoint.ts';
export { appWideInstanceId, appWideModules, type AppWideCounters, type AppWideHost, type AppWideOptions } from './shared-parts.ts';

export class AppWide {
  readonly counters: AppWideCounters = { started: 0, restored: 0, takenOver: 0, forwarded: 0, duplicates: 0, checkpoints: 0, checkpointFailures: 0, demoted: 0, withheld: 0, retired: 0, unserved: 0, liveJoined: 0, liveLeft: 0, liveFailed: 0, candidateLed: 0, candidateMerged: 0, replicaDropped: 0 };
  readonly #h: AppWideHost;
  readonly #o: AppWideOptions;
  /** Writers here by `<app>|<tag>`, and by instance id. */
  readonly #writers = new Map<string, Writer>();
  readonly #byIid = new Map<string, Writer>();
  /** Codes known to run (here or at a live owner), `<app>|<tag>` -> the claim's vaddr: routed without a wait. */
  readonly #up = new Map<string, string>();
  readonly #inflight = new Map<string, Promise<Result<string | undefined, Error>>>();
  readonly #unwatch: () => void;
  readonly #unlisten: () => void;
  readonly #live: LiveHandover;
  readonly #v: SharedVersions;
  readonly #retire: Retirement;

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
    this.#v = new SharedVersions(host.catalog, host.registry);
    this.#retire = new Retirement(this.#retireHost());
    this.#live = new LiveHandover({ id: host.id, table: host.table, elastic: host.elastic, registry: host.registry, counters: this.counters, clock: host.clock, writers: () => [...this.#writers.values()], liveTag: (a) => this.#v.liveTag(a), ensure: (a) => this.ensure(a), stopInstance: (i) => host.stopInstance(i), adopt: (w) => this.#adopt(w), retireSoon: () => this.#retire.soon(), log: host.log });
    // A commit or rollback (here, or learnt by the catalog sync): the new live code leads the untagged address.
    this.#unlisten = host.catalog.onLiveChange((app) => this.#live.changed(app));
    // [fencing] a node judged dead while it still ran loses its claim to a survivor: when the
    // registry says the claim moved, this writer stops, so two writers never both answer for long.
    this.#unwatch = host.registry.watch((c) => {
      if (c.kind !== 'location') this.#v.changed(c.kind === 'session' ? c.id : undefined); // its record is read again
      if (c.kind === 'session') return this.#retire.soon();
      for (const [k, v] of this.#up) if (c.kind === 'reset' || c.vaddr === v) this.#up.delete(k);
      // An old live instance keeps the untagged address until the new live code's node takes it.
      for (const w of this.#writers.values()) if (w.alias && (c.kind === 'reset' || c.vaddr === untagged(w, w.modules[0] as string)) && w.tag !== this.#v.liveTag(w.app)) this.#live.changed(w.app);
      if (c.kind === 'reset' || [...this.#writers.values()].some((w) => c.vaddr === v0Of(w))) void this.#fence();
    });
  }

  /** The writer's duplicate window of an app's instance on this node (the live version's, or `version`'s). */
  window(app: string, version?: string): DedupWindow | undefined {
    return this.#writer(app, version)?.window;
  }

  writerIid(app: string, version?: string): string | undefined {
    return this.#writer(app, version)?.iid;
  }

  /**
   * The instance a session's view of an app-wide module (`weft://<app>/<session>/<module>`) reaches:
   * its version's code's tagged address; a promise when the session's version or its instance must
   * be looked up or started first (it settles to undefined when it cannot be served). Else undefined.
   */
  sharedAddress(vaddr: string): string | Promise<string | undefined> | undefined {
    let v;
    try {
      v = parseVaddr(vaddr);
    } catch {
      return undefined;
    }
    if (v.session === '*' || v.instance !== undefined) return undefined;
    const { app, module } = v;
    if (!isAppWide(this.#h.catalog.get(app)?.manifest, module)) return undefined;
    if (!this.#v.single(app)) this.#retire.soon(); // versions side by side: one may have become unpinned (a promotion changes no session)
    const pub = this.#v.pubOf(app, v.session);
    return pub instanceof Promise ? pub.then((p) => this.#addressFor(app, p, module)) : this.#addressFor(app, pub, module);
  }

  /**
   * Make sure the app's instance for `version`'s app-wide code (default: the live version's) runs
   * somewhere: the node its claim names while that node lives, else here (a claim taken over from
   * a dead node restores its checkpoint). Gives the node.
   */
  ensure(app: string, version?: string): Promise<Result<string | undefined, Error>> {
    const pub = version === undefined ? this.#h.catalog.get(app) : this.#h.catalog.get(app, version);
    return pub === undefined ? Promise.resolve(ok(undefined)) : this.#ensurePub(app, pub);
  }

  // One ensure per code at a time. `pub` may be a version withdrawn here (routing to its running instance only).
  #ensurePub(app: string, pub: PublishedApp): Promise<Result<string | undefined, Error>> {
    const key = `${app}|${this.#v.tag(pub)}`;
    const running = this.#inflight.get(key);
    if (running !== undefined) return running;
    const p = this.#ensure(app, pub).finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, p);
    return p;
  }

  /** A peer died: re-claim the app-wide instances it ran, of every code served here (every survivor tries; the claim decides). */
  async replaceFrom(dead: string): Promise<number> {
    let n = 0;
    for (const app of this.#h.catalog.names()) {
      const seen = new Set<string>();
      for (const version of this.#h.catalog.versions(app)) {
        const pub = this.#h.catalog.get(app, version) as PublishedApp;
        const tag = this.#v.tag(pub);
        const mods = appWideModules(pub.manifest);
        if (mods.length === 0 || seen.has(tag)) continue;
        seen.add(tag);
        const rec = await this.#h.registry.lookup(taggedVaddr(app, mods[0] as string, tag));
        if (rec?.node !== dead) continue;
        const r = await this.ensure(app, version);
        if (r.ok && r.value === this.#h.id) n++;
      }
    }
    return n;
  }

  #addressFor(app: string, pub: PublishedApp | undefined, module: string): string | Promise<string | undefined> | undefined {
    if (pub === undefined || !isAppWide(pub.manifest, module)) {
      this.counters.unserved++;
      return undefined;
    }
    const tag = this.#v.tag(pub);
    const to = taggedVaddr(app, module, tag);
    if (this.#up.has(`${app}|${tag}`)) return to;
    return this.#ensurePub(app, pub).then(
      (r) => (r.ok && r.value !== undefined ? to : undefined),
      () => undefined,
    );
  }

  async #ensure(app: string, pub: PublishedApp): Promise<Result<string | undefined, Error>> {
    const h = this.#h;
    const modules = appWideModules(pub.manifest);
    if (modules.length === 0) return ok(undefined);
    const tag = this.#v.tag(pub);
    const key = `${app}|${tag}`;
    if (this.#writers.has(key)) return ok(h.id);
    const v0 = taggedVaddr(app, modules[0] as string, tag);
    const cur = await h.registry.lookup(v0);
    // The owner stands while it is a member that has not been declared dead (a node that left or
    // never came back after a restart has no member record).
    if (cur !== undefined && cur.node !== h.id && h.isAlive(cur.node) !== false && (await h.isMember(cur.node))) {
      this.#up.set(key, v0);
      return ok(cur.node);
    }
    const spec = specFor(this.#h, app, pub.manifest.version, modules);
    if (!spec.ok) return spec;
    const loc = { node: h.id, queue: spec.value.iid, udp: h.udpAddress };
    // [one owner] the claim decides: a bind, or a move away from a dead (or restarted) owner.
    const claim = cur === undefined ? await h.registry.bind(v0, loc) : await h.registry.move(v0, loc, cur.epoch);
    if (!claim.ok) {
      h.elastic.started(spec.value.iid, false, app, modules);
      return ok(claim.error.current?.node);
    }
    if (cur !== undefined) this.counters.takenOver++;
    const alias = tag === this.#v.liveTag(app);
    // Claim first, then read the checkpoint: a writer judged dead that still runs checks its claim
    // after each checkpoint and before it answers (#commit), so whatever it answered is in here.
    // Each code reads only its own; the live code reads the one from before versions once, if any.
    const load = (id: string): Promise<Uint8Array | undefined> => this.#o.checkpoints?.load(id).catch(() => undefined) ?? Promise.resolve(undefined);
    const saved = (await load(appWideInstanceId(app, tag))) ?? (alias ? await load(appWideInstanceId(app)) : undefined);
    const restored = saved === undefined ? undefined : decodeCheckpoint(saved);
    if (restored !== undefined) spec.value.states = restored.states;
    const r = await h.portions.start(spec.value);
    if (r.ok) await dropStaleReplica({ ...h, counters: this.counters }, app, alias ? undefined : tag);
    // The live code's instance leads the untagged address's group; another code's leads its tagged address's (D102).
    h.elastic.started(spec.value.iid, r.ok, app, modules, 'primary', undefined, alias ? undefined : tag);
    if (!r.ok) {
      await h.registry.unbind(v0, claim.value.epoch);
      return r;
    }
    for (const m of modules) {
      const v = taggedVaddr(app, m, tag);
      h.table.host(v, m, spec.value.iid);
      if (v !== v0) await bindOrMove(h, v, loc);
    }
    h.table.host(formatVaddr({ app, session: '*', module: '_svc' }), '_svc', spec.value.iid);
    const window = new DedupWindow(h.clock, this.#o.dedupEntries, this.#o.dedupAgeMs);
    if (restored !== undefined) {
      window.restore(restored.window);
      this.counters.restored++;
    }
    const w: Writer = { app, tag, alias: false, iid: spec.value.iid, modules, window, pending: new Map(), byKey: new Map(), held: [], saving: false };
    this.#writers.set(key, w);
    this.#byIid.set(w.iid, w);
    this.#up.set(key, v0);
    if (!alias && ledGroup(h, w, true) !== undefined) this.counters.candidateLed++;
    if (alias) await this.#adopt(w);
    this.counters.started++;
    h.log(`app-wide ${app} ${pub.manifest.version} (${tag}): ${modules.join(', ')} runs here as ${spec.value.iid}${restored === undefined ? '' : ' (restored from its checkpoint)'}`);
    return ok(h.id);
  }

  // The live code's instance takes the untagged addresses and their group (shared-groups.ts).
  #adopt(w: Writer): Promise<void> {
    return adoptUntagged({ ...this.#h, counters: this.counters }, w, this.#writers.values());
  }

  #writer(app: string, version?: string): Writer | undefined {
    const pub = version === undefined ? this.#h.catalog.get(app) : this.#h.catalog.get(app, version);
    return pub === undefined ? undefined : this.#writers.get(`${app}|${this.#v.tag(pub)}`);
  }

  /**
   * An envelope for instance `iid` of an app-wide module: forwarded to the writer (from a thread or
   * replica), answered from the duplicate window, or delivered. False: not an app-wide instance.
   */
  front(iid: string, module: string, env: Envelope): boolean {
    const spec = this.#h.portions.spec(iid);
    if (spec === undefined || spec.session !== '*') return false;
    const tag = this.#byIid.get(iid)?.tag ?? this.#v.tagOfBytes(spec.manifest);
    const w = this.#writers.get(`${spec.app}|${tag}`);
    if (w === undefined) {
      if (!isAppWide(this.#h.catalog.get(spec.app)?.manifest, module)) return false;
      forwardToWriter(this.#h, this.counters, { app: spec.app, tag, module }, env);
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
    const w = this.#byIid.get(iid);
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

  /** The state of the app's instance here (the live version's, or `version`'s) as one checkpoint: module snapshots (its storage included) and the window. */
  snapshot(app: string, version?: string): Promise<Result<Uint8Array, Error>> {
    const w = this.#writer(app, version);
    if (w === undefined) return Promise.resolve({ ok: false, error: new Error(`no app-wide instance of ${app} ${version ?? '(live)'} here`) });
    return this.#snapshot(w);
  }

  /** The node is leaving: give the claims back so the next session's node takes them at once. */
  async close(): Promise<void> {
    this.#unwatch();
    this.#unlisten();
    this.#live.close();
    this.#retire.close();
    for (const w of this.#writers.values()) await releaseClaims(this.#h, w);
    this.#writers.clear();
    this.#byIid.clear();
  }

  async #snapshot(w: Writer): Promise<Result<Uint8Array, Error>> {
    const s = await this.#h.portions.snapshot(w.iid);
    if (!s.ok) return s;
    return ok(encodeCheckpoint(w.app, s.value, w.window.records()));
  }

  #drop(w: Writer): void {
    this.#writers.delete(`${w.app}|${w.tag}`);
    this.#byIid.delete(w.iid);
    this.#up.delete(`${w.app}|${w.tag}`);
  }

  // What the retirement of unpinned codes needs of this manager (shared-retire.ts).
  #retireHost(): RetireHost {
    const h = this.#h;
    return {
      clock: h.clock,
      writers: () => [...this.#writers.values()],
      liveTag: (app) => this.#v.liveTag(app),
      pinnedTags: (app) => this.#v.pinnedTags(app),
      retire: async (w) => {
        if (this.#writers.get(`${w.app}|${w.tag}`) !== w || w.saving || w.held.length > 0) return false; // its group commit first
        // Its last state stays under its own code's name: the code never restores another's.
        if (this.#o.checkpoints !== undefined) await bounded(h.clock, this.#checkpoint(w), CHECKPOINT_TIMEOUT_MS).catch(() => void this.counters.checkpointFailures++);
        this.#drop(w);
        await releaseClaims(this.#h, w);
        await h.stopInstance(w.iid).catch(() => undefined);
        this.counters.retired++;
        h.log(`app-wide ${w.app} (${w.tag}): no session is pinned to it; stopped ${w.iid}`);
        return true;
      },
      adopt: (w) => this.#adopt(w),
      log: h.log,
    };
  }

  // Group commit: replies leave after a checkpoint taken after they were produced.
  async #commit(w: Writer): Promise<void> {
    if (w.saving) return;
    w.saving = true;
    try {
      while (w.held.length > 0) {
        const batch = w.held.splice(0);
        try {
          await bounded(this.#h.clock, this.#checkpoint(w), CHECKPOINT_TIMEOUT_MS);
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
    for (const w of [...this.#writers.values()]) {
      const rec = await h.registry.lookup(v0Of(w)).catch(() => null);
      if (rec === null || (rec !== undefined && rec.node === h.id && rec.queue === w.iid)) continue;
      if (this.#byIid.get(w.iid) !== w) continue;
      this.#drop(w);
      this.counters.demoted++;
      h.log(`app-wide ${w.app} (${w.tag}): the claim moved to ${rec?.node ?? 'nobody'}; stopping ${w.iid} here`);
      await h.stopInstance(w.iid).catch(() => undefined);
    }
  }

  async #checkpoint(w: Writer): Promise<void> {
    const snap = await this.#snapshot(w);
    if (!snap.ok) throw snap.error;
    await this.#o.checkpoints?.save(appWideInstanceId(w.app, w.tag), snap.value);
  }

  #abandon(w: Writer, env: Envelope): void {
    const p = w.pending.get(replyKey(env.id, env.src));
    w.pending.delete(replyKey(env.id, env.src));
    if (p !== undefined) {
      w.byKey.delete(p.key);
      w.window.forget(p.key);
    }
  }

}
