// The timing process [c16]: sends this node's heartbeat every interval and declares a peer dead
// when its beats stop (or when it comes back as a new incarnation, having lost its portions).
// Time comes from the injected clock; beats leave through the injected `send`; no sockets here.

import { ArgumentError, type Clock, type Envelope, fail, LATE_TIMER_MS, ok, positiveInt, rejectUnknown, type Result, systemClock, type TimerHandle, type UdpAddress } from '../../runtime/index.ts';
import { parseUdp } from './statistics.ts';

export const TIMING_OPS = {
  /** Body Heartbeat, sent as a `stat` envelope to the cluster every interval. */
  beat: 'timing.beat',
} as const;

export interface Heartbeat {
  node: string;
  /** When the node process started; a new value is a restart. */
  incarnation: number;
  seq: number;
  /** Sender's clock (informative only: liveness uses arrival times). */
  at: number;
  /** The sender's beat interval: peers judge its silence by its own interval. */
  intervalMs: number;
  udp?: UdpAddress;
}

/** `missed-beats`: silent too long. `restarted`: a new incarnation, so what ran there is gone. */

export type DeathReason = 'missed-beats' | 'restarted';

export interface PeerState {
  node: string;
  incarnation: number | undefined;
  /** Arrival of the last beat (or when we began to expect one), on this clock. */
  lastSeen: number;
  intervalMs: number;
  alive: boolean;
  udp?: UdpAddress;
}

export interface TimingOptions {
  /** This node's id; its own beats are not tracked. */
  node: string;
  clock?: Clock;
  /** Heartbeat interval, ms. Default 1000. */
  intervalMs?: number;
  /**
   * A peer is dead once this many of its beats were due and none came, plus half an interval of
   * grace for jitter: declared (missedBeats + 0.5) to (missedBeats + 0.75) intervals after its last
   * beat. Default 2 (one lost datagram is not a death; a dead node is declared within 3 intervals).
   */
  missedBeats?: number;
  /** When this node started. Default clock.now() at construction. */
  incarnation?: number;
  udp?: UdpAddress;
  /** Carries a beat to the cluster (as a `stat` envelope with op TIMING_OPS.beat). Without it, only peers are watched. */
  send?: (op: string, beat: Heartbeat) => Promise<void> | void;
  onDead?: (node: string, reason: DeathReason) => void;
  onAlive?: (node: string) => void;
  /** A failed send or a callback that threw. Default: counted only. */
  onError?: (err: unknown) => void;
}

const OPTIONS = ['node', 'clock', 'intervalMs', 'missedBeats', 'incarnation', 'udp', 'send', 'onDead', 'onAlive', 'onError'];
const ID = /^[A-Za-z0-9_.:-]{1,128}$/;

export class TimingProcess {
  readonly node: string;
  readonly intervalMs: number;
  readonly missedBeats: number;
  readonly incarnation: number;
  #clock: Clock;
  #udp: UdpAddress | undefined;
  #send: TimingOptions['send'];
  #onDead: (node: string, reason: DeathReason) => void;
  #onAlive: (node: string) => void;
  #onError: (err: unknown) => void;
  #peers = new Map<string, PeerState & { seq: number }>();
  #seq = 0;
  #beatTimer: TimerHandle | undefined;
  #checkTimer: TimerHandle | undefined;
  #counts = { sent: 0, received: 0, late: 0, malformed: 0, errors: 0 };

  constructor(options: TimingOptions) {
    rejectUnknown('TimingProcess', options, OPTIONS);
    if (typeof options.node !== 'string' || !ID.test(options.node)) throw new ArgumentError('TimingProcess: node must be an id', 'node');
    this.node = options.node;
    this.#clock = options.clock ?? systemClock;
    this.intervalMs = positiveInt('TimingProcess', 'intervalMs', options.intervalMs ?? 1000);
    this.missedBeats = positiveInt('TimingProcess', 'missedBeats', options.missedBeats ?? 2, 1000);
    this.incarnation = options.incarnation ?? this.#clock.now();
    this.#udp = options.udp;
    this.#send = options.send;
    this.#onDead = options.onDead ?? (() => {});
    this.#onAlive = options.onAlive ?? (() => {});
    this.#onError = options.onError ?? (() => {});
  }

  get running(): boolean {
    return this.#checkTimer !== undefined;
  }

