// The options of an app's sandbox (app.ts) and of loading one module into it, with the names
// the constructor accepts (unknown ones are refused by name).

import type { Clock } from '../runtime/index.ts';
import type { LagSource } from './lag.ts';
import type { SandboxError } from './errors.ts';
import type { SandboxLimits } from './limits.ts';
import type { MessageLink, ServiceHandler } from './link.ts';
import type { KeyValueStore } from './storage.ts';
import type { WarmRuntime } from './warm.ts';

export interface AppSandboxOptions {
  /** App id; every module loaded must belong to it. */
  app: string;
  /** `box`: refuses server and peer modules [c6]; `headend`: refuses client modules. */
  side: 'box' | 'headend';
  /** Session id used in the modules' virtual addresses; `*` for portions shared by all sessions. */
  session?: string;
  /** From the device profile on a box (memoryBytes, storageQuota), from node config on a head-end. */
  limits?: Partial<SandboxLimits>;
  /** Timers (weft.setTimeout) and reply expiry. Default: the system clock. */
  clock?: Clock;
  /** Monotonic milliseconds for deadlines and the watchdog. Default: performance.now. */
  now?: () => number;
  /** Backing store of weft.storage. Default: in memory. */
  storage?: KeyValueStore;
  /** What weft.device.info() returns (model, memory, cpu, ...): JSON data. */
  device?: Record<string, unknown>;
  /** Receives weft.ui.show(scene) from modules declaring `ui`. */
  ui?: (scene: unknown, module: string) => void;
  /** Receives weft.log.* and console.* lines (bounded per module). */
  log?: ((module: string, level: 'debug' | 'info' | 'warn' | 'error', text: string) => void) | undefined;
  /** Head-end services; presence makes weft.services available to modules that declare them [c7]. */
  services?: Record<string, ServiceHandler>;
  /** Told about every module stopped by a fatal fault (after it was destroyed). */
  onFault?: (err: SandboxError) => void;
  /** Measured event-loop lag of this thread (a LagMeter shared by its sandboxes): added to
   *  deadlines, slices and the watchdog, up to limits.maxLagMs. Default: none. */
  lag?: LagSource | undefined;
  /** This process's CPU time, ms (default: process.cpuUsage, or none when `now` is given): a
   *  deadline passed while the process was starved is not the guest's (starve.ts). */
  cpu?: () => number;
  /** A runtime made ahead of need (warm.ts, from the same engine): adopted, used by this
   *  sandbox only and freed with it; its prepared contexts go to the first modules loaded. */
  warm?: WarmRuntime;
}

export const OPTION_KEYS = ['app', 'side', 'session', 'limits', 'clock', 'now', 'storage', 'device', 'ui', 'log', 'services', 'onFault', 'lag', 'cpu', 'warm'];

export interface LoadOptions {
  /** Where weft.send / weft.request go; a runtime Channel bound to this module's address. */
  link?: MessageLink;
}
