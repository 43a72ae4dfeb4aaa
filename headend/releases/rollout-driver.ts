// Closes the rollout loop on the head-end (issue 15): on every tick, each rolling version's
// current wave is decided from the boxes' reports (decideWave: unknown is not failed, quorum,
// error budget); it promotes, finishes (live), or halts and then rolls back. After any change of
// state the app's carousel gets the module set of its new plan with a freshly signed directive
// (seq from the store's durable counter), so boxes without a return channel follow too. Holds no
// state of its own that a restart would lose: the plan and the wave's start are in the store.
import type { ModuleSet } from '../../carousel/index.ts';
import type { RolloutDirective } from '../../runtime/app/index.ts';
import { decideWave, type Plan, type WaveDecision } from './plan.ts';
import type { Releases } from './releases.ts';
import { rolloutModuleSet, rolloutView, type DirectiveSigner } from './rollout-carousel.ts';
import type { RolloutTally } from './rollout-tally.ts';
import type { ReleaseStore } from './store.ts';

/** Where an app's carousel module set goes (Broadcaster.update). */
export interface CarouselSink {
  update(set: ModuleSet): void;
}

export interface DriverStats {
  ticks: number;
  /** Decisions made on a box report (a wave's count changed), between ticks, and those that failed (logged). */
  onReport: number;
  onReportFailed: number;
  promoted: number;
  finished: number;
  halted: number;
  rolledBack: number;
  /** Carousel sets put on air, and refreshes that failed (logged; the next change tries again). */
  published: number;
  failed: number;
}

export interface RolloutDriverOptions {
  releases: Releases;
  store: ReleaseStore;
  tally: RolloutTally;
  /** The carousel of each app this head-end broadcasts. */
  carousels: ReadonlyMap<string, CarouselSink>;
  /** The operator key's signature; absent: the carousel carries the live version only (no directive). */
  sign?: DirectiveSigner;
  now: () => number;
  log?: (line: string) => void;
}

type RollingPlan = Plan & { wave: number; waveStartedAt: number };

