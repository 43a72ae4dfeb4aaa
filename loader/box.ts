// The box: runs the boot table (boot-table.ts) over the carousel acquirer, the app runner, the
// two-way channel manager and session setup [c1, c2, c41, c42, c45]. Events are handled one at
// a time, in order; long work (acquisition, dialing, session setup) ends in a new event.

import { type Channel, type DeviceProfile, type OpenReply, type ResourceReport, STATS_VADDR, SessionOps } from '../runtime/index.ts';
import { type AcquiredApp, Acquirer, carouselQuotaFor } from './acquire.ts';
import { type Action, type BootEvent, type BootState, step } from './boot-table.ts';
import { type AdapterHooks, type Detail, onAcquire, onChannel } from './box-adapters.ts';
import { type BoxEvent, type HistoryEntry, Watchers } from './box-events.ts';
import { resourceReport } from './box-report.ts';
import { ChannelManager } from './channel-manager.ts';
import { ModuleCache } from './module-cache.ts';
import { type BoxOptions, type ResolvedBoxOptions, resolveBoxOptions } from './options.ts';
import { RollbackFloor } from './rollback-floor.ts';
import { boxProbation, type BoxProbation } from './probation-box.ts';
import { FALLBACK_TIERS, RunningApp, closeSession } from './running-app.ts';
import { RequestLedger, type RequestCounts } from './request-ledger.ts';
import { SwitchLinger } from './switch-linger.ts';
import { SessionLiveness } from './session-liveness.ts';
import { SessionRetry } from './session-retry.ts';
import { setupSession } from './session-setup.ts';
import { keepSession } from './session-keep.ts';
import { NamedTimers } from './timers.ts';
import { EarlyDial } from './early-dial.ts';

export class Box {
  readonly id: string;
  readonly profile: DeviceProfile;
  #o: ResolvedBoxOptions;
  #state: BootState = 'off';
  #settled: BootState = 'off';
  #history: HistoryEntry[] = [];
  #queue: { event: BootEvent; detail: Detail }[] = [];
  #draining = false;
  #acq: Acquirer;
  #channels: ChannelManager | undefined;
  #run: RunningApp | undefined;
  #fallbacks = 0;
  #session: OpenReply | undefined;
  #kept: OpenReply | undefined; // [D86, D89] what the running version kept at its switch, before its own open answers
  /** [issue 15.6-7] The session of the version the box switched away from: the next open continues it. */
  #previous: string | undefined;
  #timers: NamedTimers<'report' | 'grace' | 'retry' | 'probation' | 'confirm'>;
  #watchers: Watchers;
  #ignored = 0;
  #late = { closed: 0, failed: 0 }; // [D95] sessions opened by late answers, closed by the box
  #tuned = false;
  #floor: RollbackFloor;
  #liveness: SessionLiveness;
  #retry = new SessionRetry();
  #early = new EarlyDial();
  #probation: BoxProbation;
  /** [13.8, issue 15.6] every request's fate over the box's life, across app versions. */
  #ledger: RequestLedger;
  #linger: SwitchLinger; // [issue 15] channels of versions switched away from, kept for their replies
  #hooks: AdapterHooks = { fire: (ev, d) => this.#fire(ev, d), emit: (e) => this.#emit(e), attach: (t) => this.#run?.switch.attach(this.#liveness.wrap(t)) };

