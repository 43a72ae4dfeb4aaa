// [issue 19.6] A head-end past its setup capacity answers session.open QUOTA (data.quota
// 'setups') with data.retryAfterMs. The box waits that plus seeded jitter, capped (a hostile or
// broken head-end cannot park it for an hour), and opens again: not a failure, not a dead path.
// Pure: the caller arms the timer.

import { Codes, RemoteError } from '../runtime/index.ts';

/** The longest wait a head-end's hint can buy, ms (the jitter included). */
export const QUOTA_WAIT_CAP_MS = 30_000;
/** The shortest, ms: a hint of 0 must not make a busy loop. */
const QUOTA_WAIT_MIN_MS = 100;

/** ms to wait before opening again when `e`'s cause (or `e`) is QUOTA `setups` with a hint; else undefined. */
export function quotaWaitMs(e: unknown, random: () => number): number | undefined {
  const r = (e as { cause?: unknown }).cause ?? e;
  if (!(r instanceof RemoteError) || r.remoteCode !== Codes.QUOTA) return undefined;
  const d = r.data as { quota?: unknown; retryAfterMs?: number } | undefined;
  const h = d?.retryAfterMs; // NaN, negative, missing or not a number: no hint
  if (d?.quota !== 'setups' || !(typeof h === 'number' && h >= 0)) return undefined;
  const base = Math.max(QUOTA_WAIT_MIN_MS, Math.min(h, QUOTA_WAIT_CAP_MS));
  return Math.min(QUOTA_WAIT_CAP_MS, base + random() * base * 0.5); // up to half the hint again: refused boxes do not return as one herd
}
