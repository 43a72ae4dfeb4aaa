// [issue 19.6] Admission one step before session.open: at the MQTT CONNECT. A broker whose loop is
// behind reads each CONNECT late; every box it lets in then subscribes, opens a session and probes
// its link on the same loop, so the lag grows and the boxes already held miss their PINGRESPs
// (dead links). Past its connect capacity the broker answers a box's CONNECT with CONNACK 3
// "server unavailable" at once; the box waits its backoff and comes back (transport/mqtt-dial.ts).
// The rule is pure: the caller measures (the sojourn: broker-listen.ts; the loop's delay: loopDelay).

import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ArgumentError, nonNegative, positiveInt, rejectUnknown } from '../../runtime/index.ts';

export interface ConnectGateOptions {
  /**
   * A CONNECT authenticated more than this long after its first bytes were read, plus the loop's
   * delay (its wait before that read), waited in a queue, ms.
   * Default 100: under a box's dead-path deadline for its CONNACK (3 x RTT + 45 ms; 105-285 ms
   * with the profiles' return paths), so a refusal reaches the box before its verdict.
   */
  targetMs?: number;
  /**
   * How late the broker's event loop runs now, ms: a CONNECT's bytes wait that long in the kernel
   * before they are read and its sojourn starts. Default `loopDelay()` (the broker's own loop).
   */
  lag?: () => number;
  /** Past capacity when this many CONNECTs in a row each waited past `targetMs` (a standing queue, not one slow read); the next on time clears it. Default 8. */
  minLate?: number;
  /**
   * ... and the first of them was read at least this long ago, ms: a queue that stood for an
   * interval, as CoDel's. CONNECTs that piled up while the loop stalled once are read in one turn
   * after it, all late at the same moment; that burst is gone when it has been read, and refusing
   * it only sent its boxes into their backoff (issue 19.5: at 5,000 boxes on a shared machine,
   * 649 refusals in the first 30 s, boots spent 2.6 s in `connecting`). Default 200 (two of the
   * loop delay's 100 ms slices).
   */
  intervalMs?: number;
}

export type ResolvedConnectGate = Required<Omit<ConnectGateOptions, 'lag'>> & Pick<ConnectGateOptions, 'lag'>;

export const DEFAULT_CONNECT_GATE: Readonly<ResolvedConnectGate> = { targetMs: 100, minLate: 8, intervalMs: 200 };

/**
 * The loop's delay as a lag source: the largest delay of the event loop (Node's histogram, 10 ms
 * resolution, no JS timer) over the last slice of >= 100 ms, read at most once a slice. `stop`
 * ends the histogram.
 */
export function loopDelay(sliceMs = 100): { lag: () => number; stop: () => void } {
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  let at = performance.now();
  let last = 0;
  return {
    lag: () => {
      const t = performance.now();
      if (t - at >= sliceMs) {
        last = h.count > 0 ? h.max / 1e6 : t - at; // no sample in a whole slice: the loop was stuck that long
        h.reset();
        at = t;
      }
      return last;
    },
    stop: () => h.disable(),
  };
}

const W = 'startAedesBroker connectGate';

/** Validate the gate's options (`'off'`: no gate) and fill the defaults; throws ArgumentError naming the bad one. */
export function resolveConnectGate(o: ConnectGateOptions | 'off' | undefined): ResolvedConnectGate | undefined {
  if (o === 'off') return undefined;
  if (o === undefined) return DEFAULT_CONNECT_GATE;
  if (typeof o !== 'object' || o === null) throw new ArgumentError(`${W}: an object or 'off'`, 'connectGate');
  rejectUnknown(W, o, [...Object.keys(DEFAULT_CONNECT_GATE), 'lag']);
  if (o.lag !== undefined && typeof o.lag !== 'function') throw new ArgumentError(`${W}: lag must be a function returning ms`, 'lag');
  return {
    targetMs: nonNegative(W, 'targetMs', o.targetMs ?? DEFAULT_CONNECT_GATE.targetMs),
    minLate: positiveInt(W, 'minLate', o.minLate ?? DEFAULT_CONNECT_GATE.minLate, 1_000_000),
    intervalMs: nonNegative(W, 'intervalMs', o.intervalMs ?? DEFAULT_CONNECT_GATE.intervalMs),
    ...(o.lag === undefined ? {} : { lag: o.lag }),
  };
}

export interface ConnectGateStats {
  /** Box CONNECTs let through to authentication. */
  admitted: number;
  /** Box CONNECTs answered CONNACK 3 (server unavailable) because the broker was behind. */
  refused: number;
  /** CONNECTs in a row read past the target now. */
  late: number;
  /** The largest sojourn seen, ms (what the queue reached). */
  maxSojournMs: number;
}

/**
 * CoDel's idea at the CONNECT: a queue is judged by the delay of what passes through it, and a
 * standing queue (the minimum delay over the last `minLate` CONNECTs above target) by more than
 * one slow read. Every CONNECT is measured, the refused ones too, so the gate opens again as
 * soon as CONNECTs are read on time. Node identities are never refused (the caller decides who
 * is a box).
 */
export class ConnectGate {
  readonly #o: ResolvedConnectGate;
  readonly #now: () => number;
  #late = 0;
  /** When the first of the late CONNECTs in a row was read, on `now`. */
  #lateSince = 0;
  readonly #stats = { admitted: 0, refused: 0, maxSojournMs: 0 };

  /** `now`: the broker's clock, ms (the interval is measured on it). */
  constructor(options: ResolvedConnectGate = DEFAULT_CONNECT_GATE, now: () => number = () => performance.now()) {
    this.#o = options;
    this.#now = now;
  }

  get stats(): ConnectGateStats {
    return { ...this.#stats, late: this.#late };
  }

  /**
   * A box's CONNECT reached authentication `sojournMs` after its first bytes were read, on a
   * loop running `lagMs` late (their wait before the read): true lets it in, false: answer CONNACK 3
   * (minLate late in a row, the first of them read intervalMs or more ago).
   */
  admit(sojournMs: number, lagMs = 0): boolean {
    sojournMs += Number.isFinite(lagMs) && lagMs > 0 ? lagMs : 0;
    if (!Number.isFinite(sojournMs) || sojournMs < 0) sojournMs = 0; // unmeasured: judged on time
    if (sojournMs > this.#stats.maxSojournMs) this.#stats.maxSojournMs = sojournMs;
    this.#late = sojournMs > this.#o.targetMs ? this.#late + 1 : 0;
    const now = this.#now();
    if (this.#late === 1) this.#lateSince = now;
    if (this.#late >= this.#o.minLate && now - this.#lateSince >= this.#o.intervalMs) {
      this.#stats.refused++;
      return false;
    }
    this.#stats.admitted++;
    return true;
  }
}
