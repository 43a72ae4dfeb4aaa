// What a ModuleSandbox needs from its app (implemented by AppSandbox): limits, injected clock and
// sinks, the per-app storage, and the entry/pump machinery. Types only: keeps the two apart.

import type { QuickJSContext } from 'quickjs-emscripten';
import type { Clock } from '../runtime/index.ts';
import type { ModuleEntry, StateCodec } from '../runtime/app/index.ts';
import type { SandboxError } from './errors.ts';
import type { Capabilities } from './host-api.ts';
import type { SandboxLimits } from './limits.ts';
import type { ServiceHandler } from './link.ts';
import type { AppStorage } from './storage.ts';

/** How one entry into guest code went. */
export interface EntryRun<T> {
  value: T;
  /** Wall time of the entry, ms, from the injected `now`. */
  elapsed: number;
  /** The engine's interrupt fired because the deadline passed. */
  interrupted: boolean;
  /** The bound that fired was the event's CPU slice, not the entry's own deadline. */
  sliced: boolean;
  /** Measured lag added to this entry's deadline and to the watchdog's patience, ms. */
  lagMs: number;
  /** The entry outlived its deadline while the process was starved of CPU (starve.ts): slow, not
   *  held, so the watchdog does not judge it (within the same 4x cap as the interrupt). */
  starved?: boolean;
}

/** The module whose entry (or settled promise) caused the jobs being pumped. */
export interface JobOrigin {
  readonly name: string;
  stopping(): boolean;
  record(fault: 'deadline' | 'memory' | 'stack' | 'too-large' | 'exception' | 'storm', detail: string): void;
}

export interface Retiring {
  readonly name: string;
  readonly ctx: QuickJSContext;
}

export interface AppCore {
  readonly app: string;
  readonly session: string;
  readonly limits: Readonly<SandboxLimits>;
  readonly clock: Clock;
  readonly storage: AppStorage;
  readonly state: StateCodec;
  readonly device: unknown;
  readonly ui: ((scene: unknown, module: string) => void) | undefined;
  /** Receives weft.log.* and console.* lines, already bounded per module. */
  readonly log: ((module: string, level: 'debug' | 'info' | 'warn' | 'error', text: string) => void) | undefined;
  readonly services: Readonly<Record<string, ServiceHandler>> | undefined;
  capabilities(entry: ModuleEntry): Capabilities;
  /** The engine's WebAssembly memory is at its cap (allocations are failing). */
  exhausted(): boolean;
  /** Run guest code with the deadline armed; entries never nest. When `abort` turns true (a
   *  fatal fault was recorded) the engine is interrupted at its next poll, deadline or not. */
  runEntry<T>(deadlineMs: number, fn: () => T, abort?: () => boolean): EntryRun<T>;
  /**
   * Run pending promise jobs, each under its own deadline, then let modules settle. Every entry
   * ends with a pump that drains the queue, so the jobs of a pump were all caused by `origin`.
   */
  pump(origin: JobOrigin | undefined): void;
  /** A module operation begins / ends: the runtime is never freed while one holds handles. */
  enter(): void;
  leave(): void;
  /** A module was destroyed (err: the fatal fault, if any): forget it, free its context when safe. */
  retire(module: Retiring, err: SandboxError | undefined): void;
}

/** A module's counters (ModuleSandbox.stats()). */
export interface ModuleStats {
  events: number;
  hostCalls: number;
  sendFailures: number;
  queued: number;
  dropped: number;
  timers: number;
  pendingRequests: number;
  watching: number;
  liveHandles: number;
}
