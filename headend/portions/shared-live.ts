// The live role of an app's app-wide instances (issue 15 leftover): the untagged address
// `weft://<app>/*/<module>` and its elastic group (extra threads here, replicas on other nodes)
// belong to the live code's instance. When the live version becomes another (a rollout commits, a
// rollback makes an older one live; told by the catalog, whether the change was made here or came
// by the catalog sync), the new live code's instance takes them over without a restart and the old
// one gives them up: its extra threads and replicas are retired, their requests finishing first.
// A node whose old live instance sees the new live code run elsewhere keeps the untagged address
// until that node has taken it (the registry's change brings it back here). One hand-over per app
// at a time. Decides and moves addresses; AppWide starts and adopts, Elastic retires.

import { type Clock, formatVaddr, type Result, type TimerHandle } from '../../runtime/index.ts';
import type { Elastic } from './elastic.ts';
import type { DispatchTable } from '../node/table.ts';
import type { Registry } from '../registry/registry.ts';
import type { AppWideCounters, Writer } from './shared-parts.ts';

/** What the hand-over needs of the app-wide manager and its node. */
export interface LiveHost {
  readonly id: string;
  readonly table: DispatchTable;
  readonly elastic: Pick<Elastic, 'leave' | 'group' | 'groups'>;
  readonly registry: Pick<Registry, 'lookup'>;
  readonly counters: AppWideCounters;
  /** Times the retry of a failed hand-over. */
  readonly clock: Clock;
  writers(): Writer[];
  liveTag(app: string): string | undefined;
  /** Make sure the live code's instance runs somewhere (AppWide.ensure); gives its node. */
  ensure(app: string): Promise<Result<string | undefined, Error>>;
  /** Stop an instance here (a replica of an old primary's group). */
  stopInstance(iid: string): Promise<void>;
  /** Give a writer the untagged addresses and the lead of its elastic group. */
  adopt(w: Writer): Promise<void>;
  /** The old live code's instance may have no session left: sweep soon. */
  retireSoon(): void;
  log(line: string): void;
}

/** The untagged address of a writer's module. */
export const untagged = (w: Pick<Writer, 'app'>, module: string): string => formatVaddr({ app: w.app, session: '*', module });

/** A failed hand-over is tried again after this, doubling up to RETRY_MAX_MS while it keeps failing. */
export const RETRY_MS = 1_000;
export const RETRY_MAX_MS = 30_000;

export class LiveHandover {
  readonly #h: LiveHost;
  /** The hand-over running per app (a second change waits for it). */
  readonly #chains = new Map<string, Promise<void>>();
  /** Apps whose last hand-over failed: the retry's timer and its next wait. */
  readonly #retries = new Map<string, { timer: TimerHandle | undefined; waitMs: number }>();
  #closed = false;

  constructor(host: LiveHost) {
    this.#h = host;
  }

