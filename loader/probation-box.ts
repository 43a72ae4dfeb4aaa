// The box's side of a rollout (issue 15): reads the signed rollout directive on the carousel to
// pick the version this box must run, puts a new version on probation (probation.ts), commits it
// (the anti-rollback floor rises, it becomes the last-known-good version whose blobs the module
// cache never evicts) or reverts to the last-known-good version from the cache, and keeps the
// outcomes the box reports to the head-end. Needs no return channel: the carousel is enough.

import type { CarouselModule } from '../carousel/index.ts';
import { jsonOf, parseRollout, parseSignature, ROLLOUT_NAMES, rolloutTarget, verifySignature, type RolloutDirective, type TrustedKey } from '../runtime/app/index.ts';
import type { Clock } from '../runtime/index.ts';
import type { AcquiredApp, AcquirerOptions, VersionPick } from './acquire.ts';
import type { BoxEvent } from './box-events.ts';
import { parseIndex, type AppIndex, type ModuleCache } from './module-cache.ts';
import type { DeviceStorage } from './ports.ts';
import type { ResolvedBoxOptions } from './options.ts';
import { Probation, type ProbationReason, type ProbationVerdict } from './probation.ts';
import { compareVersions, type RollbackFloor } from './rollback-floor.ts';

/** One probation outcome, as the box reports it (stats.box `rollout`). */
export interface RolloutOutcome {
  app: string;
  version: string;
  outcome: 'probation' | 'committed' | 'reverted';
  reason?: ProbationReason;
  at: number;
}

export interface ProbationStats {
  trials: number;
  committed: number;
  reverted: number;
  /** Reverts that found no last-known-good version in the cache and acquired again instead. */
  reacquired: number;
  directives: number;
  /** Directives refused: bad signature or bytes, or an older seq than one seen (a replay). */
  directivesRefused: number;
}

interface Record_ {
  seq: number;
  rejected: string[];
  lkg?: AppIndex;
  outcomes: RolloutOutcome[];
}

const MAX_REJECTED = 16;
/** Refusals that say nothing about the version's bytes. */
const NOT_THE_VERSION = ['session', 'carousel-quota', 'rollback'];
const MAX_OUTCOMES = 4;
const DEFAULT_PROBATION_MS = 60_000;

/** The part of the box's NamedTimers this uses. */
export interface ProbationTimer {
  arm(name: 'probation', ms: number, fn: () => void): void;
  clear(name: 'probation'): void;
}

export interface BoxProbationOptions {
  boxId: string;
  profile: string;
  groups: readonly string[];
  trusted: readonly TrustedKey[];
  storage: DeviceStorage;
  cache: ModuleCache | undefined;
  floor: RollbackFloor;
  clock: Clock;
  /** The box's timers (cleared at shutdown); this uses the one named `probation`. */
  timers: ProbationTimer;
  readyMs: number;
  /** The version about to start (the acquirer's current, read when the table starts or restarts the app). */
  current: () => AcquiredApp | undefined;
  /** Verify and load a cached version (Acquirer.warm with an index). */
  warm: (index: AppIndex) => Promise<AcquiredApp | undefined>;
  /** Run this version now (the box fires `update`). */
  run: (app: AcquiredApp) => void;
  /** No cached version to go back to: acquire again from the carousel (the pick now avoids the reverted one). */
  reacquire: () => void;
  /** An outcome to tell the head-end now, when the channel is up. */
  report: () => void;
  /** An outcome for the box's observers. */
  emit: (e: BoxEvent) => void;
  /** The box's measured loop lag now, ms: the ready deadline stretches by it (probation.ts). */
  lag?: () => number;
}

