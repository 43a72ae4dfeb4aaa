// The two-way channel manager [c1, c2]: rounds of connect attempts, bounded, with jittered
// backoff; a dead path is declared after a few round trips (the dialer's RTT-derived timeout),
// not a client library's 30 s; an unbounded slow retry in the background when degraded.

import { type Clock, TimeoutError, type TimerHandle } from '../runtime/index.ts';
import { type BackoffPolicy, DEFAULT_BACKOFF, reconnectDelay } from '../transport/reconnect.ts';
import type { Dialer, ReturnChannel } from './ports.ts';

export interface ChannelPolicy {
  /** Connect attempts in one round before the round gives up. Default 3. */
  attemptsPerRound: number;
  /** Backoff between attempts of a round. Default base 250 ms, x2, cap 2 s, half jitter. */
  round: BackoffPolicy;
  /** Backoff of the background retry while degraded. Default base 2 s, x2, cap 60 s, half jitter. */
  background: BackoffPolicy;
  /** Round-trip estimate before anything was measured, ms (the profile's return path). */
  rttMs: number;
}

export const DEFAULT_CHANNEL_POLICY: Readonly<ChannelPolicy> = {
  attemptsPerRound: 3,
  round: { windowMs: 0, baseMs: 250, factor: 2, capMs: 2000, jitter: 0.5 },
  background: { windowMs: 0, baseMs: 2000, factor: 2, capMs: 60_000, jitter: 0.5 },
  rttMs: 100,
};

export type ChannelEvent =
  | { kind: 'failed'; attempt: number; ms: number; deadPath: boolean; error: Error; mode: 'round' | 'background' }
  | { kind: 'round-over'; attempts: number }
  /** `late`: on a connection an earlier verdict judged dead; its broker answered after all (issue 13.4). */
  | { kind: 'up'; channel: ReturnChannel; ms: number; attempt: number; late?: true }
  /** [19] A connection kept after `undone` verdicts was answered busy (CONNACK 3): alive, the verdicts wrong, undone; the next dial waits the busy backoff. */
  | { kind: 'late-busy'; attempt: number; ms: number; undone: number }
  /** The established link dropped; the transport reconnects on its own. `dead`: its probe went unanswered (a dead path, not a flap). */
  | { kind: 'down'; cause: Error | undefined; dead: boolean }
  /** The transport reconnected by itself. */
  | { kind: 'reup' };

export interface ChannelStats {
  attempts: number;
  failures: number;
  deadPaths: number;
  ups: number;
  downs: number;
  /** Downs that were a probe's verdict (a dead path), not a reset or close. */
  deadLinks: number;
  lastDialMs: number;
  /** Ups on a connection kept open past its dead-path verdict, whose broker answered late (dial_late_adopted). */
  lateAdopted: number;
  /** Of `deadPaths`, the verdicts on connections that came up or were answered busy after all: `deadPaths - deadPathsUndone` stayed wrong or were right. */
  deadPathsUndone: number;
  /** Busy answers (CONNACK 3) on connections kept past their verdicts, which undid them [19]. */
  lateBusy: number;
}

export class ChannelManager {
  #dialer: Dialer;
  #clock: Clock;
  #random: () => number;
  #policy: ChannelPolicy;
  #emit: (e: ChannelEvent) => void;
  #channel: ReturnChannel | undefined;
  #linkUp = false;
  #mode: 'idle' | 'round' | 'background' = 'idle';
  #n = 0;
  #dialing = false;
  #timer: TimerHandle | undefined;
  #timeouts = 0;
  #rtt: number;
  #stopped = false;
  /** Late busy answers since the link was last up: the busy backoff's exponent. */
  #busy = 0;
  #stats: ChannelStats = { attempts: 0, failures: 0, deadPaths: 0, ups: 0, downs: 0, deadLinks: 0, lastDialMs: 0, lateAdopted: 0, deadPathsUndone: 0, lateBusy: 0 };

  constructor(dialer: Dialer, clock: Clock, random: () => number, policy: ChannelPolicy, onEvent: (e: ChannelEvent) => void) {
    this.#dialer = dialer;
    this.#clock = clock;
    this.#random = random;
    this.#policy = policy;
    this.#emit = onEvent;
    this.#rtt = policy.rttMs;
  }

  /** The established channel (its transport may be reconnecting: see `linkUp`). */
  get channel(): ReturnChannel | undefined {
    return this.#channel;
  }

  get linkUp(): boolean {
    return this.#linkUp;
  }

  /** A round or the background retry is under way (an attempt in flight or scheduled). */
  get dialing(): boolean {
    return this.#mode !== 'idle';
  }

