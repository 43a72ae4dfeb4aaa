// Scenarios of the cable-plant simulator: boxes, servers of unequal capacity, applications, a
// diurnal curve, a flash crowd, a server failure and how stale the statistics are. Data and
// validation only; plant.ts runs them.

import { ArgumentError, rejectUnknown } from '../runtime/index.ts';
import { SeededRandom } from '../policy/index.ts';
import type { ScaleOptions } from '../policy/index.ts';

export interface AppSpec {
  readonly name: string;
  /** Share of new sessions (shares are normalised). */
  readonly share: number;
  /** Mean requests per session (geometric). */
  readonly requests: number;
  /** Mean think time between a reply and the next request (ms, exponential). */
  readonly thinkMs: number;
  /** Mean service time of a request on one worker (ms, exponential). */
  readonly serviceMs: number;
  /** Memory a session's server portion takes on its node (MB). */
  readonly memMB: number;
}

export interface ServerSpec {
  /** Worker threads: the node's capacity. */
  readonly workers: number;
  readonly memMB: number;
}

export interface FlashSpec {
  readonly atMs: number;
  readonly durationMs: number;
  readonly app: string;
  /** New sessions of the app arrive this many times faster. */
  readonly arrivalX: number;
  /** Live sessions of the app send requests this many times faster (think time divided). */
  readonly activityX: number;
}

export interface Scenario {
  readonly seed: number;
  readonly boxes: number;
  readonly durationMs: number;
  /** Sojourns before this are not counted (the plant fills up with sessions first). */
  readonly warmupMs: number;
  readonly servers: readonly ServerSpec[];
  readonly apps: readonly AppSpec[];
  /** Offered load at the diurnal peak, as a fraction of the plant's total capacity. */
  readonly load: number;
  /** Diurnal curve (compressed day), or null for a flat load. */
  readonly diurnal: { readonly dayMs: number; readonly trough: number; readonly peakAtMs: number } | null;
  readonly flash: FlashSpec | null;
  readonly failure: { readonly atMs: number; readonly server: number } | null;
  /** A server runs `factor` times slower for a while (a backup job, a noisy neighbour): a hot spot. */
  readonly slowdown: { readonly atMs: number; readonly durationMs: number; readonly server: number; readonly factor: number } | null;
  /** Statistics reports: every intervalMs per node (random phase), seen delayMs (+ jitter) later. */
  readonly reports: { readonly intervalMs: number; readonly delayMs: number; readonly jitterMs: number };
  /** Independent balancers (one per head-end node), each with its own policy state. */
  readonly balancers: number;
  /** A node is declared dead after three missed heartbeats. */
  readonly heartbeatMs: number;
  /** A request sent to a dead node fails after this and is retried elsewhere. */
  readonly timeoutMs: number;
  /** The saturation rule [c25, c30] for Weft's policy, or null to leave it off. */
  readonly replicas: ScaleOptions | null;
  /** Width of the time-series buckets (ms). */
  readonly seriesMs: number;
}

/** Servers of unequal capacity: a seeded mix of 4-, 8- and 16-worker nodes (2:2:1). */
export function unequalServers(count: number, seed = 1, memMB = 16_384): ServerSpec[] {
  const rnd = new SeededRandom(seed);
  const out: ServerSpec[] = [];
  for (let i = 0; i < count; i++) {
    const u = rnd.next();
    const workers = u < 0.4 ? 4 : u < 0.8 ? 8 : 16;
    out.push({ workers, memMB: memMB * (workers / 8) });
  }
  return out;
}

/** A typical evening mix: the programme guide, VOD ordering, and chat. */
export const DEFAULT_APPS: readonly AppSpec[] = [
  { name: 'guide', share: 0.6, requests: 12, thinkMs: 4000, serviceMs: 20, memMB: 2 },
  { name: 'vod', share: 0.25, requests: 6, thinkMs: 8000, serviceMs: 60, memMB: 6 },
  { name: 'chat', share: 0.15, requests: 20, thinkMs: 3000, serviceMs: 10, memMB: 1 },
];

const KNOWN: readonly (keyof Scenario)[] = [
  'seed', 'boxes', 'durationMs', 'warmupMs', 'servers', 'apps', 'load', 'diurnal', 'flash', 'failure', 'slowdown',
  'reports', 'balancers', 'heartbeatMs', 'timeoutMs', 'replicas', 'seriesMs',
];

