// What the carousel carries for an app during a rollout (issue 15): the live version as the
// carousel's own manifest and modules, the candidate's signed manifest and modules under `next/`,
// the signed rollout directive, and after a rollback the trust issue's rollback directive, so a
// box without a return channel rolls back too. Derived from the release store's states alone,
// so a restarted head-end puts the same plan back on air. Signs; no I/O of its own.
import { makeModule, type CarouselModule, type ModuleSet } from '../../carousel/index.ts';
import { decodeManifest, encodeRollout, ROLLOUT_NAMES, utf8, type RolloutDirective } from '../../runtime/app/index.ts';
import type { Plan } from './plan.ts';
import { compareVersions, type Release } from './store.ts';

/** Signs directive bytes with the operator key the head-end holds (the manifest.sig format). */
export type DirectiveSigner = (bytes: Uint8Array) => Promise<Uint8Array>;

/** Probation when no plan says otherwise (a version made live at once, a rollback), seconds. */
export const DEFAULT_PROBATION_S = 60;

export interface RolloutView {
  live: Release;
  /** The rolling or halted version above live, if any. */
  candidate?: Release;
  /** The highest version above live, other than the candidate, that boxes may have run (rolled back, retired): boxes get a rollback directive to live. */
  above?: Release;
}

/** The live version, the candidate and the highest version above live, from every release of one app. */
export function rolloutView(releases: readonly Release[]): RolloutView | undefined {
  const live = releases.filter((r) => r.state === 'live').at(-1);
  if (live === undefined) return undefined;
  const newer = releases.filter((r) => compareVersions(r.version, live.version) > 0 && r.state !== 'staged').sort((a, b) => compareVersions(a.version, b.version));
  const candidate = newer.filter((r) => r.state === 'rolling' || r.state === 'halted').at(-1);
  const above = newer.filter((r) => r !== candidate).at(-1);
  return { live, ...(candidate === undefined ? {} : { candidate }), ...(above === undefined ? {} : { above }) };
}

/** The directive for a view; `seq` comes from the store's durable counter. */
export function directiveOf(view: RolloutView, seq: number): RolloutDirective {
  const { live, candidate, above } = view;
  const base = { kind: 'weft-rollout' as const, app: live.app, seq, live: live.version };
  if (candidate !== undefined) {
    const plan = JSON.parse(candidate.plan) as Plan & { wave: number };
    const wave = plan.waves[Math.min(plan.wave, plan.waves.length - 1)];
    const c = { version: candidate.version, percent: wave?.percent ?? 0, ...(plan.profiles === undefined ? {} : { profiles: plan.profiles }) };
    return { ...base, probationS: wave?.probationS ?? DEFAULT_PROBATION_S, state: candidate.state === 'halted' ? 'halted' : 'rolling', candidate: c };
  }
  return { ...base, probationS: probationOf(live), state: above === undefined ? 'steady' : 'rolled-back' };
}

/** The carousel's module set for a view: live, candidate under next/, the signed directives. */
export async function rolloutModuleSet(view: RolloutView, seq: number, sign: DirectiveSigner): Promise<{ set: ModuleSet; directive: RolloutDirective }> {
  const directive = directiveOf(view, seq);
  const bytes = encodeRollout(directive);
  const modules = [...releaseModules(view.live, ''), makeModule(ROLLOUT_NAMES.directive, 'data', 'boot', bytes), makeModule(ROLLOUT_NAMES.signature, 'data', 'boot', await sign(bytes))];
  if (view.candidate !== undefined) modules.push(...releaseModules(view.candidate, ROLLOUT_NAMES.next));
  if (view.above !== undefined) {
    // [12.9] boxes that ran a version above live may go back to live: exactly this one, from at most that one.
    const rb = utf8(JSON.stringify({ kind: 'weft-rollback', app: view.live.app, version: view.live.version, maxFloor: view.above.version }));
    modules.push(makeModule(ROLLOUT_NAMES.rollback, 'data', 'boot', rb), makeModule(ROLLOUT_NAMES.rollbackSignature, 'data', 'boot', await sign(rb)));
  }
  return { set: { appId: view.live.app, version: view.live.version, modules }, directive };
}

// The carousel kinds of one release: as the app's own (prefix '') or as data under next/.
function releaseModules(r: Release, prefix: string): CarouselModule[] {
  const own = prefix === '';
  const out: CarouselModule[] = [makeModule(`${prefix}manifest.json`, own ? 'manifest' : 'data', 'boot', r.manifestBytes), makeModule(`${prefix}manifest.sig`, own ? 'signature' : 'data', 'boot', r.signature)];
  for (const m of decodeManifest(r.manifestBytes).modules) {
    const bytes = r.sources[m.name];
    if ((m.kind === 'client' || m.kind === 'mutable') && bytes !== undefined) out.push(makeModule(`${prefix}${m.name}`, own ? m.kind : 'data', m.tier, bytes));
  }
  return out;
}

function probationOf(r: Release): number {
  if (r.plan === '') return DEFAULT_PROBATION_S;
  const p = JSON.parse(r.plan) as Partial<Plan>;
  return p.waves?.at(-1)?.probationS ?? DEFAULT_PROBATION_S;
}
