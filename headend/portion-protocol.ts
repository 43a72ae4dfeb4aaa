// Messages between a node's main thread and its portion workers (structured clone over the
// worker port). Envelopes cross as objects: same-server delivery needs no encoding [c8, c10].

import type { Envelope } from '../runtime/index.ts';

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
}

export type ToWorker =
  | { t: 'start'; spec: PortionSpec }
  | { t: 'env'; iid: string; module: string; env: Envelope }
  | { t: 'snapshot'; rid: number; iid: string }
  | { t: 'stop'; rid: number; iid: string };

export type FromWorker =
  | { t: 'ready' }
  | { t: 'started'; iid: string; ok: true }
  | { t: 'started'; iid: string; ok: false; error: string }
  /** An envelope a module sent: the main thread routes it. */
  | { t: 'out'; iid: string; env: Envelope }
  | { t: 'snapshot'; rid: number; states?: Record<string, Uint8Array>; error?: string }
  | { t: 'stopped'; rid: number }
  | { t: 'fault'; iid: string; module: string; error: string }
  | { t: 'load'; busyMs: number; served: number; inflight: number };

/** Module name of the node's service host: `weft://headend/<node>/services`. */
export const SERVICES_NAME = 'services';
/** Pseudo-module an instance sends service requests from: `weft://<app>/<session>/_svc`. */
export const SERVICE_CLIENT = '_svc';
