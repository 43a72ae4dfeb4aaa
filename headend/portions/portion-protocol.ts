// Messages between a node's main thread and its portion workers (structured clone over the
// worker port). Envelopes cross as objects: same-server delivery needs no encoding [c8, c10].

import type { Clock, Envelope } from '../../runtime/index.ts';
import type { CriticalGuard } from '../../runtime/app/index.ts';
import type { WaitSnapshot } from './critical/index.ts';
import type { LoadSweepStats } from './load-sweep.ts';
import type { ThreadCpuStats } from './thread-cpu.ts';

/**
 * A clock both sides of the worker port agree on (ms since the epoch, sub-ms resolution): the
 * node stamps each request's arrival with it and the worker measures waits from that stamp [c24].
 */
export function threadNow(): number {
  return performance.timeOrigin + performance.now();
}

/** A Clock on threadNow (for the locks and waits of critical sections). */
export const threadClock: Clock = {
  now: threadNow,
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as Parameters<typeof clearTimeout>[0]),
};

/**
 * One critical module of one instance [c20-c23]: the node's wait-and-lock for the module's virtual
 * address (a SharedSemaphore buffer, the same for every instance on the node) and this instance's
 * probe, which the worker writes and the node's thread controller reads (PROBE slots).
 */
export interface CriticalSpec {
  guard: CriticalGuard;
  permits: number;
  lock: SharedArrayBuffer;
  probe: SharedArrayBuffer;
}

/** BigInt64 slots of a probe: oldest waiting request's start (us, 0: none), busy and held time (us), requests done. */
export const PROBE = { OLDEST_US: 0, BUSY_US: 1, HELD_US: 2, DONE: 3, SLOTS: 4 } as const;

export function newProbe(): SharedArrayBuffer {
  return new SharedArrayBuffer(PROBE.SLOTS * 8);
}

/** A worker's wait statistics for one critical module of one instance (in its load reports). */
export interface ModuleWaits extends WaitSnapshot {
  iid: string;
  module: string;
}

/** Everything a worker needs to start one portion instance; it verifies the app itself. */
export interface PortionSpec {
  /** Instance id: the local queue id of this instance on the node [c10]. */
  iid: string;
  node: string;
  app: string;
  /** Session id, or `*` for a portion shared by all sessions. */
  session: string;
  /** Module names of the app to run here (server, peer, and mutable modules placed here). */
  modules: string[];
  /** The signed app as published: manifest bytes, signature, module bytes by name. */
  manifest: Uint8Array;
  signature: Uint8Array;
  sources: Record<string, Uint8Array>;
  /** Trusted signing keys (TrustedKeyJson). */
  trusted: unknown[];
  /** Snapshots to restore, by module (a moved portion, or a mutable module coming back) [c31]. */
  states?: Record<string, Uint8Array>;
  /** Head-end services the node offers (names for weft.services). */
  services: string[];
  /** Sandbox memory for this instance, bytes. */
  memoryBytes?: number;
  /** Deadline of one dispatched event, ms (a loaded head-end needs more than a box's 100 ms). */
  deadlineMs?: number;
  /** Critical modules by name: their locks and probes [c20-c23]. */
  critical?: Record<string, CriticalSpec>;
}

/** An envelope for an instance's module; `at`: its arrival on the node (threadNow), where its waits start [c24]. */
export interface EnvDelivery {
  iid: string;
  module: string;
  env: Envelope;
  at: number;
}

export type ToWorker =
  | { t: 'start'; spec: PortionSpec }
  | ({ t: 'env' } & EnvDelivery)
  /** [wave 17] The envelopes delivered to the thread in one pass of the node's event loop, in order (thread-post.ts). */
  | { t: 'envs'; list: EnvDelivery[] }
  /** `flush: false` (a checkpoint): do not run queued envelopes first, so fair order holds; the answer says how many wait. */
  | { t: 'snapshot'; rid: number; iid: string; flush?: false }
  /** [wave 17] Checkpoint snapshots (`flush: false`) of several instances in one message: one answer with a result each, in order. */
  | { t: 'snapshots'; rid: number; iids: string[] }
  | { t: 'stop'; rid: number; iid: string };

/** One instance's checkpoint snapshot: its states and the envelopes it does not cover, or why there is none. */
export type SnapshotResult = { states: Record<string, Uint8Array>; queued: number } | { error: string };

export type FromWorker =
  | { t: 'ready' }
  | { t: 'started'; iid: string; ok: true }
  | { t: 'started'; iid: string; ok: false; error: string }
  /** An envelope a module sent: the main thread routes it. */
  | { t: 'out'; iid: string; env: Envelope }
  /** `queued`: envelopes of the instance still waiting in the fair queue (a `flush: false` snapshot). */
  | { t: 'snapshot'; rid: number; states?: Record<string, Uint8Array>; error?: string; queued?: number }
  | { t: 'snapshots'; rid: number; results: SnapshotResult[] }
  | { t: 'stopped'; rid: number }
  | { t: 'fault'; iid: string; module: string; error: string }
  | { t: 'log'; iid: string; module: string; level: 'debug' | 'info' | 'warn' | 'error'; text: string }
  | { t: 'load'; busyMs: number; served: number; inflight: number; waits?: ModuleWaits[]; sandbox?: SandboxLoad };

/** A worker's sandbox figures in its load reports: the fair queue (shed envelopes), the app
 *  engines (WebAssembly bytes held), measured lag and events cut at their CPU slice. */
export interface SandboxLoad {
  queued: number;
  served: number;
  shed: number;
  waiting: number;
  apps: number;
  engines: number;
  loaded: number;
  discarded: number;
  retired: number;
  /** Engines that took no new instance past three quarters of their cap (sandbox/engines.ts ROLL_AT, wave 20). */
  rolled: number;
  refused: number;
  engineBytes: number;
  lagMs: number;
  slices: number;
  /** Warm app sandboxes held, and starts that found one or none (since the thread began) [issue 19.3]. */
  warm: number;
  warmHits: number;
  warmMisses: number;
  /** [19.6] The report's pass over the instances, in bounded turns (load-sweep.ts). */
  sweep?: LoadSweepStats;
  /** The thread's own CPU readings for the sandbox's starvation check, and those answered from the process's CPU (thread-cpu.ts). */
  threadCpu?: ThreadCpuStats;
}

/** Module name of the node's service host: `weft://headend/<node>/services`. */
export const SERVICES_NAME = 'services';
/** Pseudo-module an instance sends service requests from: `weft://<app>/<session>/_svc`. */
export const SERVICE_CLIENT = '_svc';
