// The boxes' probation outcomes as the head-end hears them (issue 15): every box report may
// carry `rollout` (loader/probation-box.ts), the latest outcome per version per box wins. Counts
// a wave's boxes for decideWave: assigned are the boxes this head-end has heard of whose cohort
// and profile put them in the wave; a box that never reported is unknown, never failed.
// Bounded: a stranger's reports cannot make it hold more than `maxBoxes` boxes.
import { cohort01 } from '../../runtime/app/index.ts';
import { waveOf, type Plan, type WaveCounts } from './plan.ts';

export interface BoxOutcome {
  app: string;
  version: string;
  outcome: 'probation' | 'committed' | 'reverted';
  reason?: string;
  at: number;
}

export interface TallyStats {
  reports: number;
  /** Reports whose `rollout` part did not parse (dropped whole). */
  malformed: number;
  /** Boxes not recorded because the tally was full. */
  overflow: number;
}

const ID = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
const APP = /^[a-z0-9][a-z0-9-]{0,62}$/;
const VERSION = /^\d{1,9}\.\d{1,9}\.\d{1,9}(?:[-+][0-9A-Za-z.-]{1,64})?$/;
const OUTCOMES = ['probation', 'committed', 'reverted'];
const MAX_OUTCOMES = 8;

/** The `rollout` part of an untrusted box report, or undefined (with `malformed`) when it is not one. */
export function parseRolloutPart(v: unknown): { outcomes: BoxOutcome[] } | { malformed: true } | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length > MAX_OUTCOMES) return { malformed: true };
  const out: BoxOutcome[] = [];
  for (const x of v as unknown[]) {
    const o = x as Partial<BoxOutcome> | null;
    if (o === null || typeof o !== 'object' || typeof o.app !== 'string' || !APP.test(o.app) || typeof o.version !== 'string' || !VERSION.test(o.version)) return { malformed: true };
    if (typeof o.outcome !== 'string' || !OUTCOMES.includes(o.outcome) || typeof o.at !== 'number' || !Number.isFinite(o.at)) return { malformed: true };
    if (o.reason !== undefined && (typeof o.reason !== 'string' || o.reason.length > 32)) return { malformed: true };
    out.push({ app: o.app, version: o.version, outcome: o.outcome, ...(o.reason === undefined ? {} : { reason: o.reason }), at: o.at });
  }
  return { outcomes: out };
}

export class RolloutTally {
  readonly maxBoxes: number;
  /** boxId -> device profile (undefined when the box did not say). */
  #seen = new Map<string, string | undefined>();
  /** `app@version` -> boxId -> latest outcome. */
  #outcomes = new Map<string, Map<string, BoxOutcome>>();
  #stats: TallyStats = { reports: 0, malformed: 0, overflow: 0 };

  constructor(o: { maxBoxes?: number } = {}) {
    this.maxBoxes = o.maxBoxes ?? 200_000;
  }

  stats(): TallyStats & { boxes: number } {
    return { ...this.#stats, boxes: this.#seen.size };
  }

  /**
   * A box report (its body as sent, the login already checked against boxId). Gives the
   * `app@version` keys whose count this report changed (a box newly committed or reverted): the
   * driver decides those at once, not at its next tick.
   */
  report(body: unknown): string[] {
    const b = body as { boxId?: unknown; profile?: unknown; rollout?: unknown } | null;
    if (b === null || typeof b !== 'object' || typeof b.boxId !== 'string' || !ID.test(b.boxId)) return [];
    const part = parseRolloutPart(b.rollout);
    if (part !== undefined && 'malformed' in part) {
      this.#stats.malformed++;
      return [];
    }
    if (!this.#seen.has(b.boxId) && this.#seen.size >= this.maxBoxes) {
      this.#stats.overflow++;
      return [];
    }
    const changed: string[] = [];
    this.#stats.reports++;
    this.#seen.set(b.boxId, typeof b.profile === 'string' && b.profile.length <= 32 ? b.profile : undefined);
    for (const o of part?.outcomes ?? []) {
      const key = `${o.app}@${o.version}`;
      let m = this.#outcomes.get(key);
      if (m === undefined) this.#outcomes.set(key, (m = new Map()));
      const had = m.get(b.boxId);
      if (had !== undefined && had.at > o.at) continue;
      m.set(b.boxId, o);
      if (o.outcome !== 'probation' && had?.outcome !== o.outcome) changed.push(key);
    }
    return changed;
  }

  /** The counts of wave `wave` of `plan` for `app@version`. */
  counts(app: string, version: string, plan: Plan, wave: number): WaveCounts {
    const outcomes = this.#outcomes.get(`${app}@${version}`);
    let assigned = 0;
    let succeeded = 0;
    let failed = 0;
    for (const [box, profile] of this.#seen) {
      const o = outcomes?.get(box);
      const w = waveOf(plan, cohort01(box, app), profile);
      // A box that tried the version counts even if its wave says otherwise (a group, an older plan).
      if (o === undefined && (w === undefined || w > wave)) continue;
      assigned++;
      if (o?.outcome === 'committed') succeeded++;
      else if (o?.outcome === 'reverted') failed++;
    }
    return { assigned, succeeded, failed };
  }
}
