// Rollout plans (issue 15) as data, and the pure decision of a wave from the boxes' reports.
// A plan is a list of waves, each a cumulative share of the fleet (by the boxes' stable cohort,
// runtime/app/cohort.ts), a probation time and an error budget, plus the quorum of reported
// successes a wave needs to promote. A box that has not reported is unknown, not failed: cut
// boxes can neither stall a rollout forever (`stallS`) nor pass one unseen (quorum).

export interface Wave {
  /** Cumulative percent of the fleet that runs the candidate in this wave (0 < p <= 100, rising). */
  percent: number;
  /** Seconds a box runs the candidate before it counts as a success. */
  probationS: number;
  /** Largest fraction of the wave's boxes that may fail before the rollout halts (0..1). */
  errorBudget: number;
}

export interface Plan {
  waves: Wave[];
  /** Fraction of a wave's boxes that must report success before it promotes (0..1). Default 0.9. */
  quorum: number;
  /** Seconds after probation without quorum before the rollout halts as stalled. Default 600. */
  stallS: number;
  /** Only boxes of these device profiles take part (default: all). */
  profiles?: string[];
}

export interface WaveCounts {
  /** Boxes in the wave (assigned the candidate so far). */
  assigned: number;
  succeeded: number;
  failed: number;
}

export type WaveDecision = { kind: 'wait' } | { kind: 'promote' } | { kind: 'done' } | { kind: 'halt'; reason: 'error-budget' | 'stalled'; detail: string };

const PLAN_KEYS = ['waves', 'quorum', 'stallS', 'profiles'];
const WAVE_KEYS = ['percent', 'probationS', 'errorBudget'];

/** The default plan: 1%, 10%, 50%, 100% with 5 minutes of probation and a 2% error budget. */
export const DEFAULT_PLAN: Plan = {
  waves: [1, 10, 50, 100].map((percent) => ({ percent, probationS: 300, errorBudget: 0.02 })),
  quorum: 0.9,
  stallS: 600,
};

/** Validate an untrusted plan (JSON value); errors name the field. */
export function parsePlan(input: unknown): Plan {
  const o = obj(input, 'plan');
  for (const k of Object.keys(o)) if (!PLAN_KEYS.includes(k)) throw new RangeError(`plan.${k}: unknown key (known: ${PLAN_KEYS.join(', ')})`);
  if (!Array.isArray(o.waves) || o.waves.length === 0 || o.waves.length > 20) throw new RangeError('plan.waves: a list of 1 to 20 waves');
  let last = 0;
  const waves = o.waves.map((w: unknown, i: number): Wave => {
    const at = `plan.waves[${i}]`;
    const x = obj(w, at);
    for (const k of Object.keys(x)) if (!WAVE_KEYS.includes(k)) throw new RangeError(`${at}.${k}: unknown key (known: ${WAVE_KEYS.join(', ')})`);
    const percent = num(x.percent, `${at}.percent`, 0.001, 100);
    if (percent <= last) throw new RangeError(`${at}.percent: waves are cumulative, so each must be more than the one before (${last})`);
    last = percent;
    return { percent, probationS: num(x.probationS, `${at}.probationS`, 0, 86_400), errorBudget: num(x.errorBudget, `${at}.errorBudget`, 0, 1) };
  });
  if (last !== 100) throw new RangeError('plan.waves: the last wave must reach 100 percent');
  const plan: Plan = { waves, quorum: o.quorum === undefined ? 0.9 : num(o.quorum, 'plan.quorum', 0, 1), stallS: o.stallS === undefined ? 600 : num(o.stallS, 'plan.stallS', 0, 604_800) };
  if (o.profiles !== undefined) {
    if (!Array.isArray(o.profiles) || o.profiles.some((p) => typeof p !== 'string' || !/^[a-z0-9-]{1,32}$/.test(p))) throw new RangeError('plan.profiles: a list of device profile ids');
    plan.profiles = o.profiles as string[];
  }
  return plan;
}

/** The first wave (0-based) in which a box of this cohort runs the candidate, or undefined when the plan leaves it out. */
export function waveOf(plan: Plan, cohort: number, profile?: string): number | undefined {
  if (plan.profiles !== undefined && (profile === undefined || !plan.profiles.includes(profile))) return undefined;
  const i = plan.waves.findIndex((w) => cohort * 100 < w.percent);
  return i < 0 ? undefined : i;
}

/**
 * What to do with the current wave, `elapsedS` after it started: halt as soon as failures pass
 * the budget; promote (or finish, on the last wave) once probation is over and reported
 * successes reach the quorum; halt as stalled when quorum is still missing `stallS` later.
 */
export function decideWave(plan: Plan, wave: number, c: WaveCounts, elapsedS: number): WaveDecision {
  const w = plan.waves[wave];
  if (w === undefined) throw new RangeError(`decideWave: no wave ${wave}`);
  if (c.assigned > 0 && c.failed / c.assigned > w.errorBudget) {
    return { kind: 'halt', reason: 'error-budget', detail: `${c.failed} of ${c.assigned} boxes failed (budget ${w.errorBudget * 100}%)` };
  }
  if (elapsedS < w.probationS) return { kind: 'wait' };
  if (c.assigned === 0 || c.succeeded / c.assigned >= plan.quorum) return wave === plan.waves.length - 1 ? { kind: 'done' } : { kind: 'promote' };
  if (elapsedS >= w.probationS + plan.stallS) {
    return { kind: 'halt', reason: 'stalled', detail: `${c.succeeded} of ${c.assigned} boxes reported success after ${Math.round(elapsedS)} s (quorum ${plan.quorum * 100}%); ${c.assigned - c.succeeded - c.failed} never reported` };
  }
  return { kind: 'wait' };
}

function obj(v: unknown, at: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new RangeError(`${at}: must be an object`);
  return v as Record<string, unknown>;
}

function num(v: unknown, at: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) throw new RangeError(`${at}: a number in ${min}..${max}, got ${JSON.stringify(v)}`);
  return v;
}
