// The signed rollout directive (issue 15): which version of an app each box must run, as the
// head-end's operator key signs it and the carousel carries it (`rollout.json` + `rollout.sig`,
// signed like a manifest). Shared by the head-end (encode) and the box (parse, pick). Pure.
import { cohort01 } from './cohort.ts';
import { jsonOf, utf8 } from './bytes.ts';

export const ROLLOUT_STATES = ['steady', 'rolling', 'halted', 'rolled-back'] as const;
export type RolloutState = (typeof ROLLOUT_STATES)[number];

export interface RolloutCandidate {
  version: string;
  /** Cumulative share of the fleet (by stable cohort) that runs the candidate now, 0..100. */
  percent: number;
  /** Only boxes of these device profiles take part (absent: all). */
  profiles?: string[];
  /** Boxes in these explicit groups take the candidate whatever their cohort. */
  groups?: string[];
}

export interface RolloutDirective {
  kind: 'weft-rollout';
  app: string;
  /** Rises with every directive the head-end signs (a durable counter): a replayed older one is ignored. */
  seq: number;
  /** The version every box not selected for the candidate runs. */
  live: string;
  /** Seconds a box runs a new version on probation before it commits it. */
  probationS: number;
  /** steady: no candidate; rolling: selected boxes take the candidate; halted: it spreads no further; rolled-back: nobody runs it. */
  state: RolloutState;
  candidate?: RolloutCandidate;
}

/** What a box must run: the version, and whether it is the candidate. */
export interface RolloutTarget {
  version: string;
  candidate: boolean;
}

/**
 * Names on the carousel (all `data` modules): the directive and its signature, the trust issue's
 * rollback directive (loader/rollback-floor.ts) after a rollback, and the candidate's signed
 * manifest and modules under `next/` while a rollout runs. The live version is the carousel's own.
 */
export const ROLLOUT_NAMES = { directive: 'rollout.json', signature: 'rollout.sig', rollback: 'rollback.json', rollbackSignature: 'rollback.sig', next: 'next/' } as const;

export const MAX_DIRECTIVE_BYTES = 4096;
const APP = /^[a-z0-9][a-z0-9-]{0,62}$/;
const VERSION = /^\d{1,9}\.\d{1,9}\.\d{1,9}(?:-[0-9A-Za-z.-]{1,64})?(?:\+[0-9A-Za-z.-]{1,64})?$/;
const NAME = /^[a-z0-9][a-z0-9-]{0,31}$/;
const KEYS = ['kind', 'app', 'seq', 'live', 'probationS', 'state', 'candidate'];
const CANDIDATE_KEYS = ['version', 'percent', 'profiles', 'groups'];

/** The exact bytes to sign: JSON with keys in a fixed order. Throws RangeError on a bad directive. */
export function encodeRollout(d: RolloutDirective): Uint8Array {
  const bytes = utf8(JSON.stringify(checkRollout(d)));
  if (bytes.length > MAX_DIRECTIVE_BYTES) throw new RangeError(`rollout directive over ${MAX_DIRECTIVE_BYTES} bytes`);
  return bytes;
}

/** Parse untrusted bytes (after the signature was checked); undefined when they are not a directive. */
export function parseRollout(bytes: Uint8Array): RolloutDirective | undefined {
  if (bytes.length > MAX_DIRECTIVE_BYTES) return undefined;
  try {
    return checkRollout(jsonOf(bytes));
  } catch {
    return undefined;
  }
}

/**
 * The version a box runs under a directive: the candidate when the rollout is not rolled back
 * and the box is in its groups, or in its profiles and in the share of cohorts reached so far;
 * the live version otherwise. The same cohort (runtime/app/cohort.ts) as the head-end's waves.
 */
export function rolloutTarget(d: RolloutDirective, box: { boxId: string; profile?: string; groups?: readonly string[] }): RolloutTarget {
  const c = d.candidate;
  const pick = c !== undefined && d.state !== 'rolled-back' && (box.groups?.some((g) => c.groups?.includes(g)) === true || ((c.profiles === undefined || c.profiles.includes(box.profile as string)) && cohort01(box.boxId, d.app) * 100 < c.percent));
  return { version: pick ? c.version : d.live, candidate: pick };
}

// The messages are short on purpose: the box parses directives in its firmware (size budget).
function checkRollout(v: unknown): RolloutDirective {
  const o = record(v, '', KEYS);
  if (o.kind !== 'weft-rollout') bad('.kind', 'not weft-rollout');
  if (!(ROLLOUT_STATES as readonly unknown[]).includes(o.state)) bad('.state', `not one of ${ROLLOUT_STATES.join(', ')}`);
  // Keys in this order: they are the signed bytes (encodeRollout).
  const out: RolloutDirective = { kind: 'weft-rollout', app: str(o.app, '.app', APP), seq: num(o.seq, '.seq', 1, Number.MAX_SAFE_INTEGER, true), live: str(o.live, '.live', VERSION), probationS: num(o.probationS, '.probationS', 0, 86_400), state: o.state as RolloutState };
  if (o.candidate !== undefined) {
    const c = record(o.candidate, '.candidate', CANDIDATE_KEYS);
    const cand: RolloutCandidate = { version: str(c.version, '.candidate.version', VERSION), percent: num(c.percent, '.candidate.percent', 0, 100) };
    for (const k of ['profiles', 'groups'] as const) if (c[k] !== undefined) cand[k] = names(c[k], `.candidate.${k}`);
    out.candidate = cand;
  }
  return out;
}

function bad(at: string, what: string): never {
  throw new RangeError(`rollout${at}: ${what}`);
}

function record(v: unknown, at: string, keys: string[]): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) bad(at, 'not an object');
  for (const k of Object.keys(v)) if (!keys.includes(k)) bad(`${at}.${k}`, 'unknown key');
  return v as Record<string, unknown>;
}

function str(v: unknown, at: string, re: RegExp): string {
  if (typeof v !== 'string' || !re.test(v)) bad(at, `bad value ${JSON.stringify(v)?.slice(0, 40)}`);
  return v;
}

function num(v: unknown, at: string, min: number, max: number, int = false): number {
  if (typeof v !== 'number' || !(v >= min && v <= max) || (int && !Number.isInteger(v))) bad(at, `not a number in ${min}..${max}`);
  return v;
}

function names(v: unknown, at: string): string[] {
  if (!Array.isArray(v) || v.length > 64 || v.some((x) => typeof x !== 'string' || !NAME.test(x))) bad(at, 'not a list of at most 64 short names');
  return [...(v as string[])];
}
