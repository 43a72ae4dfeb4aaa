// A light box for connection-scale tests [issue 19, build 5]: the return channel (ChannelManager
// over a Dialer: rounds, dead-path verdicts, reconnects), session.open with a resource report,
// reports at the head-end's interval, and a re-open when the head-end disowns the session. No
// carousel, no app engine, no QuickJS: what a node must hold per box, and nothing more.

import {
  ArgumentError,
  Channel,
  type Clock,
  Codes,
  type DeviceProfile,
  type OpenReply,
  type ResourceReport,
  SESSIONS_VADDR,
  STATS_VADDR,
  SessionOps,
  type TimerHandle,
  type Transport,
  VADDR_SCHEME,
  WeftError,
  checkOpenReply,
  positiveInt,
  rejectUnknown,
  systemClock,
} from '../runtime/index.ts';
import { type ChannelEvent, ChannelManager, type ChannelStats, DEFAULT_CHANNEL_POLICY, type Dialer, quotaWaitMs } from '../loader/index.ts';
import { backoffPolicy, type BackoffPolicy } from '../transport/reconnect.ts';
import { profile as profileById } from './profiles.ts';
import { assignProfiles } from './fleet.ts';
import { FleetWatch } from './fleet-watch.ts';

/** The boot states a light box passes through (a subset of the full box's, same names). */
export type LightState = 'off' | 'connecting' | 'session-setup' | 'up' | 'interrupted' | 'degraded' | 'stopped';

export type LightEvent =
  | { kind: 'state'; from: LightState; to: LightState; at: number }
  | { kind: 'dial'; ok: boolean; ms: number; attempt: number; deadPath?: boolean; error?: string; undone?: number }
  | { kind: 'link'; up: boolean; dead?: boolean; detail?: string }
  | { kind: 'session'; session: string; node: string }
  | { kind: 'refused'; problem: 'session'; message: string }
  /** [issue 19.6] The head-end is past its setup capacity (QUOTA setups): the box opens again in `inMs`. */
  | { kind: 'deferred'; inMs: number };

export interface LightBoxOptions {
  boxId: string;
  /** A device profile with a return channel, or its id. */
  profile: DeviceProfile | string;
  dialer: Dialer;
  /** The app and version to open a session for (a full box learns them from the carousel). */
  app: { app: string; version: string };
  /** Report at this interval instead of the one the head-end's reply names, ms. */
  reportEveryMs?: number;
  /** Deadline of session.open and client-started, ms. Default 5000. */
  requestTimeoutMs?: number;
  /** Backoff of the session retry after a refusal and of the background dial. Default the loader's background policy. */
  retry?: Partial<BackoffPolicy>;
  clock?: Clock;
  random?: () => number;
  onEvent?: (e: LightEvent) => void;
}

export interface LightStats {
  opens: number;
  openFailures: number;
  reports: number;
  reopened: number;
  /** Opens answered QUOTA (setups) and waited out: not failures, not dead paths [issue 19.6]. */
  deferred: number;
  /** [wave 14] Client-started after a reconnect that no head-end answered in time (asked again after a backoff). */
  confirmsUnanswered: number;
}

const KEYS = ['boxId', 'profile', 'dialer', 'app', 'reportEveryMs', 'requestTimeoutMs', 'retry', 'clock', 'random', 'onEvent'];

export class LightBox {
  readonly id: string;
  readonly profile: DeviceProfile;
  #o: Required<Pick<LightBoxOptions, 'app' | 'requestTimeoutMs'>> & { reportEveryMs: number | undefined };
  #clock: Clock;
  #random: () => number;
  #retry: BackoffPolicy;
  #emit: (e: LightEvent) => void;
  #channels: ChannelManager;
  #state: LightState = 'off';
  #loader: Channel | undefined;
  #transport: Transport | undefined;
  #session: OpenReply | undefined;
  /** The session given up on a dead path: the next open names it so the head-end continues it. */
  #previous: string | undefined;
  #opening = false;
  #report: TimerHandle | undefined;
  #retryTimer: TimerHandle | undefined;
  #tries = 0;
  /** The confirm in flight (a newer one makes an older answer moot). */
  #confirms = 0;
  readonly stats: LightStats = { opens: 0, openFailures: 0, reports: 0, reopened: 0, deferred: 0, confirmsUnanswered: 0 };

