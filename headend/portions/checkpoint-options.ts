// The checkpointer's options, counters and byte budget [issue 13.2]: values and small pure
// helpers only; the checkpointer itself is checkpoint.ts.

import { ArgumentError, Codes, positiveInt, rejectUnknown, type Clock, type Envelope } from '../../runtime/index.ts';
import { MAX_CHECKPOINT_BYTES } from '../registry/registry.ts';

export interface CheckpointOptions {
  /**
   * Most time between a change of an `interval` module's state and its checkpoint, ms; also the
   * most often one instance is checkpointed. Default 1000: a node death loses at most about a
   * second of acknowledged updates, at one registry write per changed module per second.
   */
  checkpointMs?: number;
  /** Checkpoint bytes per second this node may write (burst: one second's worth). Default 8 MiB:
   *  a fair share of one Redis or one SQLite file among a few nodes. Over it, checkpoints wait (deferred). */
  budgetBytesPerSec?: number;
  /** Most bytes of one module's checkpoint; a larger snapshot is refused (counted, logged, and a
   *  sync module's reply becomes a TOO_LARGE error). Default 256 KiB, the sandbox's maxStateBytes. */
  maxCheckpointBytes?: number;
  /** How long a sync module's reply may wait for its checkpoint before it becomes an UNAVAILABLE
   *  error, ms. Default 5000 (the registry is down or the budget is spent). */
  syncWaitMs?: number;
  /** Sync replies one instance may hold at once; past it a reply is answered UNAVAILABLE at once. Default 1000
   *  (a second of replies at 1000 requests per second to one session's portion). */
  maxHeld?: number;
}

export const CHECKPOINT_OPTIONS = ['checkpointMs', 'budgetBytesPerSec', 'maxCheckpointBytes', 'syncWaitMs', 'maxHeld'];

export type ResolvedCheckpointOptions = Required<CheckpointOptions>;

/** Validate by name; every bound has a reason (above). */
export function resolveCheckpointOptions(o: CheckpointOptions | undefined): ResolvedCheckpointOptions {
  rejectUnknown('checkpoints', o, CHECKPOINT_OPTIONS);
  const w = 'checkpoints';
  const r: ResolvedCheckpointOptions = {
    checkpointMs: positiveInt(w, 'checkpointMs', o?.checkpointMs ?? 1000, 3_600_000),
    budgetBytesPerSec: positiveInt(w, 'budgetBytesPerSec', o?.budgetBytesPerSec ?? 8 * 1024 * 1024),
    maxCheckpointBytes: positiveInt(w, 'maxCheckpointBytes', o?.maxCheckpointBytes ?? 256 * 1024, MAX_CHECKPOINT_BYTES),
    syncWaitMs: positiveInt(w, 'syncWaitMs', o?.syncWaitMs ?? 5000, 600_000),
    maxHeld: positiveInt(w, 'maxHeld', o?.maxHeld ?? 1000, 1_000_000),
  };
  // A checkpoint larger than one second's budget could never be written: it would wait forever.
  if (r.maxCheckpointBytes > r.budgetBytesPerSec) {
    throw new ArgumentError(`checkpoints: maxCheckpointBytes (${r.maxCheckpointBytes}) must not exceed budgetBytesPerSec (${r.budgetBytesPerSec})`, 'maxCheckpointBytes');
  }
  return r;
}

/** What the node's stats and the console's metrics show (`checkpoint_<name>`). */
export interface CheckpointStats {
  /** Module checkpoints written to the registry. */
  written: number;
  /** Bytes of those checkpoints. */
  bytes: number;
  /** Checkpoints put off to a later round because the byte budget was spent. */
  deferred: number;
  /** Snapshots over maxCheckpointBytes, not written. */
  refused: number;
  /** Snapshots or registry writes that failed; retried at the next round. */
  failed: number;
  /** Writes refused because another node owns the vaddr now (this instance was re-placed). */
  fenced: number;
  /** Snapshots equal to the last checkpoint (by hash): nothing written. */
  unchanged: number;
  /** Modules restored from a checkpoint at a re-placement. */
  restored: number;
  /** Re-placements of an interval module, summed: time from its checkpoint to its node's last sign of life, ms (updates acknowledged then may be lost). */
  lostWindowMs: number;
  /** The largest such window of one restore, ms. */
  lostWindowMaxMs: number;
  /** Sync replies answered with an error: not made durable (too large, fenced, waited too long, held too many). */
  syncErrors: number;
  /** Now: sync replies waiting for their checkpoint. */
  held: number;
  /** Now: how long the oldest un-checkpointed change has waited, ms (what a death right now would lose). */
  windowMs: number;
}

export function emptyStats(): Omit<CheckpointStats, 'held' | 'windowMs'> {
  return { written: 0, bytes: 0, deferred: 0, refused: 0, failed: 0, fenced: 0, unchanged: 0, restored: 0, lostWindowMs: 0, lostWindowMaxMs: 0, syncErrors: 0 };
}

/** A token bucket of bytes per second, burst one second's worth, on the injected clock. */
export class ByteBudget {
  readonly #rate: number;
  readonly #clock: Clock;
  #tokens: number;
  #at: number;

  constructor(bytesPerSec: number, clock: Clock) {
    this.#rate = bytesPerSec;
    this.#clock = clock;
    this.#tokens = bytesPerSec;
    this.#at = clock.now();
  }

  /** Could `bytes` be taken now? */
  has(bytes: number): boolean {
    this.#refill();
    return bytes <= this.#tokens;
  }

  /** Take `bytes` if they are there. */
  take(bytes: number): boolean {
    if (!this.has(bytes)) return false;
    this.#tokens -= bytes;
    return true;
  }

  /** Take `bytes` even into debt (a migration's checkpoint is never deferred): later ones wait. */
  charge(bytes: number): void {
    this.#refill();
    this.#tokens -= bytes;
  }

  #refill(): void {
    const now = this.#clock.now();
    this.#tokens = Math.min(this.#rate, this.#tokens + ((now - this.#at) * this.#rate) / 1000);
    this.#at = now;
  }
}

/** Answers a request (rep, err, ack): the envelopes a sync module's checkpoint holds back. */
export function isAnswer(env: Envelope): boolean {
  return env.kind === 'rep' || env.kind === 'err' || env.kind === 'ack';
}

/** The same answer turned into a typed error: the update was applied here but is not durable. */
export function asError(env: Envelope, code: number, message: string): Envelope {
  return { ...env, kind: 'err', body: { code, message } };
}

export const SyncCodes = { tooLarge: Codes.TOO_LARGE, unavailable: Codes.UNAVAILABLE } as const;
