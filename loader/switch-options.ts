// The shapes of the box switch's (switch.ts) options and stats.

import type { Clock, Envelope } from '../runtime/index.ts';
import type { Cpu } from './ports.ts';
import type { RequestCounts, RequestLedger } from './request-ledger.ts';
import type { SessionWaitStats } from './session-wait.ts';
import type { SwitchLinger } from './switch-linger.ts';

export interface SwitchOptions {
  app: string;
  boxId: string;
  cpu: Cpu;
  clock: Clock;
  /** Default request deadline, ms. */
  timeoutMs: number;
  /** Called after guest code of a local module ran (the loader's memory watch). */
  afterEntry?: (module: string) => void;
  /** Requests and messages arriving for the loader endpoint. */
  onLoaderRequest?: (env: Envelope) => unknown;
  onLoaderMessage?: (env: Envelope) => void;
  /** Is a session on its way (the box dials or sets one up)? Then a module's request to the
   *  head-end waits for it within its deadline instead of failing at once (issue 16). */
  expecting?: () => boolean;
  /** The box's sampling decision for its modules' requests (runtime/trace.ts); absent: tracing off. */
  traceparent?: () => string | undefined;
  /** The box's ledger, kept across app versions (issue 15.6); default: this switch's own. */
  ledger?: RequestLedger;
  /** What the box keeps of earlier versions' channels (issue 15); default: this switch's own. */
  linger?: SwitchLinger;
}

export interface SwitchStats {
  local: number;
  remote: number;
  held: number;
  unreachable: number;
  forwarded: number;
  unroutable: number;
  /** Requests answered NO_SESSION that went again on the re-opened session, and those whose caller got that error [13.1]. */
  retried: number;
  noSessionFailed: number;
  /** Remote requests whose caller got an error, by code name (UNAVAILABLE: link down, TIMEOUT, NO_SESSION...). */
  failed: Record<string, number>;
  /** Requests made before the session was up: went once it was, or expired waiting. */
  sessionWait: SessionWaitStats;
  /** The fate of every request that left for the head-end or waited for a module [13.8]. */
  requests: RequestCounts;
  /** Requests the ledger had to end, by the stage they were stuck in (each one a bug to find). */
  overdueAt: Record<string, number>;
}
