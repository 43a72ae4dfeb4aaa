// The last warnings and errors of this process, for the console's log panel: a bounded ring fed
// by the process's pino logger as a second stream (headend/log.ts). Lines are parsed and cut to
// bounded fields, so a long or strange message never grows the console's state.
import type { LogLine } from './source.ts';

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
const MAX_MSG = 300;
const MAX_FIELD = 128;

export class LogRing {
  readonly capacity: number;
  /** Lines that were not JSON objects (dropped). */
  malformed = 0;
  #lines: LogLine[] = [];

  /** Keeps the last `capacity` lines written (default 100). */
  constructor(capacity = 100) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 10_000) throw new RangeError(`LogRing: capacity must be an integer in 1..10000, got ${capacity}`);
    this.capacity = capacity;
  }

  /** A pino destination: one JSON line per call. */
  write(line: string): void {
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line) as Record<string, unknown>;
    } catch {
      this.malformed++;
      return;
    }
    if (o === null || typeof o !== 'object') return void this.malformed++;
    const str = (v: unknown, max = MAX_FIELD): string | undefined => (typeof v === 'string' ? v.slice(0, max) : undefined);
    const level = typeof o.level === 'number' ? (LEVELS[o.level] ?? String(o.level)) : (str(o.level) ?? 'info');
    const entry: LogLine = { at: typeof o.time === 'number' ? o.time : 0, level, msg: str(o.msg, MAX_MSG) ?? '' };
    for (const k of ['node', 'trace_id', 'span_id'] as const) {
      const v = str(o[k]);
      if (v !== undefined) entry[k] = v;
    }
    this.#lines.push(entry);
    if (this.#lines.length > this.capacity) this.#lines.shift();
  }

  lines(): LogLine[] {
    return this.#lines.map((l) => ({ ...l }));
  }
}
