// Request timing [c24]: the time each request takes, measured from its start, per portion, and the
// age of the oldest request still in flight (the metric that says a critical section is backing
// up before any request finishes). Counting only: no timers; time from an injected `now`.

import { ArgumentError, positiveInt, rejectUnknown } from '../../runtime/index.ts';
import { WaitStats, type WaitSnapshot } from '../portions/critical/index.ts';

export interface RequestTimerOptions {
  /** Monotonic milliseconds (fractions allowed). Default performance.now. */
  now?: () => number;
  /** Window of the percentiles, ms. Default 10000. */
  windowMs?: number;
  /** Samples kept per portion for the percentiles. Default 2048. */
  maxSamples?: number;
}

export interface RequestTiming extends WaitSnapshot {
  portion: string;
  /** Requests started and not finished. */
  inFlight: number;
  /** Age of the oldest request in flight, ms (0 when none). */
  oldestMs: number;
}

/** What start() gives; hand it back to finish(). */
export interface RequestTicket {
  readonly portion: string;
  readonly id: number;
  readonly startedAt: number;
}

interface Track {
  stats: WaitStats;
  // Insertion order is start order, so the first entry is the oldest still in flight.
  inFlight: Map<number, number>;
}

export class RequestTimer {
  #now: () => number;
  #windowMs: number;
  #maxSamples: number;
  #tracks = new Map<string, Track>();
  #next = 0;

  constructor(options: RequestTimerOptions = {}) {
    rejectUnknown('RequestTimer', options, ['now', 'windowMs', 'maxSamples']);
    this.#now = options.now ?? (() => performance.now());
    this.#windowMs = positiveInt('RequestTimer', 'windowMs', options.windowMs ?? 10_000);
    this.#maxSamples = positiveInt('RequestTimer', 'maxSamples', options.maxSamples ?? 2048);
  }

  /** A request for `portion` starts now. */
  start(portion: string): RequestTicket {
    if (typeof portion !== 'string' || portion.length === 0) throw new ArgumentError('RequestTimer.start: portion must be a non-empty string', 'portion');
    const t = this.#track(portion);
    const id = ++this.#next;
    const startedAt = this.#now();
    t.inFlight.set(id, startedAt);
    return { portion, id, startedAt };
  }

  /** The request is done: gives its time from start, ms, and records it. A ticket finishes once. */
  finish(ticket: RequestTicket): number {
    const t = this.#tracks.get(ticket.portion);
    if (t === undefined || !t.inFlight.delete(ticket.id)) throw new ArgumentError('RequestTimer.finish: unknown or finished ticket', 'ticket');
    const now = this.#now();
    const ms = now - ticket.startedAt;
    t.stats.record(now, ms);
    return ms;
  }

  /** Time since the request started, ms, without finishing it [c24]. */
  elapsed(ticket: RequestTicket): number {
    return this.#now() - ticket.startedAt;
  }

  snapshot(portion: string): RequestTiming {
    const t = this.#track(portion);
    const now = this.#now();
    const oldest = t.inFlight.values().next();
    return {
      portion,
      ...t.stats.snapshot(now),
      inFlight: t.inFlight.size,
      oldestMs: oldest.done === true ? 0 : now - oldest.value,
    };
  }

  portions(): string[] {
    return [...this.#tracks.keys()].sort();
  }

  /** Forget a portion that stopped or moved away. */
  drop(portion: string): void {
    this.#tracks.delete(portion);
  }

  #track(portion: string): Track {
    let t = this.#tracks.get(portion);
    if (t === undefined) {
      t = { stats: new WaitStats({ windowMs: this.#windowMs, maxSamples: this.#maxSamples }), inFlight: new Map() };
      this.#tracks.set(portion, t);
    }
    return t;
  }
}
