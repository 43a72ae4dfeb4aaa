// Connection behaviour a box needs, as pure functions plus one small timer-driven loop:
// a connect timeout derived from the measured round-trip time (a dead path is detected in a few
// RTTs, not a client library's 30 s), and jittered, capped exponential backoff that spreads a
// fleet's reconnects over a window. No sockets here; time comes from an injected Clock.

import { ArgumentError, type Clock, type TimerHandle, nonNegative, rejectUnknown, seededRandom } from '../runtime/index.ts';

export interface DeadPathPolicy {
  /** Connect timeout = rttFactor * RTT + marginMs. Default 3. */
  rttFactor: number;
  /** Default 50 ms: absorbs scheduling jitter on the broker and on the box. */
  marginMs: number;
  /** RTT assumed before anything was measured, ms. Default 100 (a cable return path). */
  initialRttMs: number;
  /** Ceiling of the timeout after repeated timeouts double it, ms. Default 10000. */
  maxMs: number;
}

export const DEFAULT_DEAD_PATH: Readonly<DeadPathPolicy> = { rttFactor: 3, marginMs: 50, initialRttMs: 100, maxMs: 10_000 };

export function deadPathPolicy(where: string, p: Partial<DeadPathPolicy> = {}): DeadPathPolicy {
  rejectUnknown(where, p, Object.keys(DEFAULT_DEAD_PATH));
  const out = { ...DEFAULT_DEAD_PATH, ...p };
  for (const [k, v] of Object.entries(out)) nonNegative(where, k, v);
  if (out.rttFactor < 1) throw new ArgumentError(`${where}: rttFactor must be >= 1`, 'rttFactor');
  return out;
}

/**
 * How long one connect attempt may take before the path counts as dead. Each consecutive
 * timeout doubles it (up to maxMs), so a slow-but-alive broker still gets in.
 */
export function connectTimeoutMs(rttMs: number, policy: DeadPathPolicy, consecutiveTimeouts = 0): number {
  const base = policy.rttFactor * rttMs + policy.marginMs;
  return Math.min(policy.maxMs, base * 2 ** Math.min(consecutiveTimeouts, 20));
}

/** Smoothed round-trip time (RFC 6298 SRTT, gain 1/8); the first sample is taken as is. */
export class RttEstimator {
  #srtt: number | undefined;
  #initial: number;
  #samples = 0;

  constructor(initialRttMs: number) {
    this.#initial = initialRttMs;
  }

  sample(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    this.#samples++;
    this.#srtt = this.#srtt === undefined ? ms : this.#srtt + (ms - this.#srtt) / 8;
  }

  /** The smoothed RTT, or the initial estimate before any sample. */
  get rttMs(): number {
    return this.#srtt ?? this.#initial;
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

/**
 * Liveness of an established link: while answers are owed (QoS 1 sends in flight) and nothing
 * was heard for `silenceMs`, send one probe; if that goes unanswered for `probeTimeoutMs()` (the
 * RTT-derived connect timeout), the path is dead. Checks once more a turn later before saying so,
 * since a busy event loop may hold unread input: that is not a dead path.
 */
export class LinkWatch {
  #clock: Clock;
  #silenceMs: number;
  #probeTimeoutMs: () => number;
  #owed: () => number;
  #probe: () => void;
  #dead: (silentMs: number) => void;
  #lastRx: number;
  #probeAt: number | undefined;
  #timer: TimerHandle | undefined;
  #stopped = false;

  constructor(
    clock: Clock,
    silenceMs: number,
    probeTimeoutMs: () => number,
    owed: () => number,
    probe: () => void,
    dead: (silentMs: number) => void,
  ) {
    this.#clock = clock;
    this.#silenceMs = silenceMs;
    this.#probeTimeoutMs = probeTimeoutMs;
    this.#owed = owed;
    this.#probe = probe;
    this.#dead = dead;
    this.#lastRx = clock.now();
  }

  /** Something arrived from the broker. */
  heard(): void {
    this.#lastRx = this.#clock.now();
  }

  /** An answer is now owed: make sure a check is scheduled. */
  arm(): void {
    if (this.#timer !== undefined || this.#stopped || this.#silenceMs === 0) return;
    this.#after(this.#silenceMs, false);
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #after(ms: number, confirming: boolean): void {
    this.#timer = this.#clock.setTimeout(() => this.#check(confirming), Math.max(0, ms));
  }

  #check(confirming: boolean): void {
    this.#timer = undefined;
    if (this.#stopped) return;
    if (this.#owed() === 0) {
      this.#probeAt = undefined;
      return;
    }
    const now = this.#clock.now();
    if (this.#probeAt !== undefined) {
      if (this.#lastRx > this.#probeAt) this.#probeAt = undefined;
      else {
        const limit = this.#probeTimeoutMs();
        if (now - this.#probeAt < limit) return this.#after(limit - (now - this.#probeAt), false);
        if (!confirming) return this.#after(0, true);
        this.stop();
        return this.#dead(now - this.#lastRx);
      }
    }
    const silent = now - this.#lastRx;
    if (silent < this.#silenceMs) return this.#after(this.#silenceMs - silent, false);
    this.#probeAt = now;
    this.#probe();
    this.#after(this.#probeTimeoutMs(), false);
  }
}