  stats(): ChannelStats {
    return { ...this.#stats };
  }

  /** A bounded round of attempts, the first one now. */
  round(): void {
    this.#giveUpReconnecting();
    if (this.#stopped || this.#channel !== undefined) return;
    this.#cancel();
    this.#mode = 'round';
    this.#n = 0;
    this.#attempt();
  }

  /** Keep trying, slowly and without end, until the channel is up [c2: degraded, not dead]. */
  background(): void {
    this.#giveUpReconnecting();
    if (this.#stopped || this.#channel !== undefined) return;
    if (this.#mode === 'background' && (this.#timer !== undefined || this.#dialing)) return;
    this.#cancel();
    this.#mode = 'background';
    this.#n = 0;
    if (!this.#dialing) this.#schedule();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#cancel();
    const ch = this.#channel;
    this.#channel = undefined;
    this.#linkUp = false;
    await Promise.all([ch?.transport.close(), this.#dialer.close?.()]);
  }

  // A dropped link whose transport is still reconnecting on its own reports no failures: the box
  // asked for a round (or the background retry), so close it and count our own attempts instead.
  #giveUpReconnecting(): void {
    const ch = this.#channel;
    if (ch === undefined || this.#linkUp) return;
    this.#channel = undefined;
    void ch.transport.close();
  }

  #attempt(): void {
    if (this.#dialing || this.#stopped || this.#channel !== undefined) return;
    this.#dialing = true;
    const n = ++this.#n;
    const mode = this.#mode === 'idle' ? 'round' : this.#mode;
    this.#stats.attempts++;
    const t0 = performance.now();
    let mine: ReturnChannel | undefined;
    const onLink = (state: 'up' | 'down' | 'closed', cause?: Error): void => {
      if (this.#stopped || mine === undefined || this.#channel !== mine) return;
      if (state === 'up') {
        this.#linkUp = true;
        this.#emit({ kind: 'reup' });
      } else if (this.#linkUp) {
        this.#linkUp = false;
        this.#stats.downs++;
        if (state === 'closed') this.#channel = undefined;
        const dead = isDeadPath(cause);
        if (dead) this.#stats.deadLinks++;
        this.#emit({ kind: 'down', cause, dead });
      } else if (state === 'closed') {
        this.#channel = undefined;
      }
    };
    // [13.4] A channel whose broker answered after this attempt's verdict, handed over between attempts.
    const onLate = (ch: ReturnChannel): boolean => {
      if (this.#stopped || this.#channel !== undefined) return false;
      mine = ch;
      this.#up(ch, performance.now() - t0, n);
      return true;
    };
    // [19] A connection kept after `undone` verdicts was answered busy: the box behaves as if told busy
    // in time. The verdicts leave the round's count and the deadline's doubling; an attempt under way
    // waits the busy backoff in the transport, a scheduled one is moved to it; a round over stays over.
    const onBusy = (undone: number): void => {
      if (this.#stopped) return;
      this.#timeouts = Math.max(0, this.#timeouts - undone);
      this.#n = Math.max(this.#dialing ? 1 : 0, this.#n - undone);
      this.#stats.lateBusy++;
      this.#stats.deadPathsUndone += undone;
      this.#emit({ kind: 'late-busy', attempt: n, ms: performance.now() - t0, undone });
      if (this.#timer === undefined) return;
      this.#cancel();
      this.#schedule(reconnectDelay(++this.#busy, DEFAULT_BACKOFF, this.#random));
    };
    this.#dialer({ rttMs: this.#rtt, consecutiveTimeouts: this.#timeouts, onLink, onLate, onBusy }).then(
      (ch) => {
        this.#dialing = false;
        const ms = performance.now() - t0;
        this.#stats.lastDialMs = ms;
        if (this.#stopped || this.#channel !== undefined) {
          void ch.transport.close();
          return;
        }
        mine = ch;
        this.#up(ch, ms, n);
      },
      (e: unknown) => {
        this.#dialing = false;
        const ms = performance.now() - t0;
        this.#stats.lastDialMs = ms;
        if (this.#stopped) return;
        const error = e instanceof Error ? e : new Error(String(e));
        const deadPath = error instanceof TimeoutError;
        this.#timeouts = deadPath ? this.#timeouts + 1 : 0;
        this.#stats.failures++;
        if (deadPath) this.#stats.deadPaths++;
        this.#emit({ kind: 'failed', attempt: n, ms, deadPath, error, mode });
        if (this.#mode === 'round' && this.#n >= this.#policy.attemptsPerRound) {
          this.#mode = 'idle';
          this.#emit({ kind: 'round-over', attempts: this.#n });
        } else if (this.#mode !== 'idle') {
          this.#schedule();
        }
      },
    );
  }

  #up(ch: ReturnChannel, ms: number, attempt: number): void {
    this.#channel = ch;
    this.#linkUp = true;
    this.#timeouts = this.#busy = 0;
    this.#rtt = Math.max(1, ch.rttMs());
    this.#mode = 'idle';
    this.#cancel();
    this.#stats.ups++;
    const undone = ch.verdictsUndone ?? 0;
    if (undone > 0) {
      this.#stats.lateAdopted++;
      this.#stats.deadPathsUndone += undone;
    }
    this.#emit({ kind: 'up', channel: ch, ms, attempt, ...(undone > 0 ? { late: true as const } : {}) });
  }

  /** The next attempt after `delay` (default: the mode's backoff). */
  #schedule(delay?: number): void {
    if (this.#stopped || this.#timer !== undefined) return;
    const policy = this.#mode === 'background' ? this.#policy.background : this.#policy.round;
    // Jittered exponential backoff: boxes that failed together do not retry together.
    delay ??= reconnectDelay(Math.max(1, this.#n), policy, this.#random);
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#attempt();
    }, delay);
  }

  #cancel(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/** A link that went silent and did not answer its probe (a dead path), as opposed to a reset or close (a flap). */
export function isDeadPath(cause: Error | undefined): boolean {
  return cause instanceof TimeoutError || cause?.cause instanceof TimeoutError;
}
