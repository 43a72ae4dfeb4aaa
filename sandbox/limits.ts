// Resource limits of an app sandbox: defaults, and validation that names a bad or unknown limit.
// The memory limit and storage quota come from the device profile on a box.

import { ArgumentError, rejectUnknown } from '../runtime/index.ts';

export interface SandboxLimits {
  /** Heap of the app's QuickJS runtime, shared by its modules (device profile). */
  memoryBytes: number;
  /** Native stack for guest code; deep recursion stops at this. */
  stackBytes: number;
  /** Deadline for one dispatched event (handler, timer, settled promise), ms. */
  deadlineMs: number;
  /** CPU slice of one dispatched event, ms: its entry and every promise job it causes together.
   *  A spinning module holds a thread shared with other apps for at most this (plus lag).
   *  Unless given, the largest of 1000, deadlineMs and startDeadlineMs. */
  sliceMs: number;
  /** Most measured event-loop lag added to deadlines, slices and the watchdog, ms: a loaded
   *  device gets this much more time before healthy code is stopped [issue 13.3]. */
  maxLagMs: number;
  /** Deadline for evaluating a module's top-level code and restore(), ms. */
  startDeadlineMs: number;
  /** Grace past an entry's deadline, ms. An entry that ran longer than deadline + grace is
   *  stopped by the watchdog: the engine's interrupt could not fire (a long native or host call). */
  watchdogGraceMs: number;
  /** Host calls one event may make. */
  maxHostCalls: number;
  /** Characters of JSON in one value handed to the host (message body, scene, storage value). */
  maxBodyBytes: number;
  /** Characters of JSON all host calls of one event may hand over together. */
  maxHostBytes: number;
  /** weft.request / services.request calls waiting at once, per module. */
  maxPendingRequests: number;
  /** Timers armed at once, per module. */
  maxTimers: number;
  /** Promise jobs one event may cause; more is a microtask storm that stops the app runtime. */
  maxJobs: number;
  /** Events queued while a module is loaded or paused. */
  maxQueued: number;
  /** Per-app storage quota, bytes (UTF-16 size of keys plus JSON values). */
  storageQuota: number;
  /** A served request whose guest promise has not settled by then fails with TIMEOUT, ms. */
  replyTimeoutMs: number;
  /** Largest CBOR snapshot of a mutable module. */
  maxStateBytes: number;
}

export const DEFAULT_LIMITS: Readonly<SandboxLimits> = Object.freeze({
  memoryBytes: 8 * 1024 * 1024,
  stackBytes: 256 * 1024,
  deadlineMs: 100,
  sliceMs: 1000,
  maxLagMs: 2000,
  startDeadlineMs: 1000,
  watchdogGraceMs: 250,
  maxHostCalls: 10_000,
  maxBodyBytes: 64 * 1024,
  maxHostBytes: 1024 * 1024,
  maxPendingRequests: 64,
  maxTimers: 64,
  maxJobs: 10_000,
  maxQueued: 256,
  storageQuota: 64 * 1024,
  replyTimeoutMs: 30_000,
  maxStateBytes: 256 * 1024,
});

const KEYS = Object.keys(DEFAULT_LIMITS);

export function resolveLimits(where: string, input: Partial<SandboxLimits> | undefined): Readonly<SandboxLimits> {
  if (input === undefined) return DEFAULT_LIMITS;
  rejectUnknown(`${where}: limits`, input, KEYS);
  const out = { ...DEFAULT_LIMITS, ...input };
  if (input.sliceMs === undefined) out.sliceMs = Math.max(DEFAULT_LIMITS.sliceMs, out.deadlineMs, out.startDeadlineMs);
  for (const k of KEYS as (keyof SandboxLimits)[]) {
    const v = out[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new ArgumentError(`${where}: limits.${k} must be a positive integer, got ${String(v)}`, k);
  }
  if (out.memoryBytes < 256 * 1024) throw new ArgumentError(`${where}: limits.memoryBytes below 256 KiB cannot hold a context`, 'memoryBytes');
  return Object.freeze(out);
}
