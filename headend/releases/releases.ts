// The head-end's release manager (issue 15): publish (verified against the trusted keys before
// anything is stored), promote, halt and roll back, with every state in the release store so a
// restarted head-end resumes the plan. The live version of each app is what new sessions get;
// listeners (the app catalog, the carousel) hear every change of it.
import { verifyApp, type TrustedKey } from '../../runtime/app/index.ts';
import { DEFAULT_PLAN, parsePlan, type Plan } from './plan.ts';
import { compareVersions, type Release, type ReleaseState, type ReleaseStore } from './store.ts';

/** The publisher name of the head-end's mirror of its apps folder. */
export const STARTUP = 'startup';

export interface PublishInput {
  manifestBytes: Uint8Array;
  signature: Uint8Array;
  sources: Record<string, Uint8Array>;
}

export type ReleaseOutcome = { ok: true; release: Release; note?: string } | { ok: false; code: 'refused' | 'not-found' | 'conflict' | 'bad-state'; message: string };

export interface ReleaseSummary {
  app: string;
  version: string;
  state: ReleaseState;
  publishedBy: string;
  publishedAt: number;
  plan?: Plan;
  modules: number;
}

export class Releases {
  #store: ReleaseStore;
  #trusted: () => readonly TrustedKey[];
  #now: () => number;
  #onLive: (r: Release) => void;
  /** Any state change of an app's versions (the rollout driver puts the new plan on the carousel). */
  onChange: (app: string) => void = () => {};

  constructor(o: { store: ReleaseStore; trusted: () => readonly TrustedKey[]; now: () => number; onLive?: (r: Release) => void }) {
    this.#store = o.store;
    this.#trusted = o.trusted;
    this.#now = o.now;
    this.#onLive = o.onLive ?? (() => {});
  }

