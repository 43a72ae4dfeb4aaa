// One registry call retried after a backoff while it throws [c31]: the loop a node's keepers
// (ClaimKeeper, SessionRecords) share against a registry that fails calls in a failover. It
// decides nothing about the answer; it only turns "threw" into "tried again" or, at the end, null.

/** Delay before retry `attempt` (1, 2, ...): 20 ms doubling, at most 1 s. */
export function backoffMs(attempt: number): number {
  return Math.min(1000, 20 * 2 ** (attempt - 1));
}

/** The keepers' default wait before retry `attempt`: backoffMs on the timers. */
export const defaultBackoff = (attempt: number): Promise<void> => new Promise((r) => setTimeout(r, backoffMs(attempt)));

export interface RetryPolicy {
  /** Tries in all, the first included: past it, null. */
  maxAttempts: number;
  /** Wait before retry `attempt` (1, 2, ...). */
  backoff: (attempt: number) => Promise<void>;
  /** The caller closed: no further retry (read before each retry's wait). */
  stopped: () => boolean;
  /** A retry is about to wait (the caller counts it). */
  retried: () => void;
}

/**
 * `fn`, and after each throw a retry once its backoff has passed; null after `maxAttempts` tries
 * or when `stopped()`. `failed`: tries that already failed elsewhere (the first retry then waits
 * `backoff(failed)`), so a call on the hot path makes its first try itself, without this frame.
 */
export async function retryCall<T>(fn: () => Promise<T>, p: RetryPolicy, failed = 0): Promise<T | null> {
  for (let attempt = failed + 1; ; attempt++) {
    if (attempt > 1) {
      if (attempt > p.maxAttempts || p.stopped()) return null;
      p.retried();
      await p.backoff(attempt - 1);
    }
    try {
      return await fn();
    } catch {
      // the next attempt, after its backoff
    }
  }
}
