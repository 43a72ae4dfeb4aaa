// Connection behaviour a box needs, as pure functions plus one small timer-driven loop:
// a connect timeout derived from the measured round-trip time (a dead path is detected in a few
// RTTs, not a client library's 30 s), and jittered, capped exponential backoff that spreads a
// fleet's reconnects over a window. No sockets here; time comes from an injected Clock.

import { ArgumentError, type Clock, type TimerHandle, nonNegative, rejectUnknown, seededRandom } from '../runtime/index.ts';
import { type LagSource, NO_LAG, confirmingClock } from './lag.ts';

export interface DeadPathPolicy {
  /** Connect timeout = rttFactor * RTT + marginMs. Default 3. */
  rttFactor: number;
  /** Default 50 ms: absorbs scheduling jitter on the broker and on the box. */
  marginMs: number;
  /** RTT assumed before anything was measured, ms. Default 100 (a cable return path). */
  initialRttMs: number;
  /** Ceiling of the timeout after repeated timeouts double it, ms. Default 10000. */
  maxMs: number;
  /** Probe an idle established link after this much silence, ms (MQTT PINGREQ, answered by the broker): a silent cut shows within idleProbeMs + the probe timeout. 0 (default): probe only while answers are owed. */
  idleProbeMs: number;
  /**
   * [19.6] An established link's probe waits at least this, ms, whatever the RTT (as TCP's minimum
   * RTO): on a LAN the RTT (~1 ms) says nothing about the broker's own loop, which stalls 100-400 ms
   * under load, and the box's silent-cut promise (idle probe + probe timeout within 5 s) leaves up
   * to 1 s for the probe. Default 500. The dial keeps 3 RTT + margin (a late CONNACK undoes it).
   */
  linkFloorMs: number;
  /**
   * How long a connect attempt's connection stays open after its first dead-path verdict, for a
   * late CONNACK, ms (issue 13.4: a broker behind on its CONNECTs is slow, not dead). The verdict
   * still comes at its deadline; a CONNACK within this makes the link up on that connection (no
   * second CONNECT), and a retry meanwhile waits on it again, never past this. 0 (default): the
   * connection is torn down at the verdict.
   */
  lateMs: number;
  /** Local event-loop lag (lag.ts): deadlines confirm over a span covering it before a verdict. Default: none measured (a late timer still confirms). */
  lag?: LagSource;
}

export const DEFAULT_DEAD_PATH: Readonly<DeadPathPolicy> = { rttFactor: 3, marginMs: 50, initialRttMs: 100, maxMs: 10_000, idleProbeMs: 0, linkFloorMs: 500, lateMs: 0 };

export function deadPathPolicy(where: string, p: Partial<DeadPathPolicy> = {}): DeadPathPolicy {
  rejectUnknown(where, p, [...Object.keys(DEFAULT_DEAD_PATH), 'lag']);
  const { lag, ...numbers } = { ...DEFAULT_DEAD_PATH, ...p };
  for (const [k, v] of Object.entries(numbers)) nonNegative(where, k, v);
  if (numbers.rttFactor < 1) throw new ArgumentError(`${where}: rttFactor must be >= 1`, 'rttFactor');
  if (lag !== undefined && typeof lag !== 'function') throw new ArgumentError(`${where}: lag must be a function`, 'lag');
  return lag === undefined ? numbers : { ...numbers, lag };
}

/**
 * How long one attempt (or one probe) may go unanswered before the path counts as dead: the
 * RFC 6298 RTO, SRTT + 4 RTTVAR, but never below rttFactor x SRTT, plus the margin. A bare RTT
 * is taken with RTTVAR = RTT/2 (RFC 6298 after one sample): 3 x RTT + margin. Each consecutive
 * timeout doubles it (up to maxMs), so a slow-but-alive broker still gets in. Local lag is not
 * in this number: the deadline timers confirm over it (lag.ts).
 */
export function connectTimeoutMs(rtt: number | RttEstimator, policy: DeadPathPolicy, consecutiveTimeouts = 0): number {
  const srtt = typeof rtt === 'number' ? rtt : rtt.rttMs;
  const rttvar = typeof rtt === 'number' ? rtt / 2 : rtt.rttVarMs;
  const base = srtt + Math.max((policy.rttFactor - 1) * srtt, 4 * rttvar) + policy.marginMs;
  return Math.min(policy.maxMs, base * 2 ** Math.min(consecutiveTimeouts, 20));
}

