// Session liveness (issue 13.1): a head-end that lost the box's session (a restart, a
// re-placement) answers its requests with NO_SESSION. This watches the return channel for that
// answer about the current session (and asks after every reconnect), so the box re-opens it
// instead of reporting `up` on a dead one; and holds the requests answered NO_SESSION until then.

import { type Channel, type Clock, Codes, type Envelope, type EnvelopeHandler, RemoteError, SessionOps, type Transport, WeftError, codeName, parseVaddr } from '../runtime/index.ts';

export interface LivenessStats {
  /** Answers NO_SESSION seen (requests go again or fail with it: switch stats `retried`, `noSessionFailed`). */
  noSession: number;
  /** Times the box found its session gone and set out to re-open it. */
  lost: number;
  /** Requests still in flight on the lost session when it was dropped (failed, closed channel). */
  inFlightFailed: number;
  /** Session re-opens that succeeded. */
  reopened: number;
  /** Sessions confirmed after a reconnect (client-started again). */
  confirms: number;
  /** Confirms no head-end answered (a timeout, the link gone again): asked again 1, 2, 4 s later. */
  confirmsUnanswered: number;
}

const MAX_TRACKED = 4096;
/** A confirm is sent at most this many times per reconnect; then the next request finds out. */
const CONFIRM_TRIES = 4;

/** The box's named timers (cleared when it stops); this uses the one named `confirm`. */
export interface ConfirmTimer {
  arm(name: 'confirm', ms: number, fn: () => void): void;
  clear(name: 'confirm'): void;
}

export class SessionLiveness {
  #session: () => string | undefined;
  #onLost: (session: string) => void;
  #now: () => number;
  #timers: ConfirmTimer;
  #wrapped = new WeakMap<Transport, Transport>();
  #lostSession: string | undefined;
  #reopening = false;
  /** Requests sent and not yet answered: `<src vaddr>#<id>` -> deadline (bounded). */
  #inFlight = new Map<string, number>();
  readonly stats: LivenessStats = { noSession: 0, lost: 0, inFlightFailed: 0, reopened: 0, confirms: 0, confirmsUnanswered: 0 };

  /** `session()`: the box's session now; `onLost` is called once per session the head-end disowns. */
  constructor(session: () => string | undefined, onLost: (session: string) => void, now: () => number, timers: ConfirmTimer) {
    this.#session = session;
    this.#onLost = onLost;
    this.#now = now;
    this.#timers = timers;
  }