  /** Beat now and every interval; check peers every quarter interval. Idempotent. */
  start(): void {
    if (this.running) return;
    const every = this.intervalMs / 4;
    const check = (due: number, putOff: boolean) => (): void => {
      const now = this.#clock.now();
      // [13.4] Fired late: our own loop stalled, and timers run before input, so the peers' beats
      // may sit unread. Judge one turn later, once (a busy node is not a dead peer).
      if (!putOff && now - due > LATE_TIMER_MS) return void (this.#checkTimer = this.#clock.setTimeout(check(now + 1, true), 1));
      this.check();
      this.#checkTimer = this.#clock.setTimeout(check(this.#clock.now() + every, false), every);
    };
    this.#checkTimer = this.#clock.setTimeout(check(this.#clock.now() + every, false), every);
    if (this.#send !== undefined) {
      const beat = (): void => {
        this.beat();
        this.#beatTimer = this.#clock.setTimeout(beat, this.intervalMs);
      };
      beat();
    }
  }

  stop(): void {
    if (this.#beatTimer !== undefined) this.#clock.clearTimeout(this.#beatTimer);
    if (this.#checkTimer !== undefined) this.#clock.clearTimeout(this.#checkTimer);
    this.#beatTimer = undefined;
    this.#checkTimer = undefined;
  }

  /** Send one heartbeat now. */
  beat(): void {
    if (this.#send === undefined) return;
    const hb: Heartbeat = { node: this.node, incarnation: this.incarnation, seq: ++this.#seq, at: this.#clock.now(), intervalMs: this.intervalMs };
    if (this.#udp !== undefined) hb.udp = { ...this.#udp };
    this.#counts.sent++;
    try {
      const p = this.#send(TIMING_OPS.beat, hb);
      if (p instanceof Promise) p.catch((e: unknown) => this.#error(e));
    } catch (e) {
      this.#error(e);
    }
  }

  /** Feed an incoming envelope; true when it was a heartbeat (taken or refused as late/malformed). */
  receive(env: Envelope): boolean {
    if (env.kind !== 'stat' || env.op !== TIMING_OPS.beat) return false;
    const hb = parseHeartbeat(env.body);
    if (!hb.ok) this.#counts.malformed++;
    else this.observe(hb.value);
    return true;
  }

  /** A peer's beat arrived now. */
  observe(hb: Heartbeat): void {
    if (hb.node === this.node) return;
    this.#counts.received++;
    const now = this.#clock.now();
    const p = this.#peers.get(hb.node);
    if (p === undefined || p.incarnation === undefined) {
      const wasDead = p !== undefined && !p.alive;
      this.#peers.set(hb.node, peer(hb, now));
      if (wasDead) this.#call(() => this.#onAlive(hb.node));
      return;
    }
    if (hb.incarnation < p.incarnation || (hb.incarnation === p.incarnation && hb.seq <= p.seq)) {
      this.#counts.late++;
      return;
    }
    const restarted = hb.incarnation > p.incarnation;
    const wasAlive = p.alive;
    this.#peers.set(hb.node, peer(hb, now));
    // A restart loses whatever the old process ran: it is a death even if no beat was missed.
    if (restarted && wasAlive) this.#call(() => this.#onDead(hb.node, 'restarted'));
    if (restarted || !wasAlive) this.#call(() => this.#onAlive(hb.node));
  }

  /**
   * Watch a peer that has not beaten yet (known from the registry after a restart): it is dead
   * if no beat comes within the usual time from now.
   */
  expect(node: string, intervalMs = this.intervalMs): void {
    if (typeof node !== 'string' || !ID.test(node)) throw new ArgumentError('TimingProcess.expect: node must be an id', 'node');
    if (node === this.node || this.#peers.has(node)) return;
    this.#peers.set(node, { node, incarnation: undefined, seq: 0, lastSeen: this.#clock.now(), intervalMs: positiveInt('expect', 'intervalMs', intervalMs), alive: true });
  }

  forget(node: string): void {
    this.#peers.delete(node);
  }

  /** Declare every silent peer dead now; gives the newly dead. Runs by itself while started. */
  check(): string[] {
    const now = this.#clock.now();
    const dead: string[] = [];
    for (const p of this.#peers.values()) {
      // [c16] missed heartbeats: silent for missedBeats intervals plus half of one for jitter.
      if (p.alive && now - p.lastSeen >= (this.missedBeats + 0.5) * p.intervalMs) {
        p.alive = false;
        dead.push(p.node);
      }
    }
    for (const node of dead) this.#call(() => this.#onDead(node, 'missed-beats'));
    return dead;
  }

  peers(): PeerState[] {
    return [...this.#peers.values()]
      .map(({ seq: _seq, ...p }) => ({ ...p }))
      .sort((a, b) => (a.node < b.node ? -1 : 1));
  }

  isAlive(node: string): boolean | undefined {
    return node === this.node ? true : this.#peers.get(node)?.alive;
  }

  stats(): Readonly<Record<string, number>> {
    let alive = 0;
    for (const p of this.#peers.values()) if (p.alive) alive++;
    return { ...this.#counts, peers: this.#peers.size, alive };
  }

  #call(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.#error(e);
    }
  }

  #error(e: unknown): void {
    this.#counts.errors++;
    this.#onError(e);
  }
}

function peer(hb: Heartbeat, now: number): PeerState & { seq: number } {
  const p: PeerState & { seq: number } = { node: hb.node, incarnation: hb.incarnation, seq: hb.seq, lastSeen: now, intervalMs: hb.intervalMs, alive: true };
  if (hb.udp !== undefined) p.udp = hb.udp;
  return p;
}

/** Check a heartbeat body off the wire. */
export function parseHeartbeat(body: unknown): Result<Heartbeat, string> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return fail('heartbeat must be an object');
  const b = body as Record<string, unknown>;
  if (typeof b.node !== 'string' || !ID.test(b.node)) return fail('heartbeat.node must be an id');
  for (const k of ['incarnation', 'seq', 'at'] as const) {
    const v = b[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) return fail(`heartbeat.${k} must be an integer >= 0`);
  }
  const iv = b.intervalMs;
  if (typeof iv !== 'number' || !Number.isFinite(iv) || iv < 1 || iv > 3_600_000) return fail('heartbeat.intervalMs must be in 1..3600000');
  const hb: Heartbeat = { node: b.node, incarnation: b.incarnation as number, seq: b.seq as number, at: b.at as number, intervalMs: iv };
  if (b.udp !== undefined) {
    try {
      hb.udp = parseUdp(b.udp, 'heartbeat.udp');
    } catch (e) {
      return fail((e as Error).message);
    }
  }
  return ok(hb);
}