/** The next turn of the event loop: reports that arrive together are decided once. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class RolloutDriver {
  #o: RolloutDriverOptions;
  #busy = false;
  /** Settles when the decision running now (a tick's or a report's) ends. */
  #idle: Promise<void> = Promise.resolve();
  /** Refreshes run one after another, so the last state change is the last set on air. */
  #chain: Promise<unknown> = Promise.resolve();
  #directives = new Map<string, RolloutDirective>();
  #stats: DriverStats = { ticks: 0, onReport: 0, onReportFailed: 0, promoted: 0, finished: 0, halted: 0, rolledBack: 0, published: 0, failed: 0 };
  /** `app@version` -> its plan, as the last tick or change read it: a report is judged against it without the store. */
  #rolling = new Map<string, RollingPlan>();
  /** Versions whose count changed since the last decision, and the decision pending for them. */
  #dirty = new Set<string>();
  #soon: Promise<void> | undefined;
  /** False on a node that does not hold the cluster's driver lease (rollout-cluster.ts): it decides nothing. */
  active = true;

  constructor(o: RolloutDriverOptions) {
    this.#o = o;
  }

  stats(): DriverStats {
    return { ...this.#stats };
  }

  /** The directive on air for an app, if any. */
  directive(app: string): RolloutDirective | undefined {
    return this.#directives.get(app);
  }

  /** Decide every rolling version's wave now; returns what was decided, by `app@version`. */
  async tick(): Promise<Map<string, WaveDecision>> {
    const out = new Map<string, WaveDecision>();
    if (this.#busy) return out; // a slow store: the next tick decides
    const done = this.#enter();
    try {
      this.#stats.ticks++;
      const rolling = new Map<string, RollingPlan>();
      for (const r of await this.#o.store.list()) {
        if (r.state !== 'rolling' || r.plan === '') continue;
        const plan = JSON.parse(r.plan) as RollingPlan;
        rolling.set(`${r.app}@${r.version}`, plan);
        const d = this.#decide(r.app, r.version, plan);
        out.set(`${r.app}@${r.version}`, d);
        if (d.kind !== 'wait') await this.#apply(r.app, r.version, d);
      }
      this.#rolling = rolling;
    } finally {
      done();
    }
    return out;
  }

  /**
   * A box report changed the count of `app@version` (RolloutTally.report): decide it on the next
   * turn instead of at the next tick, so a wave promotes when its quorum reports and halts when its
   * budget is passed, not up to a tick later. Judged against the plan the last tick read; a decision
   * other than wait is made again on the store's current record before it is applied.
   */
  reported(key: string): void {
    if (!this.active || !this.#rolling.has(key)) return;
    this.#dirty.add(key);
    this.#soon ??= this.#later();
  }

  #later(): Promise<void> {
    return nextTurn()
      .then(() => this.#decideDirty())
      .catch((e: unknown) => {
        this.#stats.onReportFailed++;
        this.#o.log?.(`rollout: a decision on reports failed (the next tick decides): ${(e as Error).message}`);
      });
  }

  // Mark a decision running; the function given back ends it.
  #enter(): () => void {
    this.#busy = true;
    let end = (): void => {};
    this.#idle = new Promise((resolve) => (end = resolve));
    return () => {
      this.#busy = false;
      end();
    };
  }

  /** The report-driven decisions pending now, settled (tests). */
  async settled(): Promise<void> {
    while (this.#soon !== undefined) await this.#soon;
  }

  async #decideDirty(): Promise<void> {
    while (this.#busy) await this.#idle; // a tick is deciding: after it, with what it read
    const done = this.#enter();
    try {
      const keys = [...this.#dirty];
      this.#dirty.clear();
      for (const key of keys) {
        const cached = this.#rolling.get(key);
        const [app = '', version = ''] = key.split('@');
        if (cached === undefined || this.#decide(app, version, cached).kind === 'wait') continue;
        const r = await this.#o.store.get(app, version);
        if (r?.state !== 'rolling' || r.plan === '') continue;
        const plan = JSON.parse(r.plan) as RollingPlan;
        const d = this.#decide(app, version, plan);
        if (d.kind === 'wait') continue;
        this.#stats.onReport++;
        await this.#apply(app, version, d);
        const now = await this.#o.store.get(app, version);
        if (now?.state === 'rolling') this.#rolling.set(key, JSON.parse(now.plan) as RollingPlan);
        else this.#rolling.delete(key);
      }
    } finally {
      done();
      this.#soon = undefined;
      if (this.#dirty.size > 0) this.#soon = this.#later();
    }
  }

  #decide(app: string, version: string, plan: RollingPlan): WaveDecision {
    return decideWave(plan, plan.wave, this.#o.tally.counts(app, version, plan, plan.wave), (this.#o.now() - plan.waveStartedAt) / 1000);
  }

  /** Put an app's current plan on its carousel (after any state change, and at start: a restart resumes). */
  refresh(app: string): Promise<boolean> {
    const next = this.#chain.then(() => this.#refresh(app));
    this.#chain = next;
    return next;
  }

  async #refresh(app: string): Promise<boolean> {
    const sink = this.#o.carousels.get(app);
    const sign = this.#o.sign;
    if (sink === undefined || sign === undefined) return false;
    try {
      const all = await this.#o.store.list(app);
      for (const r of all) if (r.state === 'rolling' && r.plan !== '') this.#rolling.set(`${r.app}@${r.version}`, JSON.parse(r.plan) as RollingPlan);
      for (const key of this.#rolling.keys()) if (key.startsWith(`${app}@`) && !all.some((r) => r.state === 'rolling' && `${r.app}@${r.version}` === key)) this.#rolling.delete(key);
      const view = rolloutView(all);
      if (view === undefined) return false;
      // [D113] the seq is at least the clock's ms: above every seq handed out before, even by a
      // leader whose counter write a Redis Cluster failover took back.
      const { set, directive } = await rolloutModuleSet(view, await this.#o.store.bump(`rollout.${app}`, Math.floor(this.#o.now())), sign);
      sink.update(set);
      this.#directives.set(app, directive);
      this.#stats.published++;
      return true;
    } catch (e) {
      this.#stats.failed++;
      this.#o.log?.(`rollout: the carousel of ${app} was not updated: ${(e as Error).message}`);
      return false;
    }
  }

  async #apply(app: string, version: string, d: WaveDecision): Promise<void> {
    const log = this.#o.log;
    if (d.kind === 'promote' || d.kind === 'done') {
      const r = await this.#o.releases.promote(app, version);
      if (!r.ok) return log?.(`rollout: ${app} ${version} did not promote: ${r.message}`);
      this.#stats[d.kind === 'done' ? 'finished' : 'promoted']++;
      log?.(`rollout: ${app} ${version} ${r.release.state === 'live' ? 'is live' : 'promoted to the next wave'}`);
    } else if (d.kind === 'halt') {
      const h = await this.#o.releases.halt(app, version);
      if (!h.ok) return log?.(`rollout: ${app} ${version} did not halt: ${h.message}`);
      this.#stats.halted++;
      log?.(`rollout: ${app} ${version} halted (${d.reason}: ${d.detail}); rolling back`);
      // [issue 15] one signed directive on the carousel takes every box back, return channel or not.
      const b = await this.#o.releases.rollback(app, version);
      if (b.ok) this.#stats.rolledBack++;
      else log?.(`rollout: ${app} ${version} did not roll back: ${b.message}`);
    }
  }
}