  constructor(o: LightBoxOptions) {
    rejectUnknown('LightBox', o, KEYS);
    this.profile = typeof o.profile === 'string' ? profileById(o.profile) : o.profile;
    if (!this.profile.channels.twoWay) throw new ArgumentError(`LightBox: profile ${this.profile.id} has no return channel`, 'profile');
    if (typeof o.dialer !== 'function') throw new ArgumentError('LightBox: dialer is required', 'dialer');
    if (typeof o.app?.app !== 'string' || typeof o.app.version !== 'string') throw new ArgumentError('LightBox: app must be {app, version}', 'app');
    this.id = o.boxId;
    this.#o = {
      app: o.app,
      requestTimeoutMs: positiveInt('LightBox', 'requestTimeoutMs', o.requestTimeoutMs ?? 5000),
      reportEveryMs: o.reportEveryMs === undefined ? undefined : positiveInt('LightBox', 'reportEveryMs', o.reportEveryMs),
    };
    this.#clock = o.clock ?? systemClock;
    this.#random = o.random ?? Math.random;
    this.#retry = backoffPolicy('LightBox.retry', { ...DEFAULT_CHANNEL_POLICY.background, ...o.retry });
    this.#emit = o.onEvent ?? (() => {});
    const rtt = this.profile.channels.latencyMs > 0 ? 2 * this.profile.channels.latencyMs : DEFAULT_CHANNEL_POLICY.rttMs;
    const policy = { ...DEFAULT_CHANNEL_POLICY, background: this.#retry, rttMs: rtt };
    this.#channels = new ChannelManager(o.dialer, this.#clock, this.#random, policy, (e) => this.#onChannel(e));
  }

  get state(): LightState {
    return this.#state;
  }

  get session(): OpenReply | undefined {
    return this.#session;
  }

  channelStats(): ChannelStats {
    return this.#channels.stats();
  }

  /** Power on: the first round of connect attempts starts now. */
  start(): void {
    if (this.#state !== 'off') return;
    this.#to('connecting');
    this.#channels.round();
  }

  async stop(): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#to('stopped');
    this.#clearTimers();
    this.#loader?.close();
    await this.#channels.stop();
  }

  #onChannel(e: ChannelEvent): void {
    if (this.#state === 'stopped') return;
    switch (e.kind) {
      case 'failed':
        return this.#emit({ kind: 'dial', ok: false, ms: e.ms, attempt: e.attempt, deadPath: e.deadPath, error: e.error.message });
      case 'late-busy': // [19] verdicts undone; a round over (degraded) stays over, the background dial waits the busy backoff
        return this.#emit({ ...e, kind: 'dial', ok: false });
      case 'round-over':
        this.#to('degraded');
        return this.#channels.background();
      case 'up':
        this.#emit({ kind: 'dial', ok: true, ms: e.ms, attempt: e.attempt, ...(e.late === true ? { undone: e.channel.verdictsUndone ?? 0 } : {}) });
        this.#attach(e.channel.transport);
        return this.#open();
      case 'reup':
        this.#emit({ kind: 'link', up: true, detail: 'reconnected' });
        return this.#confirm();
      case 'down':
        this.#emit({ kind: 'link', up: false, dead: e.dead, ...(e.cause === undefined ? {} : { detail: e.cause.message }) });
        this.#clearTimers();
        if (e.dead) {
          this.#previous = this.#session?.session ?? this.#previous; // as the full box: continued, not orphaned
          this.#session = undefined; // a dead path: dial again, then open naming it
          this.#to('connecting');
          return this.#channels.round();
        }
        return this.#to('interrupted'); // the transport reconnects on its own
    }
  }

