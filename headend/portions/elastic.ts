// Worker threads for a node's critical portions [c20-c24, c27-c29]: the wait-and-lock of each
// critical module address (shared by its instances on every worker thread), the waits they report
// to the statistics process, and a controller loop per shared portion that adds an instance on a
// pre-warmed thread when the measured wait passes its target and shrinks after a hold time.
// Decisions come from headend/policy; this file only measures and applies them.

import { fail, formatVaddr, ok, rejectUnknown, type Clock, type Result, type TimerHandle } from '../../runtime/index.ts';
import { decodeManifest, type Manifest } from '../../runtime/app/index.ts';
import { SharedSemaphore, mergeWaits, type WaitSnapshot } from './critical/index.ts';
import { WaitTargetController, type ThreadDecision, type WorkerController } from '../../policy/index.ts';
import type { DispatchTable } from '../node/table.ts';
import { newProbe, PROBE, threadClock, threadNow, type CriticalSpec, type PortionSpec } from './portion-protocol.ts';
import type { PortionManager } from './portions.ts';
import type { PortionStats } from '../stats/statistics.ts';
import { appWideTag } from './shared-versions.ts';

export interface ElasticOptions {
  /** The thread controller of one shared portion. Default: WaitTargetController with a 20 ms target. */
  controller?: (vaddr: string, maxWorkers: number) => WorkerController;
  /** Controller cadence, ms. Default 50. */
  tickMs?: number;
  /** Most instances (threads) one portion may run on this node. Default: the pool's max. */
  maxWorkers?: number;
  /** Longest wait for a retiring instance's requests to finish, ms. Default 5000. */
  drainMs?: number;
}

const OPTIONS = ['controller', 'tickMs', 'maxWorkers', 'drainMs'];

/** What the elastic loop needs of its node (HeadendNode). */
export interface ElasticHost {
  readonly clock: Clock;
  readonly portions: PortionManager;
  readonly table: DispatchTable;
  /** The spec of a new instance: a fresh instance id, critical modules prepared (see prepare); of `version` when given. */
  makeSpec(app: string, session: string, modules: string[], states?: Record<string, Uint8Array>, version?: string): Result<PortionSpec, Error>;
  log(line: string): void;
}

interface Lock {
  /** Its key: the module's address; an app-wide module's is its code's tagged one, so two codes on a node never share a section (D105). */
  vaddr: string;
  /** The address its statistics are reported at: the group's key while it leads one (the untagged address for the live code), else vaddr. */
  report: string;
  module: string;
  permits: number;
  sem: SharedSemaphore;
  iids: Set<string>;
  /** Totals at the last statistics report, and the EWMA of the waits since [c24]. */
  seen: { count: number; sumMs: number };
  ewmaMs: number;
  /** Requests served by instances that have gone (so `served` never goes back). */
  doneGone: number;
  /** An app-wide module (`scope: "app"`): one writer serves it all (D22), so its group grows no threads (D105). */
  oneWriter: boolean;
}

/** A shared portion whose instances this node grows and shrinks. */
export interface Group {
  /** The critical module's address (its code's tagged one for a code that is not live: D102): the group's key. */
  readonly vaddr: string;
  /** The app-wide code whose tagged addresses the group serves, when it is not the untagged (live) group. */
  readonly tag: string | undefined;
  readonly app: string;
  readonly modules: readonly string[];
  /** `primary`: the registry points here; `replica`: started for another node's primary [c30]. */
  readonly role: 'primary' | 'replica';
  /** Replica number (its instance addresses end in it). */
  readonly instance: string | undefined;
  /** Instances, the first one (bound in the registry) first. */
  readonly members: string[];
  /** Busy fraction of the instances over the last ticks (smoothed), and the last decision. */
  occupancy: number;
  last: ThreadDecision | undefined;
  /** An app-wide module's group: it stays on its one writer's thread (D105); replicas still grow. */
  readonly oneWriter: boolean;
}

interface GroupState extends Group {
  lock: Lock;
  controller: WorkerController;
  adding: number;
  removing: boolean;
  prev: { at: number; count: number; sumMs: number; busyUs: bigint; heldUs: bigint; done: bigint };
}

const ALPHA = 0.1;