  /**
   * After a reconnect: client-started again [c42] (a control message the head-end acknowledges).
   * A head-end that restarted meanwhile answers NO_SESSION: the session is lost, re-open it.
   */
  confirm(loader: Channel | undefined, dasp: string, started: { session: string; modules: string[] }, timeoutMs: number, tries = 1): void {
    this.#timers.clear('confirm'); // a later reconnect's confirm replaces an earlier one's
    if (loader === undefined) return;
    this.stats.confirms++;
    loader.control({ vaddr: dasp }, SessionOps.clientStarted, started, { timeoutMs }).catch((e: unknown) => {
      if (this.#session() !== started.session || this.#lostSession === started.session) return;
      if (isNoSession(e)) return this.#lost(started.session); // (the answer itself was counted in #inspect)
      // No head-end heard it (its node was not back yet): ask again, boundedly.
      this.stats.confirmsUnanswered++;
      if (tries < CONFIRM_TRIES) this.#timers.arm('confirm', 500 * 2 ** tries, () => this.confirm(loader, dasp, started, timeoutMs, tries + 1));
    });
  }

  /** The lost session is being dropped: what is still in flight on it fails now (counted). */
  dropped(): void {
    const now = this.#now();
    for (const deadline of this.#inFlight.values()) if (deadline > now) this.stats.inFlightFailed++;
    this.#inFlight.clear();
  }

  /** A session is open again. */
  opened(): void {
    if (this.#reopening) this.stats.reopened++;
    this.#reopening = false;
  }

  /** The same transport, its incoming envelopes seen here first. One wrapper per transport. */
  wrap(t: Transport): Transport;
  wrap(t: Transport | undefined): Transport | undefined;
  wrap(t: Transport | undefined): Transport | undefined {
    if (t === undefined) return undefined;
    let w = this.#wrapped.get(t);
    if (w === undefined) {
      w = watched(t, (env) => this.#inspect(env), (env) => this.#sent(env));
      this.#wrapped.set(t, w);
    }
    return w;
  }

  /** Jittered delay before re-opening: a restarted head-end is not stormed by every box at once. */
  static reopenDelay(spreadMs: number, random: () => number): number {
    return Math.max(0, Math.min(1, random())) * spreadMs;
  }

  #sent(env: Envelope): void {
    if (env.kind !== 'req') return;
    if (this.#inFlight.size >= MAX_TRACKED) {
      const now = this.#now();
      for (const [k, deadline] of this.#inFlight) if (deadline <= now) this.#inFlight.delete(k);
      if (this.#inFlight.size >= MAX_TRACKED) return;
    }
    this.#inFlight.set(`${env.src.vaddr ?? ''}#${env.id}`, env.deadline ?? Number.POSITIVE_INFINITY);
  }

  #inspect(env: Envelope): void {
    if ((env.kind === 'rep' || env.kind === 'err') && env.corr !== undefined) this.#inFlight.delete(`${env.dst.vaddr ?? ''}#${env.corr}`);
    if (env.kind !== 'err' || codeOf(env.body) !== Codes.NO_SESSION) return;
    this.stats.noSession++;
    const current = this.#session();
    // Only an answer about the session the box has now: a late one about an older session says nothing.
    if (current === undefined || sessionOf(env.dst.vaddr) !== current || this.#lostSession === current) return;
    this.#lost(current);
  }

  #lost(session: string): void {
    this.#lostSession = session;
    this.#reopening = true;
    this.stats.lost++;
    this.#onLost(session);
  }
}

interface Retry {
  sentOn: string | undefined;
  go: () => void;
}

/**
 * Requests answered NO_SESSION [13.1]: the head-end lost the session, so the request ran
 * nowhere and may go again, once, on the session the box re-opens. Each waits at most its own
 * deadline, at most `max` wait; the rest get the NO_SESSION error. The switch owns one.
 */
export class NoSessionRetries {
  #clock: Clock;
  #max: number;
  #waiting: Retry[] = [];
  /** `failed`: remote requests whose caller got an error, by code name (issue 13.8: none is lost silently). */
  readonly stats = { retried: 0, noSessionFailed: 0, failed: {} as Record<string, number> };

  constructor(clock: Clock, max: number) {
    this.#clock = clock;
    this.#max = max;
  }

  /**
   * After a request sent on `sentOn` failed with `e`: go `again` on a new session, or fail. `o.now`:
   * the session open at this moment; when it is already another one, the request goes at once
   * (it waited for a re-open that had happened, until its deadline, before). `o.stage` follows it.
   */
  retry(e: unknown, sentOn: string | undefined, again: () => Promise<unknown>, waitMs: number, o: { now?: string | undefined; stage?: (s: string) => void } = {}): Promise<unknown> {
    const stage = o.stage ?? (() => {});
    if (!isNoSession(e) || this.#waiting.length >= this.#max || waitMs <= 0) return this.fail(e);
    return new Promise((resolve, reject) => {
      const r: Retry = {
        sentOn,
        go: () => {
          this.#clock.clearTimeout(timer);
          this.stats.retried++;
          stage('retried');
          again().then(resolve, reject);
        },
      };
      stage('awaiting-session');
      const timer = this.#clock.setTimeout(() => {
        this.#waiting = this.#waiting.filter((x) => x !== r);
        this.fail(e).catch(reject);
      }, waitMs);
      if (o.now !== undefined && o.now !== sentOn) return r.go();
      this.#waiting.push(r);
    });
  }

  /** The caller gets the error as it came (counted when it is NO_SESSION). */
  fail(e: unknown): Promise<never> {
    if (isNoSession(e)) this.stats.noSessionFailed++;
    const name = e instanceof WeftError ? codeName(e.code) : 'OTHER';
    this.stats.failed[name] = (this.stats.failed[name] ?? 0) + 1;
    return Promise.reject(e as Error);
  }

  /** A session is open: what waits from another one goes again now. */
  opened(session: string): void {
    const go = this.#waiting.filter((r) => r.sentOn !== session);
    this.#waiting = this.#waiting.filter((r) => r.sentOn === session);
    for (const r of go) r.go();
  }
}

function isNoSession(e: unknown): boolean {
  return e instanceof RemoteError && e.code === Codes.NO_SESSION;
}

function watched(t: Transport, see: (env: Envelope) => void, sent: (env: Envelope) => void): Transport {
  return {
    kind: t.kind,
    address: t.address,
    get closed() {
      return t.closed;
    },
    send: (env) => {
      sent(env);
      return t.send(env);
    },
    onEnvelope: (handler: EnvelopeHandler) =>
      t.onEnvelope((env) => {
        handler(env); // the caller gets its answer first
        see(env);
      }),
    close: () => t.close(),
    stats: () => t.stats(),
  };
}

function codeOf(body: unknown): unknown {
  return body !== null && typeof body === 'object' ? (body as { code?: unknown }).code : undefined;
}

function sessionOf(v: string | undefined): string | undefined {
  try {
    return parseVaddr(v as string).session;
  } catch {
    return undefined;
  }
}