  /** The app's live version changed, or the untagged address moved: hand the live role over (queued per app). */
  changed(app: string): void {
    if (this.#closed) return;
    const pending = this.#retries.get(app);
    if (pending?.timer !== undefined) this.#h.clock.clearTimeout(pending.timer); // this run is the retry
    if (pending !== undefined) pending.timer = undefined;
    const run = (this.#chains.get(app) ?? Promise.resolve())
      .then(() => this.#handOver(app))
      .then(
        () => this.#cancelRetry(app),
        (e: unknown) => {
          this.#h.counters.liveFailed++;
          this.#h.log(`app-wide ${app}: the live code's instance did not take the untagged address: ${(e as Error).message}; tried again in ${this.#retryLater(app) / 1000} s`);
        },
      );
    this.#chains.set(app, run);
    void run.finally(() => {
      if (this.#chains.get(app) === run) this.#chains.delete(app);
    });
  }

  // A hand-over that took ends the app's retries (one still waiting, set by an earlier failed run of the chain, too).
  #cancelRetry(app: string): void {
    const r = this.#retries.get(app);
    if (r?.timer !== undefined) this.#h.clock.clearTimeout(r.timer);
    this.#retries.delete(app);
  }

  /** No more hand-overs or retries (the node is leaving). */
  close(): void {
    this.#closed = true;
    for (const r of this.#retries.values()) if (r.timer !== undefined) this.#h.clock.clearTimeout(r.timer);
    this.#retries.clear();
  }

  // A failed hand-over leaves the untagged address with the old code or with nobody here, and no
  // event may come to try again: a timer does, backing off while it keeps failing.
  #retryLater(app: string): number {
    const r = this.#retries.get(app) ?? { timer: undefined, waitMs: RETRY_MS };
    this.#retries.set(app, r);
    const wait = r.waitMs;
    r.waitMs = Math.min(2 * wait, RETRY_MAX_MS);
    if (r.timer === undefined && !this.#closed) r.timer = this.#h.clock.setTimeout(() => this.changed(app), wait);
    return wait;
  }

  async #handOver(app: string): Promise<void> {
    const h = this.#h;
    const live = h.liveTag(app);
    if (live === undefined) return;
    const olds = h.writers().filter((w) => w.app === app && w.alias && w.tag !== live);
    const find = (): Writer | undefined => h.writers().find((w) => w.app === app && w.tag === live);
    let neu = find();
    if (neu === undefined && olds.length > 0) {
      const r = await h.ensure(app); // started here, or named where it runs
      if (!r.ok) throw r.error;
      neu = find();
      if (neu === undefined && (await this.#stillHere(olds))) return;
    }
    const taking = neu !== undefined && !neu.alias;
    if (taking) await this.#stopReplicas(app);
    // The old gives the address up and the new takes it in one turn: no request finds it unserved here.
    const leaving = olds.map((w) => this.#giveUp(w));
    if (neu !== undefined && taking) {
      await h.adopt(neu);
      if (neu.alias) {
        h.counters.liveJoined++;
        h.log(`app-wide ${app} (${neu.tag}): the live code's instance ${neu.iid} now answers the untagged address and leads its group`);
      }
    }
    await Promise.all(leaving);
    h.retireSoon();
  }

  // The new live code runs on another node: the untagged address stays here until that node took it.
  async #stillHere(olds: Writer[]): Promise<boolean> {
    const w = olds[0] as Writer;
    const rec = await this.#h.registry.lookup(untagged(w, w.modules[0] as string));
    return rec !== undefined && rec.node === this.#h.id && olds.some((o) => o.iid === rec.queue);
  }

  // A replica here of the app's old primary (another node's old live code) would keep the group's
  // address from this node's new lead: it stops answering now and stops (its primary's stop finds it gone).
  async #stopReplicas(app: string): Promise<void> {
    const h = this.#h;
    for (const g of h.elastic.groups()) {
      if (g.role !== 'replica' || g.app !== app || g.tag !== undefined) continue; // a candidate's replica (D102) serves its tagged address only
      for (const m of g.modules) for (const iid of g.members) h.table.unhostAt(untagged(g, m), iid);
      h.counters.liveLeft++;
      await h.stopInstance(g.members[0] as string);
    }
  }

  // Stop answering the untagged addresses (the writer and its extra threads) now; its group ends and
  // its extra threads drain and stop (settles then). Its tagged address serves its pinned sessions on.
  #giveUp(w: Writer): Promise<boolean> {
    const h = this.#h;
    w.alias = false;
    const vs = w.modules.map((m) => untagged(w, m));
    const threads = vs.flatMap((v) => {
      const g = h.elastic.group(v);
      return g?.members[0] === w.iid ? g.members : [];
    });
    for (const v of vs) for (const iid of [w.iid, ...threads]) h.table.unhostAt(v, iid);
    h.counters.liveLeft++;
    h.log(`app-wide ${w.app} (${w.tag}): no longer live; ${w.iid} gives up the untagged address and its group`);
    return h.elastic.leave(w.iid);
  }
}