  constructor(options: BoxOptions) {
    this.#o = resolveBoxOptions(options);
    this.#timers = new NamedTimers(this.#o.clock);
    this.#ledger = new RequestLedger(this.#o.clock);
    this.#linger = new SwitchLinger(this.#o.clock);
    this.#watchers = new Watchers(this.#o.clock);
    this.id = this.#o.boxId;
    this.profile = this.#o.profile;
    const cache = this.#o.storage.capacity > 0 ? new ModuleCache(this.#o.storage) : undefined;
    this.#floor = new RollbackFloor(this.#o.storage);
    this.#liveness = new SessionLiveness(() => this.#session?.session, () => this.#fire('session-lost'), () => this.#o.clock.now(), this.#timers);
    this.#probation = boxProbation(this.#o, cache, this.#floor, this.#timers, { current: () => this.#acq.current, warm: (i) => this.#acq.warm(i), run: (app) => this.#fire('update', { app }), reacquire: () => this.#acq.want([]), report: () => this.#reportNow(), emit: (e) => this.#emit(e), lag: () => this.#run?.runner.stats().lagMs ?? 0 });
    this.#acq = new Acquirer({
      tuner: this.#o.tuner, trusted: this.#o.trusted, app: this.#o.app, cache,
      maxHeldBytes: carouselQuotaFor(this.#o.profile),
      floor: this.#floor, ...this.#probation.acquirerHooks(), // [issue 15] rollout directive, probation
      now: () => this.#o.clock.now(),
      onEvent: (e) => onAcquire(e, this.#hooks),
    });
    const dialer = this.#o.dialer;
    if (dialer !== undefined) this.#channels = new ChannelManager(dialer, this.#o.clock, this.#o.random, this.#o.channel, (e) => {
      this.#early.heard(e); // a failure, or [19] a late busy answer that undoes one
      onChannel(e, this.#hooks);
    });
  }

  /** The state whose entry action has completed (the table itself moves on `#state` first). */
  get state(): BootState {
    return this.#settled;
  }

  get history(): readonly HistoryEntry[] { return this.#history; }

  /** The app version running, if any. */
  get app(): AcquiredApp | undefined {
    return this.#run?.app;
  }

  get session(): OpenReply | undefined { return this.#session; }
  get twoWayUp(): boolean { return this.#channels?.linkUp ?? false; }

  /** Power on. Resolves once the boot sequence is under way. */
  async start(): Promise<void> {
    this.#fire('boot');
    await this.waitFor((b) => b.#tuned || b.state === 'stopped', 60_000);
  }

  /** Power off: the app stops, the channels close. Idempotent. */
  async stop(): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#fire('stop');
    await this.waitFor((b) => b.state === 'stopped', 10_000).catch(() => undefined);
    await this.#shutdown();
  }

  /** An operator-signed rollback directive (rollback-floor.ts): the older version it names may run. */
  allowRollback(directive: Uint8Array, signature: Uint8Array): ReturnType<RollbackFloor['accept']> {
    return this.#floor.accept(directive, signature, this.#o.trusted);
  }

  /** A remote-control key press, to the modules declaring `ui`. */
  async pressKey(key: string): Promise<void> {
    await this.#run?.runner.pressKey(key);
  }

  /** What a module last showed (weft.ui.show), or the last scene of any module. */
  screen(module?: string): unknown {
    const scenes = this.#run?.scenes;
    if (module !== undefined) return scenes?.get(module);
    return scenes === undefined ? undefined : [...scenes.values()].at(-1);
  }

  /** Ask a module of the app (wherever it runs now) as the loader. */
  ask(module: string, body: unknown, timeoutMs?: number): Promise<unknown> {
    return this.#run?.switch.ask(module, body, timeoutMs) ?? Promise.reject(new Error('no app is running'));
  }

  /** Where a module's messages go now: here, held, the head-end, or nowhere (degraded). */
  where(module: string): 'local' | 'held' | 'remote' | 'absent' {
    return this.#run?.switch.where(module) ?? 'absent';
  }

  /** Modules running on this box now. */
  running(): string[] {
    return this.#run?.runner.running() ?? [];
  }

  /** The resource report the head-end gets [c5]. */
  report(): ResourceReport {
    const { cpu, storage, clock } = this.#o;
    const requests = this.#run?.switch.stats().requests; // [13.8] what became of its requests reaches the head-end
    return resourceReport({ boxId: this.id, profile: this.profile, sandboxBytes: this.#run?.runner.memoryUsed() ?? 0, cpu, storage, twoWayUp: this.twoWayUp, at: clock.now(), requests });
  }

  /** What became of its requests so far [13.8], without building a report (fleet summaries). */
  requests(): RequestCounts {
    return this.#ledger.counts();
  }

  stats(): Record<string, unknown> {
    return { state: this.#state, ignoredEvents: this.#ignored, lateSessions: this.#late, acquire: this.#acq.stats(), rollbackFloor: this.#floor.stats(), probation: this.#probation.stats(),
      session: { ...this.#liveness.stats }, channel: this.#channels?.stats(), switch: this.#run?.switch.stats(), app: this.#run?.runner.stats(), storageUsed: this.#o.storage.used() };
  }

  /** Resolve once the entry the box last announced has run its action, so `state` is no longer the
   *  state before it (a script counts the announcement, then reads `state`); reject after `ms`. */
  settled(ms: number): Promise<void> {
    return this.waitFor((b) => b.#settled === b.#state, ms);
  }

  /** Resolve when `pred` holds (checked now and after every box event); reject after `ms`. */
  waitFor(pred: (box: Box) => boolean, ms: number): Promise<void> {
    return this.#watchers.wait(() => pred(this), ms, () => new Error(`box ${this.id}: condition not met within ${ms} ms (state ${this.#state})`));
  }

  // ---- the state machine ----------------------------------------------------------------

  #fire(event: BootEvent, detail: Detail = {}): void {
    this.#queue.push({ event, detail });
    if (!this.#draining) void this.#drain();
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    while (this.#queue.length > 0) {
      const { event, detail } = this.#queue.shift() as { event: BootEvent; detail: Detail };
      // A link the early dial brought up is taken in `connecting`, as when the box dialed there.
      const row = step(this.#state, event, { twoWay: this.#channels !== undefined, linkUp: this.twoWayUp && (event !== 'started' || !this.#early.pending), fallbacks: this.#fallbacks });
      if (row === undefined) {
        this.#ignored++;
        continue;
      }
      const from = this.#state;
      this.#state = row.to;
      if (row.to === 'degraded' || row.to === 'stopped') this.#run?.switch.abandonWaiting(`no session: the box is ${row.to}`);
      const at = this.#o.clock.now();
      this.#history.push({ state: row.to, event, action: row.action, at });
      this.#emit({ kind: 'state', from, to: row.to, event, action: row.action, at });
      try {
        await this.#act(row.action, detail);
      } catch (e) {
        this.#emit({ kind: 'error', message: `${row.action}: ${(e as Error).message}` });
      }
      this.#settled = this.#state;
      this.#notify();
    }
    this.#draining = false;
  }

  async #act(action: Action, d: Detail): Promise<void> {
    switch (action) {
      case 'tune': {
        // [issue 18.6] The dial, the tune and a warm boot's check of its cached app run together (a module
        // is trusted only once its check passed); a DSI heard meanwhile must not make a warm boot a cold one.
        this.#early.begin(this.#channels, this.twoWayUp);
        const [warm] = await Promise.all([this.#acq.warm(), this.#acq.tune()]);
        this.#tuned = true;
        if (warm !== undefined) this.#queue = [...this.#queue.filter((q) => q.event !== 'dsi'), { event: 'warm-hit', detail: { app: warm } }];
        return this.#notify();
      }
      case 'acquire-boot':
      case 're-acquire':
        return; // the acquirer is at it (a refusal already made it start over)
      case 'start-app':
        return this.#startApp(d.app);
      case 'restart-app': {
        // [D86, D89] a re-pin keeps the session: answered, or kept at this version's switch and still held
        const run = this.#run, from = run?.app.manifest, old = this.#session ?? (this.#kept?.session === run?.switch.session ? this.#kept : undefined);
        return this.#endApp(true).then(() => this.#startApp(d.app, from, old));
      }
      case 'dial':
        return this.#dial();
      case 'acquire-fallback':
        return this.#acquireNext();
      case 'start-fallback-dial':
        await this.#startFallback(d.app);
        return this.#dial();
      case 'start-fallback-acquire':
        await this.#startFallback(d.app);
        return this.#acquireNext();
      case 'start-fallback-degraded':
        await this.#startFallback(d.app);
        return this.#background();
      case 'open-session':
        return this.#openSession();
      case 'report':
      case 'resume': {
        const s = action === 'resume' ? this.#session : undefined; // [13.1] did the session outlive the drop?
        if (s !== undefined) this.#liveness.confirm(this.#run?.switch.loader, s.dasp, { session: s.session, modules: this.running() }, this.#o.requestTimeoutMs);
        this.#timers.clear('grace');
        return this.#reportNow();
      }
      case 'hold':
        this.#timers.clear('report');
        return this.#timers.arm('grace', this.#o.sessionGraceMs, () => this.#fire('grace-expired'));
      case 'reopen-session':
        return this.#reopenSession();
      case 'drop-session':
        // The head-end never heard it go: the next open names it, to be continued, not orphaned.
        this.#previous = this.#session?.session ?? this.#previous;
        this.#dropSession();
        if (this.#state === 'degraded') {
          await this.#run?.startLocal(this.#fallbacks);
          return this.#background();
        }
        return this.#acquireNext();
      case 'background':
        return this.#background();
      case 'shutdown':
        return this.#shutdown();
    }
  }

  async #startApp(app: AcquiredApp | undefined, from?: AcquiredApp['manifest'], old?: OpenReply): Promise<void> {
    if (app === undefined) throw new Error('start-app without a verified app');
    this.#fallbacks = 0;
    // [issue 18.6] The engine may still be loading (loader/main.ts hands its promise over): the
    // carousel work ran beside it; the first module's evaluation is what has to wait for it.
    const engine = await this.#o.engine;
    const expecting = (): boolean => this.#channels !== undefined && this.#state !== 'degraded' && this.#state !== 'stopped'; // a session is on its way
    this.#run = new RunningApp(app, { ...this.#o, engine, linger: this.#linger }, this.#liveness.wrap(this.#channels?.channel?.transport), (e) => this.#emit(e), this.#ledger, expecting);
    this.#kept = keepSession(this.#run.switch, from, app.manifest, old);
    await this.#run.startBoot();
    this.#fire('started');
  }

  async #startFallback(app: AcquiredApp | undefined): Promise<void> {
    if (app !== undefined) this.#run?.adopt(app); // same version, more tiers
    await this.#run?.startLocal(++this.#fallbacks);
  }

  #acquireNext(): void {
    this.#acq.want(FALLBACK_TIERS.slice(0, this.#fallbacks + 1)); // (slice stops at the last tier)
  }

  #dial(): void {
    const early = this.#early.take();
    if (this.twoWayUp) return this.#fire('link-up');
    // The early dial failed while the app started: that failure is the one `connecting` waits for.
    if (early instanceof Error) return this.#fire('dial-failed', { error: early });
    if (early === undefined || this.#channels?.dialing !== true) this.#channels?.round();
  }

  #background(): void {
    if (this.#channels === undefined) return; // no return channel at all: the carousel is everything
    if (!this.twoWayUp) return this.#channels.background();
    // The link is up but the head-end refused: ask again later, jittered; REFUSED in a row backs off exponentially.
    const inMs = this.#retry.delayMs(this.#o.channel.background, this.#o.random);
    this.#emit({ kind: 'session-retry', inMs, refusals: this.#retry.refusals });
    this.#timers.arm('retry', inMs, () => this.#fire('retry-session'));
  }

  async #openSession(): Promise<void> {
    const run = this.#run;
    const loader = run?.switch.loader;
    if (run === undefined || loader === undefined) return this.#fire('session-failed', { error: new Error('no app or no channel') });
    // Not awaited: the table goes on handling events (a link drop) while this runs.
    const c = { boxId: this.id, app: run.app, runner: run.runner, switch: run.switch, loader, report: () => this.report(), timeoutMs: this.#o.requestTimeoutMs, emit: (e: BoxEvent) => this.#emit(e), clock: this.#o.clock, random: this.#o.random, previous: this.#previous, left: () => run !== this.#run, unconfirmed: (s: string) => void (run === this.#run && (this.#previous = s)) };
    void setupSession(c).then(
      (reply) => {
        if (run !== this.#run) return this.#closeLate(reply.session, loader); // [D89] a late answer to a version the box left: its own open decides
        this.#session = reply;
        this.#previous = undefined;
        this.#retry.succeeded();
        run.switch.sessionReady(); // requests made before the session was up go now
        this.#liveness.opened();
        this.#acq.want([]); // [c1] the fallback tiers are not needed with a session
        this.#fire('session-ready');
        run.runner.sessionChanged({ state: 'up', session: reply.session }).catch(() => undefined); // weft.on('session')
      },
      (error: unknown) => {
        // The head-end's reason (REFUSED: untrusted key, tampered, ...) reaches the box's observers and CLI.
        this.#emit({ kind: 'refused', problem: 'session', message: (error as Error).message });
        if (run !== this.#run) return void this.#ignored++; // [D89] of a version the box left: its own open decides
        this.#retry.failed(error);
        this.#fire('session-failed', { error: error as Error });
      },
    );
  }

  // [D95] A session a late answer opened, unless the box holds or will name it: nothing but its close ends it on the head-end.
  #closeLate(s: string, loader: Channel): void {
    if (s !== this.#session?.session && s !== this.#previous && s !== this.#kept?.session) void closeSession(this.#run?.switch.loader ?? loader, s).then(() => this.#late.closed++, () => this.#late.failed++).then(() => this.#notify());
  }

  // [13.1] the head-end lost the session: drop it (not `up`), re-open after a seeded jitter.
  #reopenSession(): void {
    this.#liveness.dropped();
    this.#dropSession();
    const delay = SessionLiveness.reopenDelay(this.#o.channel.background.baseMs, this.#o.random);
    this.#timers.arm('retry', delay, () => this.#state === 'session-setup' && void this.#openSession());
  }

  #reportNow(): void {
    const every = this.#session === undefined ? 0 : (this.#o.reportEveryMs ?? this.#session.reportEveryMs);
    const loader = this.#run?.switch.loader;
    if (loader !== undefined) loader.send({ vaddr: STATS_VADDR }, { ...this.report(), rollout: this.#probation.outcomes() }, { op: SessionOps.report, kind: 'stat' }).catch(() => undefined);
    if (every > 0) this.#timers.arm('report', every, () => this.#reportNow());
  }

  #dropSession(): void {
    this.#timers.clear('report');
    if (this.#session !== undefined) this.#run?.runner.sessionChanged({ state: 'down', session: this.#session.session }).catch(() => undefined);
    this.#session = undefined;
    this.#run?.switch.setSession(undefined);
  }

  // `switching`: another version starts next; its open continues this session, so it is not closed
  // (the head-end switches its server portion in place, state included: issue 15.6-7).
  async #endApp(switching = false): Promise<void> {
    if (switching) await this.#run?.switch.retire(); // its callers get their answers first, or later on its kept channels
    const s = this.#session?.session;
    this.#dropSession();
    if (switching && s !== undefined) this.#previous = s;
    await this.#run?.end(switching ? undefined : s);
    this.#run = undefined;
    this.#acq.want([]);
  }

  async #shutdown(): Promise<void> {
    this.#timers.clearAll();
    await this.#run?.end(undefined);
    this.#run = undefined;
    this.#linger.close();
    await this.#channels?.stop();
    await this.#acq.close();
  }

  #emit(e: BoxEvent): void {
    this.#probation.event(e);
    try {
      this.#o.onEvent(e);
    } catch {
      /* an observer's bug must not stop the box */
    }
    this.#notify();
  }

  #notify(): void {
    this.#watchers.notify();
  }
}