/** A scenario from defaults plus overrides (unknown keys rejected by name). */
export function scenario(overrides: Partial<Scenario> = {}): Scenario {
  rejectUnknown('scenario', overrides, KNOWN);
  const s: Scenario = {
    seed: 1,
    boxes: 1_000_000,
    durationMs: 600_000,
    warmupMs: 120_000,
    servers: unequalServers(50),
    apps: DEFAULT_APPS,
    load: 0.9,
    diurnal: null,
    flash: null,
    failure: null,
    slowdown: null,
    reports: { intervalMs: 1000, delayMs: 200, jitterMs: 100 },
    balancers: 4,
    heartbeatMs: 500,
    timeoutMs: 1000,
    replicas: null,
    seriesMs: 10_000,
    ...overrides,
  };
  const bad = (k: string, why: string): never => {
    throw new ArgumentError(`scenario: ${k} ${why}`, k);
  };
  if (!Number.isInteger(s.boxes) || s.boxes < 1) bad('boxes', 'must be an integer >= 1');
  if (!(s.durationMs > 0)) bad('durationMs', 'must be > 0');
  if (!(s.warmupMs >= 0 && s.warmupMs < s.durationMs)) bad('warmupMs', 'must be in [0, durationMs)');
  if (s.servers.length < 1) bad('servers', 'must list at least one server');
  if (s.servers.some((v) => !Number.isInteger(v.workers) || v.workers < 1 || !(v.memMB > 0))) bad('servers', 'need integer workers >= 1 and memMB > 0');
  if (s.apps.length < 1 || s.apps.length > 16) bad('apps', 'must list 1..16 apps');
  if (s.apps.some((a) => !(a.share > 0 && a.requests >= 1 && a.thinkMs >= 0 && a.serviceMs > 0 && a.memMB >= 0))) bad('apps', 'need share > 0, requests >= 1, thinkMs >= 0, serviceMs > 0, memMB >= 0');
  if (!(s.load > 0 && s.load < 2)) bad('load', 'must be in (0, 2)');
  if (s.diurnal !== null && !(s.diurnal.dayMs > 0 && s.diurnal.trough > 0 && s.diurnal.trough <= 1)) bad('diurnal', 'needs dayMs > 0 and trough in (0, 1]');
  if (s.flash !== null && (!s.apps.some((a) => a.name === s.flash?.app) || !(s.flash.arrivalX >= 1 && s.flash.activityX >= 1))) bad('flash', 'needs a known app and multipliers >= 1');
  if (s.failure !== null && !(Number.isInteger(s.failure.server) && s.failure.server >= 0 && s.failure.server < s.servers.length)) bad('failure', 'server must index servers');
  if (s.slowdown !== null && !(Number.isInteger(s.slowdown.server) && s.slowdown.server >= 0 && s.slowdown.server < s.servers.length && s.slowdown.factor >= 1 && s.slowdown.durationMs > 0)) bad('slowdown', 'needs a server index, factor >= 1 and durationMs > 0');
  if (!(s.reports.intervalMs > 0 && s.reports.delayMs >= 0 && s.reports.jitterMs >= 0)) bad('reports', 'needs intervalMs > 0, delayMs >= 0, jitterMs >= 0');
  if (!Number.isInteger(s.balancers) || s.balancers < 1 || s.balancers > 255) bad('balancers', 'must be an integer in 1..255');
  if (!(s.heartbeatMs > 0 && s.timeoutMs > 0 && s.seriesMs > 0)) bad('heartbeatMs', 'heartbeatMs, timeoutMs and seriesMs must be > 0');
  return s;
}

/** Diurnal factor in [trough, 1] at time t: a prime-time peak, squared cosine so it is narrow. */
export function diurnalFactor(t: number, d: Scenario['diurnal']): number {
  if (d === null) return 1;
  const c = (1 + Math.cos((2 * Math.PI * (t - d.peakAtMs)) / d.dayMs)) / 2;
  return d.trough + (1 - d.trough) * c * c;
}

/** Demand of one session of `app` in workers (service over the request cycle), times activity. */
export function sessionCost(app: AppSpec, activityX = 1): number {
  const think = app.thinkMs / activityX;
  return app.serviceMs / (think + app.serviceMs);
}

/** Peak session arrival rate (per ms) that offers `load` of the plant's capacity. */
export function peakSessionRate(s: Scenario): number {
  const shareSum = s.apps.reduce((a, x) => a + x.share, 0);
  const workPerSession = s.apps.reduce((a, x) => a + (x.share / shareSum) * x.requests * x.serviceMs, 0);
  const workers = s.servers.reduce((a, x) => a + x.workers, 0);
  return (s.load * workers) / workPerSession;
}