export class BoxProbation {
  #o: BoxProbationOptions;
  #p: Probation;
  #records = new Map<string, Record_>();
  #app: AcquiredApp | undefined;
  #probationMs = DEFAULT_PROBATION_MS;
  /** The candidate manifest the last pick chose, if it chose one. */
  #candidate: { app: string; sha: string; version: string } | undefined;
  #stats: ProbationStats = { trials: 0, committed: 0, reverted: 0, reacquired: 0, directives: 0, directivesRefused: 0 };

  constructor(o: BoxProbationOptions) {
    this.#o = o;
    this.#p = new Probation({ now: () => o.clock.now(), readyMs: o.readyMs, lag: o.lag });
  }

  stats(): ProbationStats & { trial: string | undefined } {
    return { ...this.#stats, trial: this.#p.trial?.version };
  }

  /** The latest outcomes of every app this box ran, newest last (what stats.box carries). */
  outcomes(): RolloutOutcome[] {
    return [...this.#records.values()].flatMap((r) => r.outcomes);
  }

  /** The version on probation now, if any. */
  get trial(): string | undefined {
    return this.#p.trial?.version;
  }

  /** The Acquirer's `pick`: the candidate under next/ when the signed directive selects this box, else the carousel's own. */
  async pick(got: CarouselModule[]): Promise<VersionPick> {
    const own: VersionPick = { manifest: got.find((m) => m.kind === 'manifest'), signature: got.find((m) => m.kind === 'signature'), prefix: '' };
    this.#candidate = undefined;
    const d = await this.#directive(got);
    if (d === undefined) return own;
    await this.#rollback(got, d);
    this.#probationMs = Math.round(d.probationS * 1000);
    if (!rolloutTarget(d, { boxId: this.#o.boxId, profile: this.#o.profile, groups: this.#o.groups }).candidate) return own;
    const manifest = got.find((m) => m.name === `${ROLLOUT_NAMES.next}manifest.json`);
    if (manifest === undefined || this.#load(d.app).rejected.includes(manifest.sha256)) return own;
    this.#candidate = { app: d.app, sha: manifest.sha256, version: d.candidate?.version ?? '?' };
    return { manifest, signature: got.find((m) => m.name === `${ROLLOUT_NAMES.next}manifest.sig`), prefix: ROLLOUT_NAMES.next };
  }

  /**
   * The Acquirer's `holdFloor`: a version on (or about to go on) probation does not raise the
   * floor; one below the floor runs only because a signed rollback directive named it, and the
   * floor follows the operator down at once, as without probation.
   */
  holdFloor(app: string, sha: string, version: string): boolean {
    const lkg = this.#load(app).lkg;
    const floor = this.#o.floor.floor(app);
    if (floor !== undefined && compareVersions(version, floor) < 0) return false;
    return lkg !== undefined && lkg.manifest !== sha;
  }

  /** The acquirer refused what the pick chose: a candidate that fails its signature is reverted from. */
  refused(): void {
    const c = this.#candidate;
    if (c === undefined) return;
    this.#candidate = undefined;
    if (this.#p.trial?.sha === c.sha) return void this.#act({ kind: 'revert', reason: 'signature', detail: 'a module of the candidate failed verification' });
    this.#reject(c.app, c.sha);
    this.#outcome(c.app, c.version, 'reverted', 'signature');
  }

  /** A version started on the box: a new one goes on probation; the last-known-good one ends any. */
  started(app: AcquiredApp): void {
    const name = app.manifest.app;
    const r = this.#load(name);
    this.#app = app;
    if (r.lkg?.manifest === app.manifestSha) {
      const t = this.#p.trial;
      if (t !== undefined) this.#outcome(name, t.version, 'reverted', 'directive');
      return this.#end();
    }
    if (this.#p.trial?.sha === app.manifestSha) return;
    const expect = [...app.modules.values()].filter((m) => m.entry.kind === 'client' && m.entry.tier === 'boot').map((m) => m.entry.name);
    // A first version has nothing to go back to: it commits as soon as its modules are ready, and
    // only a crash loop or no ready fails it (a slow box's watchdog stops are the supervisor's).
    const first = r.lkg === undefined;
    this.#p.begin({ sha: app.manifestSha, version: app.manifest.version, expect, probationMs: first ? 0 : this.#probationMs, ...(first ? { faultsAllowed: Number.MAX_SAFE_INTEGER } : {}) });
    this.#stats.trials++;
    this.#outcome(name, app.manifest.version, 'probation');
    this.#arm();
  }

  /** What the Acquirer needs: `pick` and `holdFloor`. */
  acquirerHooks(): Pick<AcquirerOptions, 'pick' | 'holdFloor'> {
    return { pick: (got) => this.pick(got), holdFloor: (m, sha) => this.holdFloor(m.app, sha, m.version) };
  }

  /** Every box event: a start begins a trial, module starts, faults and crash loops decide one, a refusal ends a candidate. */
  event(e: BoxEvent): void {
    // The table's start actions run after this event: the trial begins before any module reports ready.
    if (e.kind === 'state' && (e.action === 'start-app' || e.action === 'restart-app')) {
      const app = this.#o.current();
      if (app !== undefined) this.started(app);
      return;
    }
    if (e.kind === 'refused' && !NOT_THE_VERSION.includes(e.problem)) return this.refused();
    if (this.#p.trial === undefined || e.kind !== 'module') return;
    const v = this.#p.event(e);
    if (v === undefined) this.#arm(); // ready moves the commit time
    else void this.#act(v);
  }

  #arm(): void {
    const due = this.#p.due();
    if (due === undefined) return;
    this.#o.timers.arm('probation', Math.max(0, due - this.#o.clock.now()), () => void this.#act(this.#p.check() ?? (this.#arm(), undefined)));
  }

  async #act(v: ProbationVerdict | undefined): Promise<void> {
    const t = this.#p.trial;
    const app = this.#app;
    if (v === undefined || t === undefined || app === undefined) return;
    const name = app.manifest.app;
    this.#end();
    if (v.kind === 'commit') return this.#commit(app);
    this.#stats.reverted++;
    this.#reject(name, t.sha);
    this.#outcome(name, t.version, 'reverted', v.reason);
    const lkg = this.#load(name).lkg;
    const back = lkg === undefined ? undefined : await this.#o.warm(lkg);
    if (back === undefined || lkg === undefined) {
      this.#stats.reacquired++;
      return this.#o.reacquire();
    }
    this.#o.cache?.saveApp(lkg); // a power cut now boots the last-known-good version
    this.#o.run(back);
  }

  #commit(app: AcquiredApp): void {
    const name = app.manifest.app;
    this.#o.floor.raise(name, app.manifest.version);
    const idx = this.#o.cache?.loadApp(name);
    const r = this.#load(name);
    if (idx !== undefined && idx.manifest === app.manifestSha) {
      r.lkg = idx;
      this.#o.cache?.spare([idx.manifest, idx.signature, ...Object.values(idx.modules)]);
    }
    this.#stats.committed++;
    this.#outcome(name, app.manifest.version, 'committed');
  }

  #end(): void {
    this.#p.end();
    this.#o.timers.clear('probation');
  }

  async #directive(got: CarouselModule[]): Promise<RolloutDirective | undefined> {
    const bytes = got.find((m) => m.name === ROLLOUT_NAMES.directive);
    if (bytes === undefined) return undefined;
    const sigBytes = got.find((m) => m.name === ROLLOUT_NAMES.signature);
    const sig = sigBytes === undefined ? undefined : parseSignature(sigBytes.bytes);
    const key = sig === undefined ? undefined : this.#o.trusted.find((k) => k.keyId === sig.keyId);
    const d = key === undefined || sig === undefined || !(await verifySignature(bytes.bytes, sig.sig, key)) ? undefined : parseRollout(bytes.bytes);
    const r = d === undefined ? undefined : this.#load(d.app);
    if (d === undefined || r === undefined || d.seq < r.seq) {
      this.#stats.directivesRefused++;
      return undefined;
    }
    if (d.seq > r.seq) {
      r.seq = d.seq;
      this.#stats.directives++;
      this.#save(d.app);
    }
    return d;
  }

  // [12.9] the trust issue's rollback directive rides along after a rollback: the floor admits
  // exactly the version it names. Offered only while the floor refuses the live version.
  async #rollback(got: CarouselModule[], d: RolloutDirective): Promise<void> {
    const rb = got.find((m) => m.name === ROLLOUT_NAMES.rollback);
    const sig = got.find((m) => m.name === ROLLOUT_NAMES.rollbackSignature);
    if (rb === undefined || sig === undefined || this.#o.floor.check(d.app, d.live).ok) return;
    await this.#o.floor.accept(rb.bytes, sig.bytes, this.#o.trusted);
  }

  #reject(app: string, sha: string): void {
    const r = this.#load(app);
    if (!r.rejected.includes(sha)) r.rejected = [...r.rejected, sha].slice(-MAX_REJECTED);
    this.#save(app);
  }

  #outcome(app: string, version: string, outcome: RolloutOutcome['outcome'], reason?: ProbationReason): void {
    const r = this.#load(app);
    const o: RolloutOutcome = { app, version, outcome, ...(reason === undefined ? {} : { reason }), at: this.#o.clock.now() };
    r.outcomes = [...r.outcomes.filter((x) => x.version !== version), o].slice(-MAX_OUTCOMES);
    this.#save(app);
    this.#o.emit({ kind: 'probation', app, version, outcome, ...(reason === undefined ? {} : { reason }) });
    this.#o.report();
  }

  #load(app: string): Record_ {
    let r = this.#records.get(app);
    if (r !== undefined) return r;
    r = parseRecord(this.#o.storage.read(`p.${app}`)) ?? { seq: 0, rejected: [], outcomes: [] };
    this.#records.set(app, r);
    if (r.lkg !== undefined) this.#o.cache?.spare([r.lkg.manifest, r.lkg.signature, ...Object.values(r.lkg.modules)]);
    return r;
  }

  #save(app: string): void {
    const r = this.#records.get(app);
    if (r === undefined || this.#o.storage.capacity === 0) return;
    this.#o.storage.write(`p.${app}`, new TextEncoder().encode(JSON.stringify(r)));
  }
}

function parseRecord(bytes: Uint8Array | undefined): Record_ | undefined {
  if (bytes === undefined) return undefined;
  try {
    const o = jsonOf(bytes) as Partial<Record_>;
    if (typeof o.seq !== 'number' || !Array.isArray(o.rejected) || !Array.isArray(o.outcomes)) return undefined;
    const rejected = o.rejected.filter((s): s is string => typeof s === 'string' && /^[0-9a-f]{64}$/.test(s)).slice(-MAX_REJECTED);
    const lkg = o.lkg === undefined ? undefined : parseIndex(new TextEncoder().encode(JSON.stringify(o.lkg)));
    return { seq: o.seq, rejected, outcomes: o.outcomes.slice(-MAX_OUTCOMES) as RolloutOutcome[], ...(lkg === undefined ? {} : { lkg }) };
  } catch {
    return undefined;
  }
}

/** The box's probation from its resolved options (box.ts stays a wiring of parts). */
export function boxProbation(o: ResolvedBoxOptions, cache: ModuleCache | undefined, floor: RollbackFloor, timers: ProbationTimer, hooks: Pick<BoxProbationOptions, 'current' | 'warm' | 'run' | 'reacquire' | 'report' | 'emit' | 'lag'>): BoxProbation {
  return new BoxProbation({ boxId: o.boxId, profile: o.profile.id, groups: o.groups, trusted: o.trusted, storage: o.storage, cache, floor, clock: o.clock, timers, readyMs: o.readyMs, ...hooks });
}