  /**
   * Verify and store a version (state staged). Nothing unverified is ever stored. A version's
   * bytes are immutable, except the head-end's own mirror of its apps folder (`by` = `startup`):
   * a rebuilt folder replaces what the folder published before (the lab's dev loop).
   */
  async publish(input: PublishInput, by: string): Promise<ReleaseOutcome> {
    const v = await verifyApp({ manifest: input.manifestBytes, signature: input.signature, modules: new Map(Object.entries(input.sources)), trusted: this.#trusted() });
    if (!v.ok) return { ok: false, code: 'refused', message: `refused: ${v.error.message}` };
    const { app, version, modules } = v.value.manifest;
    const extra = Object.keys(input.sources).filter((n) => !modules.some((m) => m.name === n));
    if (extra.length > 0) return { ok: false, code: 'refused', message: `refused: module "${extra[0]}" is not in the signed manifest` };
    const r = await this.#store.publish({ app, version, ...input, publishedBy: by, publishedAt: this.#now() }, by === STARTUP ? { replaceIfPublishedBy: STARTUP } : {});
    if (!r.ok) return { ok: false, code: 'conflict', message: `${app} ${version} is already published with other bytes; publish a new version` };
    if (r.unconfirmed === true) return { ok: true, release: r.release, note: UNCONFIRMED };
    if (r.replaced === true) return { ok: true, release: r.release, note: 'replaced the bytes the apps folder published before' };
    return { ok: true, release: r.release, ...(r.created ? {} : { note: 'already published (same bytes)' }) };
  }

  async list(app?: string): Promise<ReleaseSummary[]> {
    return (await this.#store.list(app)).map(summary);
  }

  /** The live version of an app, if any. */
  async live(app: string): Promise<Release | undefined> {
    return (await this.#store.list(app)).filter((r) => r.state === 'live').at(-1);
  }

  /**
   * staged -> rolling with a plan (wave 0); rolling -> the next wave's share, or live after the
   * last; `now`: straight to live (a lab head-end, or an operator who has seen enough).
   */
  async promote(app: string, version: string, o: { plan?: unknown; now?: boolean } = {}): Promise<ReleaseOutcome> {
    const r = await this.#store.get(app, version);
    if (r === undefined) return notFound(app, version);
    if (o.now === true) return this.#makeLive(r);
    if (r.state === 'staged' || r.state === 'halted') {
      let plan: Plan;
      try {
        plan = o.plan === undefined ? DEFAULT_PLAN : parsePlan(o.plan);
      } catch (e) {
        return { ok: false, code: 'refused', message: (e as Error).message };
      }
      return this.#set(r, 'rolling', JSON.stringify({ ...plan, wave: 0, waveStartedAt: this.#now() }));
    }
    if (r.state !== 'rolling') return { ok: false, code: 'bad-state', message: `${app} ${version} is ${r.state}; only staged, halted or rolling versions promote` };
    const p = JSON.parse(r.plan) as Plan & { wave: number };
    if (p.wave + 1 >= p.waves.length) return this.#makeLive(r);
    return this.#set(r, 'rolling', JSON.stringify({ ...p, wave: p.wave + 1, waveStartedAt: this.#now() }));
  }

  async halt(app: string, version: string): Promise<ReleaseOutcome> {
    const r = await this.#store.get(app, version);
    if (r === undefined) return notFound(app, version);
    if (r.state !== 'rolling') return { ok: false, code: 'bad-state', message: `${app} ${version} is ${r.state}; only a rolling version halts` };
    return this.#set(r, 'halted', r.plan);
  }

  /** Stop a candidate (rolling or halted: it becomes rolled-back), or make an older version live again. */
  async rollback(app: string, version: string): Promise<ReleaseOutcome> {
    const r = await this.#store.get(app, version);
    if (r === undefined) return notFound(app, version);
    if (r.state === 'rolling' || r.state === 'halted') return this.#set(r, 'rolled-back', r.plan);
    if (r.state === 'retired' || r.state === 'rolled-back') return this.#makeLive(r, 'rollback');
    return { ok: false, code: 'bad-state', message: `${app} ${version} is ${r.state}: roll back a candidate, or name an older version to make live again` };
  }

  async #makeLive(r: Release, why: 'promote' | 'rollback' = 'promote'): Promise<ReleaseOutcome> {
    const current = await this.live(r.app);
    if (current !== undefined && current.version !== r.version) {
      if (why === 'promote' && compareVersions(r.version, current.version) < 0) return { ok: false, code: 'refused', message: `${r.app} ${r.version} is older than live ${current.version}: use rollback to go back` };
      const retired = await this.#set(current, 'retired', current.plan);
      if (!retired.ok) return retired;
    }
    const out = await this.#set(r, 'live', r.plan);
    if (out.ok) this.#onLive(out.release);
    return out;
  }

  async #set(r: Release, state: ReleaseState, plan: string): Promise<ReleaseOutcome> {
    const u = await this.#store.update(r.app, r.version, r.rev, { state, plan });
    if (u.ok) this.onChange(r.app);
    if (u.ok) return { ok: true, release: u.release, ...(u.unconfirmed === true ? { note: UNCONFIRMED } : {}) };
    return u.reason === 'not-found' ? notFound(r.app, r.version) : { ok: false, code: 'conflict', message: `${r.app} ${r.version} changed meanwhile (now ${u.current.state}); try again` };
  }
}

/** [wave 16] A write its Redis Cluster master took and no replica confirmed in time. */
const UNCONFIRMED = 'stored on one Redis master only (no replica confirmed it in time): a failover now would undo it; check `weft app status` in a minute and repeat if it is gone';

function notFound(app: string, version: string): ReleaseOutcome {
  return { ok: false, code: 'not-found', message: `no ${app} ${version} published` };
}

function summary(r: Release): ReleaseSummary {
  const s: ReleaseSummary = { app: r.app, version: r.version, state: r.state, publishedBy: r.publishedBy, publishedAt: r.publishedAt, modules: Object.keys(r.sources).length };
  if (r.plan !== '') s.plan = JSON.parse(r.plan) as Plan;
  return s;
}
