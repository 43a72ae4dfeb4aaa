// What a fleet's summary counts from its boxes' events, full or light alike: each box's boot time
// (its own start to its first `up`) and the channel's verdicts (dead paths on dial and on an
// established link, failed dials, drops). Events only: no box is polled [issue 19].

export interface ChannelCounts {
  /** Dial attempts that timed out: a dead-path verdict before the link was up. */
  deadPaths: number;
  /** Established links judged dead (their probe unanswered), not a reset or a close. */
  deadLinks: number;
  /** Dial attempts that failed, whatever the reason. */
  failures: number;
  /** Established links that went down. */
  downs: number;
  /** Dials that came up on a connection judged dead before: its broker answered late (issue 13.4). */
  lateAdopted: number;
  /** Of `deadPaths`, the verdicts those late connections undid, or a late busy answer (CONNACK 3) on them did [19] (`deadPaths - deadPathsUndone` stayed wrong). */
  deadPathsUndone: number;
  /** Late busy answers (CONNACK 3) on connections kept past their verdicts, which undid them [19]. */
  lateBusy: number;
}

/** The parts of a box event (BoxEvent or LightEvent) counted here. */
type Seen =
  | { kind: 'state'; to: string; event?: string }
  | { kind: 'dial'; ok: boolean; deadPath?: boolean; undone?: number }
  | { kind: 'link'; up: boolean; dead?: boolean }
  | { kind: string };

export class FleetWatch {
  #start = new Map<string, number>();
  #fresh: number[] = [];
  /** Started, not yet up or degraded: still booting (the arrival gate bounds them, fleet-pace.ts). */
  #booting = new Set<string>();
  #settled = 0;
  /** A booting box's state now, since when, and its time in each state so far. */
  #phase = new Map<string, { state: string; at: number; acc: Record<string, number> }>();
  /** Time boxes spent in each state before their first `up`, ms, added over the boxes up so far:
   *  where a boot's time goes (tuning, acquiring, starting, connecting, session-setup) [issue 19.5]. */
  readonly phaseMs: Record<string, number> = {};
  /** Boots slower than `slowMs` (the goal): how many, and their time in each state, ms [issue 19.5]. */
  slow = 0;
  readonly slowPhaseMs: Record<string, number> = {};
  /** Dead-path verdicts by kind and the box's state then (`dial@connecting`, `link@up`), and the
   *  dial verdicts a late CONNACK (0, or 3: busy) undid (`undone@...`): which verdicts, at which phase [issue 19.5]. */
  readonly verdicts: Record<string, number> = {};
  #state = new Map<string, string>();
  #slowMs: number;
  #firstStart: number | undefined;
  #lastStart = 0;
  #now: () => number;
  readonly channel: ChannelCounts = { deadPaths: 0, deadLinks: 0, failures: 0, downs: 0, lateAdopted: 0, deadPathsUndone: 0, lateBusy: 0 };

  constructor(now: () => number = () => performance.now(), slowMs = 3000) {
    this.#now = now;
    this.#slowMs = slowMs;
  }

  /** The box is being started now (its boot time counts from here). */
  starting(boxId: string): void {
    this.#start.set(boxId, this.#now());
    this.#firstStart ??= this.#now();
    this.#lastStart = this.#now();
    this.#booting.add(boxId);
    this.#phase.set(boxId, { state: 'off', at: this.#now(), acc: {} });
  }

  /** From the first box's start to the last's so far, ms (0 before two starts): the arrivals' span. */
  startSpanMs(): number {
    return this.#firstStart === undefined ? 0 : this.#lastStart - this.#firstStart;
  }

  /** Boxes started and not yet up or degraded. */
  booting(): number {
    return this.#booting.size;
  }

  /** Boxes whose boot ended, up or degraded. */
  settled(): number {
    return this.#settled;
  }

  event(boxId: string, e: Seen): void {
    const was = this.#state.get(boxId) ?? 'off';
    if (e.kind === 'state' && 'to' in e) {
      this.#state.set(boxId, e.to);
      this.#moved(boxId, e.to);
      if ((e.to === 'up' || e.to === 'degraded') && this.#booting.delete(boxId)) this.#settled++;
      if (e.to === 'up') this.#up(boxId);
      if ('event' in e && e.event === 'link-dead') this.#verdict('link', was, 1); // a full box's table row
    } else if (e.kind === 'dial' && 'undone' in e && (e.undone ?? 0) > 0) {
      if ('ok' in e && e.ok) this.channel.lateAdopted++;
      else this.channel.lateBusy++; // a late busy answer [19], no dial of its own
      this.channel.deadPathsUndone += e.undone ?? 0;
      this.#verdict('undone', was, e.undone ?? 0);
    } else if (e.kind === 'dial' && 'ok' in e && !e.ok) {
      this.channel.failures++;
      if (e.deadPath === true) this.#verdict('dial', was, 1);
    } else if (e.kind === 'link' && 'up' in e && !e.up) {
      this.channel.downs++;
      if ('dead' in e && e.dead === true) this.#verdict('link', was, 1); // a light box says so on the link event
    }
  }

  /** Boot times (ms) of boxes that came up since the last call. */
  takeBooted(): number[] {
    const out = this.#fresh;
    this.#fresh = [];
    return out;
  }

  #verdict(kind: 'dial' | 'link' | 'undone', state: string, n: number): void {
    if (kind === 'dial') this.channel.deadPaths += n;
    if (kind === 'link') this.channel.deadLinks += n;
    const k = `${kind}@${state}`;
    this.verdicts[k] = (this.verdicts[k] ?? 0) + n;
  }

  #moved(boxId: string, to: string): void {
    const p = this.#phase.get(boxId);
    if (p === undefined) return;
    const now = this.#now();
    p.acc[p.state] = (p.acc[p.state] ?? 0) + (now - p.at);
    p.state = to;
    p.at = now;
    if (to !== 'up') return;
    this.#phase.delete(boxId);
    const slow = now - (this.#start.get(boxId) ?? now) > this.#slowMs;
    if (slow) this.slow++;
    for (const [k, ms] of Object.entries(p.acc)) {
      this.phaseMs[k] = (this.phaseMs[k] ?? 0) + ms;
      if (slow) this.slowPhaseMs[k] = (this.slowPhaseMs[k] ?? 0) + ms;
    }
  }

  #up(boxId: string): void {
    const t = this.#start.get(boxId);
    if (t === undefined) return;
    this.#start.delete(boxId); // the first `up` only: a later reconnect is not a boot
    this.#fresh.push(this.#now() - t);
  }
}