  #attach(t: Transport): void {
    if (this.#transport === t) return;
    this.#loader?.close();
    this.#transport = t;
    const loader = new Channel({ self: { vaddr: `${VADDR_SCHEME}box/${this.id}/loader` }, write: (env) => t.send(env), clock: this.#clock, timeoutMs: this.#o.requestTimeoutMs });
    t.onEnvelope((env) => loader.receive(env));
    this.#loader = loader;
  }

  #open(): void {
    const loader = this.#loader;
    if (loader === undefined || this.#opening || this.#state === 'stopped') return;
    this.#opening = true;
    this.#to('session-setup');
    const previous = this.#previous;
    const body = { app: this.#o.app.app, version: this.#o.app.version, boxId: this.id, report: this.report(), ...(previous === undefined ? {} : { previous }) };
    const timeoutMs = this.#o.requestTimeoutMs;
    void loader
      .request({ vaddr: SESSIONS_VADDR }, body, { op: SessionOps.open, timeoutMs })
      .then(async (raw) => {
        const r = checkOpenReply(raw);
        await loader.control({ vaddr: r.dasp }, SessionOps.clientStarted, { session: r.session, modules: [] }, { timeoutMs }).catch((e: unknown) => {
          if (loader === this.#loader) this.#previous = r.session; // [D109] the head-end may have heard it: continue it, not add one
          throw e;
        });
        return r;
      })
      .then(
        (r) => {
          this.#opening = false;
          if (this.#state === 'stopped' || loader !== this.#loader) return;
          if (this.stats.opens > 0) this.stats.reopened++;
          this.stats.opens++;
          this.#tries = 0;
          this.#previous = undefined;
          this.#session = r;
          this.#emit({ kind: 'session', session: r.session, node: r.node });
          this.#to('up');
          this.#reportNow();
        },
        (e: unknown) => {
          this.#opening = false;
          if (this.#state === 'stopped' || loader !== this.#loader) return;
          const wait = quotaWaitMs(e, this.#random);
          if (wait !== undefined) return this.#deferred(wait);
          this.stats.openFailures++;
          this.#emit({ kind: 'refused', problem: 'session', message: (e as Error).message });
          this.#retryLater();
        },
      );
  }

  // After the transport reconnected by itself: client-started again, and `up` only once a head-end
  // answers it [wave 14: a node off a restarted broker hears nothing]. NO_SESSION (the head-end lost
  // it) or no session at all means open one; no answer means ask again after the retry backoff (counted).
  #confirm(): void {
    const s = this.#session;
    const loader = this.#loader;
    if (s === undefined || loader === undefined) return this.#open();
    const n = ++this.#confirms;
    this.#to('session-setup');
    const current = (): boolean => n === this.#confirms && this.#session === s && loader === this.#loader && this.#state === 'session-setup';
    loader.control({ vaddr: s.dasp }, SessionOps.clientStarted, { session: s.session, modules: [] }, { timeoutMs: this.#o.requestTimeoutMs }).then(
      () => {
        if (!current()) return;
        this.#tries = 0;
        this.#to('up');
        this.#reportNow();
      },
      (e: unknown) => {
        if (!current()) return;
        this.#clearTimers();
        if (e instanceof WeftError && e.code === Codes.NO_SESSION) return void ((this.#session = undefined), this.#open());
        this.stats.confirmsUnanswered++;
        this.#after(() => this.#confirm());
      },
    );
  }

  // The head-end said when to come back: wait that (jittered, capped), still in session-setup; the backoff does not grow.
  #deferred(ms: number): void {
    this.stats.deferred++;
    this.#emit({ kind: 'deferred', inMs: ms });
    this.#clearRetry();
    this.#retryTimer = this.#clock.setTimeout(() => {
      this.#retryTimer = undefined;
      if (this.#channels.linkUp) this.#open();
    }, ms);
  }

  #retryLater(): void {
    this.#to('degraded');
    this.#after(() => this.#open());
  }

  /** `fn` after the retry backoff (growing with each try, jittered) if the link is up then; a link that comes up later confirms or opens on its own. */
  #after(fn: () => void): void {
    const p = this.#retry;
    const base = Math.min(p.capMs, p.baseMs * p.factor ** Math.min(this.#tries++, 16));
    const delay = base * (1 - p.jitter) + this.#random() * base * p.jitter;
    this.#clearRetry();
    this.#retryTimer = this.#clock.setTimeout(() => {
      this.#retryTimer = undefined;
      if (this.#channels.linkUp) fn();
    }, delay);
  }

  /** The resource report [c5]: a light box runs no app, so its sandbox holds nothing. */
  report(): ResourceReport {
    const p = this.profile;
    return { boxId: this.id, profile: p.id, freeMemoryBytes: p.appMemoryBytes, appMemoryBytes: p.appMemoryBytes, cpuClass: p.cpuClass, cpuLoad: 0, storageFreeBytes: p.storageBytes, sandboxBytes: 0, twoWayUp: this.#channels.linkUp, at: this.#clock.now() };
  }

  #reportNow(): void {
    const every = this.#o.reportEveryMs ?? this.#session?.reportEveryMs ?? 0;
    const loader = this.#loader;
    if (loader !== undefined && this.#session !== undefined) {
      this.stats.reports++;
      loader.send({ vaddr: STATS_VADDR }, this.report(), { op: SessionOps.report, kind: 'stat' }).catch(() => undefined);
    }
    if (this.#report !== undefined) this.#clock.clearTimeout(this.#report);
    this.#report = every > 0 ? this.#clock.setTimeout(() => this.#reportNow(), every) : undefined;
  }

  #clearRetry(): void {
    if (this.#retryTimer !== undefined) this.#clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
  }

  #clearTimers(): void {
    this.#clearRetry();
    if (this.#report !== undefined) this.#clock.clearTimeout(this.#report);
    this.#report = undefined;
  }

  #to(to: LightState): void {
    if (this.#state === to) return;
    const from = this.#state;
    this.#state = to;
    this.#emit({ kind: 'state', from, to, at: this.#clock.now() });
  }
}

export interface LightFleetOptions {
  count: number;
  /** Profile weights; only profiles with a return channel take part. */
  mix: Record<string, number>;
  headend: { url: string; password: (boxId: string) => string };
  app: { app: string; version: string };
  /** Box ids are `<prefix>-<first + i>`. Defaults `box` and 1. */
  prefix?: string;
  first?: number;
  /** When box i starts, ms after the fleet's start (fleet-plan.ts `arrivals`). Default: all at once. */
  startAt?: (i: number) => number;
  reportEveryMs?: number;
  clock?: Clock;
  random?: () => number;
  onEvent?: (boxId: string, e: LightEvent) => void;
}

export interface LightFleet {
  readonly boxes: readonly LightBox[];
  states(): Partial<Record<LightState, number>>;
  /** Every box started (the last arrival is due and done). */
  readonly started: Promise<void>;
  /** Boot times and channel counters from the boxes' events. */
  readonly watch: FleetWatch;
  stop(): Promise<void>;
}

/** Start `count` light boxes on the arrival schedule; resolves at once (see `started`). */
export function startLightFleet(o: LightFleetOptions, dialer: (boxId: string, password: string) => Dialer): LightFleet {
  const count = positiveInt('startLightFleet', 'count', o.count, 100_000);
  const first = o.first ?? 1;
  const twoWay = Object.fromEntries(Object.entries(o.mix).filter(([id]) => profileById(id).channels.twoWay));
  if (Object.keys(twoWay).length === 0) throw new ArgumentError('light boxes need a profile with a return channel in the mix', 'mix');
  const ids = assignProfiles(count, twoWay);
  const clock = o.clock ?? systemClock;
  const boxes: LightBox[] = [];
  const watch = new FleetWatch();
  for (let i = 0; i < count; i++) {
    const boxId = `${o.prefix ?? 'box'}-${first + i}`;
    boxes.push(
      new LightBox({
        boxId,
        profile: ids[i] as string,
        dialer: dialer(boxId, o.headend.password(boxId)),
        app: o.app,
        ...(o.reportEveryMs === undefined ? {} : { reportEveryMs: o.reportEveryMs }),
        clock,
        ...(o.random === undefined ? {} : { random: o.random }),
        onEvent: (e: LightEvent) => {
          watch.event(boxId, e);
          o.onEvent?.(boxId, e);
        },
      }),
    );
  }
  let stopped = false;
  const started = (async () => {
    const t0 = clock.now();
    for (let i = 0; i < count && !stopped; i++) {
      const due = t0 + (o.startAt?.(i) ?? 0) - clock.now();
      if (due > 0) await new Promise((r) => clock.setTimeout(() => r(undefined), due));
      const b = boxes[i];
      if (stopped || b === undefined) continue;
      watch.starting(b.id);
      b.start();
    }
  })();
  return {
    boxes,
    started,
    watch,
    states: () => {
      const out: Partial<Record<LightState, number>> = {};
      for (const b of boxes) out[b.state] = (out[b.state] ?? 0) + 1;
      return out;
    },
    stop: async () => {
      stopped = true;
      await Promise.all(boxes.map((b) => b.stop()));
    },
  };
}
