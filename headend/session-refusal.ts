// Why a session was refused, as a reason code the box, its CLI and the head-end's log all show
// (issue 16 finding 2): a start failure's text is classified once here, and each cause is logged
// once per app per interval, so a box retrying every few seconds does not flood the log.
import { Codes, RemoteError, type Clock } from '../runtime/index.ts';

export const REFUSAL_REASONS = ['untrusted-key', 'bad-signature', 'tampered', 'unknown-service', 'load-failed'] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

const PATTERNS: readonly [RegExp, RefusalReason][] = [
  [/\bunknown-key\b/, 'untrusted-key'],
  [/\b(unsigned|malformed-signature|bad-signature)\b/, 'bad-signature'],
  [/\b(tampered-module|missing-module)\b/, 'tampered'],
  [/has no service "/, 'unknown-service'],
  [/\b(module evaluation|stopped: exception|SandboxError)\b/, 'load-failed'],
];

/** The reason a portion could not start, when it is the app's fault (retrying cannot help), else undefined. */
export function refusalReason(message: string): RefusalReason | undefined {
  for (const [re, reason] of PATTERNS) if (re.test(message)) return reason;
  return undefined;
}

/** Counts refusals by reason and logs each (app, reason) at most once per `intervalMs`. */
export class SessionRefusals {
  readonly counts: Record<RefusalReason, number> = { 'untrusted-key': 0, 'bad-signature': 0, tampered: 0, 'unknown-service': 0, 'load-failed': 0 };
  readonly #last = new Map<string, number>();
  readonly #clock: Clock;
  readonly #log: (line: string) => void;
  readonly #intervalMs: number;

  constructor(clock: Clock, log: (line: string) => void, intervalMs = 60_000) {
    this.#clock = clock;
    this.#log = log;
    this.#intervalMs = intervalMs;
  }

  /** The typed refusal for the box: REFUSED with data.reason, or undefined when `message` is no app fault. */
  refuse(app: string, version: string, message: string): RemoteError | undefined {
    const reason = refusalReason(message);
    if (reason === undefined) return undefined;
    this.counts[reason]++;
    const key = `${app}\u0000${reason}`;
    const now = this.#clock.now();
    const last = this.#last.get(key);
    if (last === undefined || now - last >= this.#intervalMs) {
      if (this.#last.size >= 10_000) this.#last.clear(); // bounded: a flood of app names forgets, never grows
      this.#last.set(key, now);
      this.#log(`session refused: ${app} ${version}: ${reason}: ${message} (${this.counts[reason]} so far; logged once a minute per app and cause)`);
    }
    return new RemoteError(Codes.REFUSED, `${app} ${version} refused (${reason}): ${message}`, { reason });
  }
}