/** Round-trip time with its variance (RFC 6298 SRTT gain 1/8, RTTVAR gain 1/4); the first sample sets SRTT = R, RTTVAR = R/2. */
export class RttEstimator {
  #srtt: number | undefined;
  #rttvar = 0;
  #initial: number;
  #samples = 0;

  constructor(initialRttMs: number) {
    this.#initial = initialRttMs;
  }

  sample(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    this.#samples++;
    if (this.#srtt === undefined) {
      this.#srtt = ms;
      this.#rttvar = ms / 2;
      return;
    }
    this.#rttvar += (Math.abs(this.#srtt - ms) - this.#rttvar) / 4;
    this.#srtt += (ms - this.#srtt) / 8;
  }

  /** The smoothed RTT, or the initial estimate before any sample. */
  get rttMs(): number {
    return this.#srtt ?? this.#initial;
  }

  /** The RTT's mean deviation, or half the initial estimate before any sample. */
  get rttVarMs(): number {
    return this.#srtt === undefined ? this.#initial / 2 : this.#rttvar;
  }

  get samples(): number {
    return this.#samples;
  }
}

export interface BackoffPolicy {
  /** The first reconnect after an established link drops waits uniform [0, windowMs): a fleet that lost one broker arrives spread over this window, not in one spike. Default 10000. */
  windowMs: number;
  /** Delay scale of later attempts, ms. Default 1000. */
  baseMs: number;
  /** Growth per failed attempt. Default 2. */
  factor: number;
  /** Cap on any delay, ms. Default 60000. */
  capMs: number;
  /** Fraction of each later delay that is random: delay in [d(1-jitter), d). Default 0.5. */
  jitter: number;
}

export const DEFAULT_BACKOFF: Readonly<BackoffPolicy> = { windowMs: 10_000, baseMs: 1000, factor: 2, capMs: 60_000, jitter: 0.5 };

export function backoffPolicy(where: string, p: Partial<BackoffPolicy> = {}): BackoffPolicy {
  rejectUnknown(where, p, Object.keys(DEFAULT_BACKOFF));
  const out = { ...DEFAULT_BACKOFF, ...p };
  for (const [k, v] of Object.entries(out)) nonNegative(where, k, v);
  if (out.factor < 1) throw new ArgumentError(`${where}: factor must be >= 1`, 'factor');
  if (out.jitter > 1) throw new ArgumentError(`${where}: jitter must be in 0..1`, 'jitter');
  return out;
}

/**
 * Delay before reconnect attempt `attempt` (0 = the first after losing an established link).
 * Attempt 0 is spread over the whole window; attempt n >= 1 waits d = min(cap, base * factor^(n-1))
 * minus up to `jitter` of it, so boxes that failed together do not retry together. Never > capMs.
 */
export function reconnectDelay(attempt: number, policy: BackoffPolicy, random: () => number): number {
  if (attempt <= 0) return Math.min(policy.capMs, random() * policy.windowMs);
  const d = Math.min(policy.capMs, policy.baseMs * policy.factor ** Math.min(attempt - 1, 60));
  return d * (1 - policy.jitter) + random() * d * policy.jitter;
}

/**
 * Drives reconnects: `lost()` when an established link drops, `failed()` after an attempt that
 * did not get in, `succeeded()` once it did. Calls `attempt` when the chosen delay has passed.
 */
export class Reconnector {
  #clock: Clock;
  #policy: BackoffPolicy;
  #random: () => number;
  #attempt: () => void;
  #timer: TimerHandle | undefined;
  #n = 0;
  #stopped = false;

  constructor(clock: Clock, policy: BackoffPolicy, random: () => number, attempt: () => void) {
    this.#clock = clock;
    this.#policy = policy;
    this.#random = random;
    this.#attempt = attempt;
  }

  /** Attempts made since the link was last up. */
  get attempts(): number {
    return this.#n;
  }

  get waiting(): boolean {
    return this.#timer !== undefined;
  }

  lost(): number {
    this.#n = 0;
    return this.#schedule();
  }

  failed(): number {
    return this.#schedule();
  }

  succeeded(): void {
    this.#cancel();
    this.#n = 0;
  }

  stop(): void {
    this.#stopped = true;
    this.#cancel();
  }

  #schedule(): number {
    this.#cancel();
    if (this.#stopped) return -1;
    const delay = reconnectDelay(this.#n, this.#policy, this.#random);
    this.#n++;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      if (!this.#stopped) this.#attempt();
    }, delay);
    return delay;
  }

  #cancel(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/** Reproducible jitter for tests and the simulator (runtime's mulberry32). */
