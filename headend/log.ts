// Structured logs of the head-end and the fleet: pino, one JSON line per event with a level,
// the time, the component and whatever fields the event has (node, session, box, trace). The
// level comes from --log-level or WEFT_LOG_LEVEL. The box and firmware keep their own tiny
// logger writing the same line shape (loader/log.ts): pino would grow the firmware.
import { pino, destination, multistream, stdTimeFunctions, type Logger } from 'pino';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type { Logger };

export function checkLevel(level: string): LogLevel {
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new RangeError(`log level "${level}" is not one of ${LOG_LEVELS.join(', ')}`);
  return level as LogLevel;
}

/**
 * A logger for one process: to stdout by default, or appended to `file` (the demo keeps its
 * head-end's log there). `component` is on every line; children add fields (`node`, `session`).
 */
export function createLogger(o: { component: string; level?: string; file?: string; stderr?: boolean; recent?: { write(line: string): void } }): Logger {
  const level = checkLevel(o.level ?? process.env.WEFT_LOG_LEVEL ?? 'info');
  const dest = o.file === undefined ? destination({ dest: o.stderr === true ? 2 : 1, sync: true }) : destination({ dest: o.file, sync: true, mkdir: true, append: true });
  // `recent` (the console's LogRing) gets the warnings and errors as well.
  const out = o.recent === undefined ? dest : multistream([{ level, stream: dest }, { level: 'warn', stream: o.recent }]);
  return pino({ level, base: { component: o.component }, timestamp: stdTimeFunctions.epochTime, formatters: { level: (label) => ({ level: label }) } }, out);
}

/** The `(line) => void` callbacks the head-end's parts take, as info lines of a logger. */
export function lineLog(logger: Logger, level: 'debug' | 'info' | 'warn' | 'error' = 'info'): (line: string) => void {
  return (line) => logger[level](line);
}
