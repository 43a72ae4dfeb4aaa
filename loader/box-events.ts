// What a box tells its observers (the emulator's log, the dashboard, tests): state changes with
// the event and action of the table row taken, refusals, module moves, dials, screens.

import type { Action, BootEvent, BootState } from './boot-table.ts';

export type BoxEvent =
  | { kind: 'state'; from: BootState; to: BootState; event: BootEvent; action: Action; at: number }
  | { kind: 'refused'; problem: string; module?: string; message: string }
  | { kind: 'corrupt'; module: string }
  | { kind: 'module'; module: string; action: 'started' | 'stopped' | 'downloaded' | 'moved-to-headend' | 'kept-on-box' | 'fault' | 'restarted' | 'failed'; detail?: string }
  | { kind: 'dial'; ok: boolean; ms: number; attempt: number; deadPath?: boolean; error?: string }
  | { kind: 'link'; up: boolean; detail?: string }
  | { kind: 'session'; session: string; node: string; placements: Record<string, 'box' | 'headend'> }
  | { kind: 'scene'; module: string; scene: unknown }
  | { kind: 'cache-full'; module: string }
  | { kind: 'error'; message: string };
