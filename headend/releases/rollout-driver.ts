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

export class RolloutDriver {
  #o: RolloutDriverOptions;
  #busy = false;
  /** Refreshes run one after another, so the last state change is the last set on air. */
  #chain: Promise<unknown> = Promise.resolve();
  #directives = new Map<string, RolloutDirective>();
  #stats: DriverStats = { ticks: 0, promoted: 0, finished: 0, halted: 0, rolledBack: 0, published: 0, failed: 0 };

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
    this.#busy = true;
    try {
      this.#stats.ticks++;
      for (const r of await this.#o.store.list()) {
        if (r.state !== 'rolling' || r.plan === '') continue;
        const plan = JSON.parse(r.plan) as RollingPlan;
        const d = decideWave(plan, plan.wave, this.#o.tally.counts(r.app, r.version, plan, plan.wave), (this.#o.now() - plan.waveStartedAt) / 1000);
        out.set(`${r.app}@${r.version}`, d);
        if (d.kind !== 'wait') await this.#apply(r.app, r.version, d);
      }
    } finally {
      this.#busy = false;
    }
    return out;
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
      const view = rolloutView(await this.#o.store.list(app));
      if (view === undefined) return false;
      const { set, directive } = await rolloutModuleSet(view, await this.#o.store.bump(`rollout.${app}`), sign);
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