export class Elastic {
  readonly #host: ElasticHost;
  readonly #makeController: NonNullable<ElasticOptions['controller']>;
  readonly #tickMs: number;
  readonly #maxWorkers: number | undefined;
  readonly #drainMs: number;
  readonly #locks = new Map<string, Lock>();
  /** Probes by instance, by critical module. */
  readonly #probes = new Map<string, Map<string, BigInt64Array>>();
  /** A shared (`*`) instance's first critical module's lock: the one its group is measured by. */
  readonly #sharedLock = new Map<string, Lock>();
  readonly #groups = new Map<string, GroupState>();
  /** Told when a group ends (its leader stops or leaves): the replica manager stops its replicas. */
  readonly #onEnd = new Set<(g: Group) => void>();
  #timer: TimerHandle | undefined;
  #closed = false;

  constructor(host: ElasticHost, options: ElasticOptions = {}) {
    rejectUnknown('ElasticOptions', options, OPTIONS);
    this.#host = host;
    this.#makeController = options.controller ?? ((_v, max) => new WaitTargetController({ targetWaitMs: 20, maxWorkers: max }));
    this.#tickMs = options.tickMs ?? 50;
    this.#maxWorkers = options.maxWorkers;
    this.#drainMs = options.drainMs ?? 5000;
  }

  /** Start one more instance of what `like` runs on a new (pre-warmed) thread, serving the same addresses [c20]. */
  async spawnInstance(like: string): Promise<Result<string, Error>> {
    const base = this.#host.portions.spec(like);
    if (base === undefined) return fail(new Error(`no instance ${like}`));
    // An app-wide instance runs its own version's code (a candidate's is not the live one).
    const version = base.session === '*' ? decodeManifest(base.manifest).version : undefined;
    const spec = this.#host.makeSpec(base.app, base.session, base.modules, undefined, version);
    if (!spec.ok) return spec;
    const iid = spec.value.iid;
    const r = await this.#host.portions.startOnNewThread(spec.value);
    if (!r.ok) {
      this.#forget(iid);
      return r;
    }
    const t = this.#host.table;
    for (const v of [...t.vaddrsOf(like)]) {
      const h = t.hosted.get(v);
      if (h !== undefined) t.host(v, h.module, iid);
    }
    return ok(iid);
  }