export { seededRandom };

export interface LinkWatchOptions {
  /** Local event-loop lag: a verdict waits a span covering it (lag.ts). Default none measured. */
  lag?: LagSource;
  /** Probe an idle link after this much silence too, ms (0: only while answers are owed). */
  idleProbeMs?: number;
  /** A verdict put off because the local loop was late (counted: slow, not dead). */
  onConfirm?: (lateMs: number) => void;
}

/**
 * Liveness of an established link: when nothing was heard for `silenceMs` while answers are owed
 * (QoS 1 sends in flight), or for `idleProbeMs` at all, send one probe; if that goes unanswered
 * for `probeTimeoutMs()` (the RTT-derived timeout), the path is dead. The deadline confirms over
 * a span covering the local loop's lag before the verdict: input waiting behind a busy loop is
 * slow, not dead (issue 13.4).
 */
export class LinkWatch {
  #clock: Clock;
  /** The probe deadline's clock: it confirms over the local lag before it fires. */
  #deadline: Clock;
  #lag: LagSource;
  #timerClock: Clock;
  #silenceMs: number;
  #idleProbeMs: number;
  #probeTimeoutMs: () => number;
  #owed: () => number;
  #probe: () => void;
  #dead: (silentMs: number) => void;
  #lastRx: number;
  #probeAt: number | undefined;
  #timer: TimerHandle | undefined;
  #due = 0;
  #stopped = false;

  constructor(
    clock: Clock,
    silenceMs: number,
    probeTimeoutMs: () => number,
    owed: () => number,
    probe: () => void,
    dead: (silentMs: number) => void,
    o: LinkWatchOptions = {},
  ) {
    this.#clock = clock;
    this.#timerClock = clock;
    this.#lag = o.lag ?? NO_LAG;
    this.#deadline = confirmingClock(clock, this.#lag, o.onConfirm === undefined ? {} : { onConfirm: o.onConfirm });
    this.#silenceMs = silenceMs;
    this.#idleProbeMs = o.idleProbeMs ?? 0;
    this.#probeTimeoutMs = probeTimeoutMs;
    this.#owed = owed;
    this.#probe = probe;
    this.#dead = dead;
    this.#lastRx = clock.now();
    if (this.#idleProbeMs > 0) this.#after(this.#idleProbeMs);
  }

  /** Something arrived from the broker. */
  heard(): void {
    this.#lastRx = this.#clock.now();
  }

  /** An answer is now owed: make sure a check is scheduled soon enough. */
  arm(): void {
    if (this.#stopped || this.#silenceMs === 0 || this.#probeAt !== undefined) return;
    if (this.#timer !== undefined && this.#due <= this.#clock.now() + this.#silenceMs) return;
    this.#after(this.#silenceMs);
  }

  stop(): void {
    this.#stopped = true;
    this.#cancel();
  }

  #cancel(): void {
    if (this.#timer !== undefined) this.#timerClock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #after(ms: number, deadline = false): void {
    this.#cancel();
    this.#due = this.#clock.now() + Math.max(0, ms);
    this.#timerClock = deadline ? this.#deadline : this.#clock;
    this.#timer = this.#timerClock.setTimeout(() => this.#check(), Math.max(0, ms));
  }

  #check(): void {
    this.#timer = undefined;
    if (this.#stopped) return;
    const now = this.#clock.now();
    if (this.#probeAt !== undefined) {
      if (this.#lastRx >= this.#probeAt) this.#probeAt = undefined;
      else {
        const waited = now - this.#probeAt;
        const limit = this.#probeTimeoutMs();
        if (waited < limit) return this.#after(limit - waited, true);
        this.stop();
        return this.#dead(now - this.#lastRx);
      }
    }
    const owed = this.#silenceMs > 0 && this.#owed() > 0;
    const quiet = owed ? (this.#idleProbeMs > 0 ? Math.min(this.#silenceMs, this.#idleProbeMs) : this.#silenceMs) : this.#idleProbeMs;
    if (quiet === 0) return; // nothing owed and no idle probing: the next arm() starts again
    const silent = now - this.#lastRx;
    if (silent < quiet) return this.#after(quiet - silent);
    this.#probeAt = now;
    // [D115] A reading now starts the lag's slice at the probe, so the deadline reads the loop's
    // saturation over the probe's own window: a loop held through most of it (the answer waits
    // behind it) is slow, not dead, however idle it was since the last reading.
    this.#lag();
    this.#probe();
    this.#after(this.#probeTimeoutMs(), true);
  }
}
