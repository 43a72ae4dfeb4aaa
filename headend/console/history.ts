// The last hour of a few series for the console's charts: a fixed ring of samples, taken by the
// caller's timer (the server's, or a test calling sample()). Rates come from counter deltas.
import type { ConsoleSnapshot } from './source.ts';

export interface HistoryPoint {
  at: number;
  sessions: number;
  nodesUp: number;
  /** Errors per second since the previous sample (all error counters). */
  errorsPerS: number;
  /** Envelopes routed per second since the previous sample. */
  routedPerS: number;
  cpuMax: number;
}

export class History {
  readonly capacity: number;
  #points: HistoryPoint[] = [];
  #prev: { at: number; errors: number; routed: number } | undefined;

  /** `capacity` samples (720 at 5 s is one hour). */
  constructor(capacity = 720) {
    if (!Number.isInteger(capacity) || capacity < 2 || capacity > 100_000) throw new RangeError(`History: capacity must be an integer in 2..100000, got ${capacity}`);
    this.capacity = capacity;
  }

  sample(s: ConsoleSnapshot): HistoryPoint {
    const errors = s.errorCounters.reduce((sum, n) => sum + (s.counters[n] ?? 0), 0);
    const routed = s.counters.node_dispatched ?? 0;
    const dt = this.#prev === undefined ? 0 : (s.at - this.#prev.at) / 1000;
    const rate = (now: number, before: number | undefined): number => (dt > 0 && before !== undefined ? Math.max(0, (now - before) / dt) : 0);
    const p: HistoryPoint = {
      at: s.at,
      sessions: s.nodes.reduce((sum, n) => sum + n.sessions, 0),
      nodesUp: s.nodes.filter((n) => n.state === 'ok').length,
      errorsPerS: rate(errors, this.#prev?.errors),
      routedPerS: rate(routed, this.#prev?.routed),
      cpuMax: s.nodes.reduce((m, n) => Math.max(m, n.cpu), 0),
    };
    this.#prev = { at: s.at, errors, routed };
    this.#points.push(p);
    if (this.#points.length > this.capacity) this.#points.shift();
    return p;
  }

  points(): HistoryPoint[] {
    return [...this.#points];
  }
}