  /** Stop routing to an instance, let its requests finish, stop it and free its thread. */
  async retireInstance(iid: string): Promise<void> {
    this.#host.table.unhost(iid);
    const end = Date.now() + this.#drainMs;
    while (this.#host.portions.inflightOf(iid) > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 2));
    await this.#host.portions.stop(iid, true);
    this.#forget(iid);
  }

  /**
   * The critical modules of an instance about to start: the node's lock for each module address
   * (made on first use) and a fresh probe for this instance. Undefined when none is critical.
   */
  prepare(iid: string, manifest: Manifest, session: string, modules: readonly string[]): Record<string, CriticalSpec> | undefined {
    let out: Record<string, CriticalSpec> | undefined;
    let tag: string | undefined;
    for (const e of manifest.modules) {
      if (e.critical === undefined || !modules.includes(e.name)) continue;
      // [D105] each app-wide code its own section: a candidate's writer never waits for the live one's.
      const oneWriter = e.scope === 'app' && session === '*';
      if (oneWriter) tag ??= appWideTag(manifest);
      const vaddr = formatVaddr({ app: manifest.app, session, module: e.name, instance: oneWriter ? tag : undefined });
      const permits = e.critical.permits ?? 1;
      let lock = this.#locks.get(vaddr);
      if (lock === undefined) {
        lock = { vaddr, report: vaddr, module: e.name, permits, sem: SharedSemaphore.create(permits, { clock: threadClock }), iids: new Set(), seen: { count: 0, sumMs: 0 }, ewmaMs: 0, doneGone: 0, oneWriter };
        this.#locks.set(vaddr, lock);
      }
      lock.iids.add(iid);
      if (session === '*' && !this.#sharedLock.has(iid)) this.#sharedLock.set(iid, lock);
      const probe = newProbe();
      let probes = this.#probes.get(iid);
      if (probes === undefined) this.#probes.set(iid, (probes = new Map()));
      probes.set(e.name, new BigInt64Array(probe));
      (out ??= {})[e.name] = { guard: e.critical.guard, permits, lock: lock.sem.buffer, probe };
    }
    return out;
  }

  /**
   * An instance prepared above has started (or failed to). With a role, a shared portion's first
   * instance: its group is made and the controller loop runs [c20, c27]. With a tag, the group of
   * that app-wide code's tagged address (D102), beside the untagged one. The group is measured by
   * the instance's lock, whose statistics are reported at the group's key while it leads it.
   */
  started(iid: string, running: boolean, app: string, modules: readonly string[], role?: 'primary' | 'replica', instance?: string, tag?: string): void {
    if (!running) return this.#forget(iid);
    const probes = this.#probes.get(iid);
    if (role === undefined || probes === undefined) return;
    const module = [...probes.keys()][0] as string;
    const lock = this.#sharedLock.get(iid);
    const vaddr = formatVaddr({ app, session: '*', module, instance: tag });
    if (lock === undefined || this.#groups.has(vaddr)) return;
    lock.report = vaddr;
    const oneWriter = lock.oneWriter;
    const max = oneWriter ? 1 : Math.max(1, this.#maxWorkers ?? this.#host.portions.threadsLeft + this.#host.portions.threads);
    const g: GroupState = {
      vaddr, tag, app, modules: [...modules], role, instance, members: [iid], occupancy: 0, last: undefined, oneWriter,
      lock, controller: this.#makeController(vaddr, max), adding: 0, removing: false, prev: this.#reading(lock, [iid]),
    };
    this.#groups.set(vaddr, g);
    this.#schedule();
  }

  /** An instance is going away: if it leads a group, its other instances go first. Then forget it. */
  async stopping(iid: string): Promise<void> {
    await this.leave(iid);
    this.#forget(iid);
  }

  /**
   * The group `iid` leads (if any; only the one keyed `vaddr` when given) ends while the instance
   * runs on: its other instances are retired (their requests finish first) and the address may be
   * led by another at once (its app's new live code). Settles true, once they are gone, when it led one.
   */
  leave(iid: string, vaddr?: string): Promise<boolean> {
    // The groups end now (another may lead the address at once); their extra instances drain after.
    const led = [...this.#groups.values()].filter((g) => g.members[0] === iid && (vaddr === undefined || g.vaddr === vaddr));
    for (const g of led) this.#groups.delete(g.vaddr);
    for (const g of led) if (g.lock.report === g.vaddr) g.lock.report = g.lock.vaddr; // reported apart from the address's next leader
    for (const g of led) for (const f of this.#onEnd) f(g);
    const rest = led.flatMap((g) => g.members.slice(1).reverse());
    return (async () => {
      for (const x of rest) await this.retireInstance(x);
      return led.length > 0;
    })();
  }

  /** Call `f` when a group ends; gives the unsubscribe. */
  onGroupEnd(f: (g: Group) => void): () => void {
    this.#onEnd.add(f);
    return () => void this.#onEnd.delete(f);
  }

  /** Groups on this node (for the replica manager). */
  groups(): Group[] {
    return [...this.#groups.values()];
  }

  group(vaddr: string): Group | undefined {
    return this.#groups.get(vaddr);
  }

  /** One entry per critical module address on this node, for the node's report [c16, c24]. */
  portionStats(): PortionStats[] {
    const out: PortionStats[] = [];
    for (const lock of this.#locks.values()) {
      const t = lock.sem.totals();
      const n = t.count - lock.seen.count;
      const sum = t.totalWaitMs - lock.seen.sumMs;
      lock.seen = { count: t.count, sumMs: t.totalWaitMs };
      let queue = 0;
      let served = lock.doneGone;
      const windows: WaitSnapshot[] = [];
      for (const iid of lock.iids) {
        queue += this.#host.portions.inflightOf(iid);
        const probe = this.#probes.get(iid)?.get(lock.module);
        if (probe !== undefined) served += Number(Atomics.load(probe, PROBE.DONE));
        for (const w of this.#host.portions.waitsOf(iid)) if (w.module === lock.module) windows.push(w);
      }
      // [c24] the section's percentiles over all its threads' waits: merged histograms, not a
      // mean of p50s and a max of p99s (neither is a percentile of the section).
      const waits = mergeWaits(windows);
      // An EWMA over requests: n new waits weigh 1-(1-a)^n. An interval in which nothing waited
      // counts as one zero wait, so an idle portion does not report its last busy minute forever.
      if (n > 0) lock.ewmaMs += (1 - (1 - ALPHA) ** n) * (sum / n - lock.ewmaMs);
      else if (queue === 0) lock.ewmaMs *= 1 - ALPHA;
      out.push({ vaddr: lock.report, workers: lock.iids.size, queue, served, waitEwmaMs: lock.ewmaMs, waitP50Ms: waits.p50Ms, waitP99Ms: waits.p99Ms, waitMaxMs: waits.maxMs });
    }
    return out;
  }

  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) this.#host.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #forget(iid: string): void {
    const probes = this.#probes.get(iid);
    this.#probes.delete(iid);
    this.#sharedLock.delete(iid);
    for (const [v, lock] of this.#locks) {
      if (!lock.iids.has(iid)) continue;
      const p = probes?.get(lock.module);
      if (p !== undefined) lock.doneGone += Number(Atomics.load(p, PROBE.DONE));
      lock.iids.delete(iid);
      if (lock.iids.size === 0) this.#locks.delete(v);
    }
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#closed || this.#groups.size === 0) return;
    this.#timer = this.#host.clock.setTimeout(() => {
      this.#timer = undefined;
      for (const g of this.#groups.values()) this.#tick(g);
      this.#schedule();
    }, this.#tickMs);
  }

  #reading(lock: Lock, members: readonly string[]): GroupState['prev'] {
    const t = lock.sem.totals();
    let busyUs = 0n;
    let heldUs = 0n;
    let done = 0n;
    for (const iid of members) {
      const p = this.#probes.get(iid)?.get(lock.module);
      if (p === undefined) continue;
      busyUs += Atomics.load(p, PROBE.BUSY_US);
      heldUs += Atomics.load(p, PROBE.HELD_US);
      done += Atomics.load(p, PROBE.DONE);
    }
    return { at: threadNow(), count: t.count, sumMs: t.totalWaitMs, busyUs, heldUs, done };
  }

  // [c20, c24, c27] feed the controller the waits since the last tick and apply its answer.
  #tick(g: GroupState): void {
    const now = threadNow();
    const cur = this.#reading(g.lock, g.members);
    const prev = g.prev;
    g.prev = cur;
    const dt = Math.max(1, now - prev.at);
    const n = cur.count - prev.count;
    if (n > 0) g.controller.observe(now, (cur.sumMs - prev.sumMs) / n);
    const done = Number(cur.done - prev.done);
    if (done > 0) g.controller.completed(now, done);
    let oldestWaitMs = 0;
    for (const iid of g.members) {
      const p = this.#probes.get(iid)?.get(g.lock.module);
      const oldest = p === undefined ? 0 : Number(Atomics.load(p, PROBE.OLDEST_US)) / 1000;
      if (oldest > 0) oldestWaitMs = Math.max(oldestWaitMs, now - oldest);
    }
    // Probes of a member that joined or left since the last reading would skew the deltas: clamp.
    const lockBusy = Math.min(1, Math.max(0, Number(cur.heldUs - prev.heldUs) / 1000 / (g.lock.permits * dt)));
    const busy = Math.min(1, Math.max(0, Number(cur.busyUs - prev.busyUs) / 1000 / (g.members.length * dt)));
    g.occupancy += 0.3 * (busy - g.occupancy);
    const workers = g.members.length + g.adding;
    const asked = g.controller.decide(now, { workers, oldestWaitMs, lockBusy });
    // [D105] Every request of an app-wide module goes to its writer's instance (AppWide.front), so
    // an extra thread would serve none: whatever the controller says, the group keeps one.
    const d = g.oneWriter && asked.workers > 1 ? { action: 'keep' as const, workers: 1, reason: `one writer (${asked.reason})` } : asked;
    g.last = d;
    if (d.workers > workers) {
      const k = Math.min(d.workers - workers, this.#host.portions.threadsLeft);
      for (let i = 0; i < k; i++) this.#add(g);
    } else if (d.workers < workers && !g.removing && g.adding === 0 && g.members.length > 1) {
      this.#remove(g);
    }
  }

  #add(g: GroupState): void {
    g.adding++;
    this.spawnInstance(g.members[0] as string)
      .then(async (r) => {
        if (!r.ok) return this.#host.log(`${g.vaddr}: no thread added: ${r.error.message}`);
        if (this.#groups.get(g.vaddr) !== g) return this.retireInstance(r.value);
        g.members.push(r.value);
        // Keep the deltas honest: the new member's counters start now.
        g.prev = this.#reading(g.lock, g.members);
      })
      .catch((e: unknown) => this.#host.log(`${g.vaddr}: no thread added: ${(e as Error).message}`))
      .finally(() => g.adding--);
  }

  #remove(g: GroupState): void {
    const iid = g.members.pop() as string;
    g.removing = true;
    this.retireInstance(iid)
      .catch((e: unknown) => this.#host.log(`${g.vaddr}: retiring ${iid}: ${(e as Error).message}`))
      .finally(() => {
        g.removing = false;
        g.prev = this.#reading(g.lock, g.members);
      });
  }
}
