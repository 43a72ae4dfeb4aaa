// What a box tells its observers (the emulator's log, the dashboard, tests): state changes with
// the event and action of the table row taken, refusals, module moves, dials, screens.

import type { Clock } from '../runtime/index.ts';
import type { Action, BootEvent, BootState } from './boot-table.ts';
import type { AcquireEvent } from './acquire.ts';

export type BoxEvent =
  | { kind: 'state'; from: BootState; to: BootState; event: BootEvent; action: Action; at: number }
  | { kind: 'refused'; problem: string; module?: string; message: string }
  | { kind: 'corrupt'; module: string }
  | { kind: 'module'; module: string; action: 'started' | 'stopped' | 'downloaded' | 'moved-to-headend' | 'kept-on-box' | 'fault' | 'restarted' | 'failed'; detail?: string }
  /** `undone`: the dead-path verdicts a connection had before its broker answered late (issue 13.4): ok, it came up on it; not ok, it was answered busy (CONNACK 3, issue 19). */
  | { kind: 'dial'; ok: boolean; ms: number; attempt: number; deadPath?: boolean; error?: string; undone?: number }
  | { kind: 'link'; up: boolean; detail?: string }
  | { kind: 'session'; session: string; node: string; placements: Record<string, 'box' | 'headend'> }
  | { kind: 'scene'; module: string; scene: unknown }
  | { kind: 'log'; module: string; level: 'debug' | 'info' | 'warn' | 'error'; message: string }
  | { kind: 'cache-full'; module: string }
  /** A version went on probation, committed, or was reverted from (issue 15, probation-box.ts). */
  | { kind: 'probation'; app: string; version: string; outcome: 'probation' | 'committed' | 'reverted'; reason?: string }
  /** A tune attempt's outcome; a failure names the carousel and what to do, and is retried. */
  | { kind: 'tuner'; ok: boolean; attempt: number; message?: string; retryInMs?: number }
  /** The box asks for a session again in `inMs` (after `refusals` REFUSED answers in a row). */
  | { kind: 'session-retry'; inMs: number; refusals: number }
  | { kind: 'error'; message: string };

/** One step of the box's boot table, as `Box.history` keeps it. */
export interface HistoryEntry {
  state: BootState;
  event: BootEvent;
  action: Action;
  at: number;
}

/** Conditions waited on, checked again after every box event; each gives up after its time. */
export class Watchers {
  #clock: Clock;
  #set = new Set<() => void>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Resolve when `pred()` holds (now or at a later `notify`); reject with `timedOut()` after `ms`. */
  wait(pred: () => boolean, ms: number, timedOut: () => Error): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = this.#clock.setTimeout(() => {
        this.#set.delete(check);
        reject(timedOut());
      }, ms);
      const check = (): void => {
        if (!pred()) return;
        this.#clock.clearTimeout(timer);
        this.#set.delete(check);
        resolve();
      };
      this.#set.add(check);
    });
  }

  notify(): void {
    for (const w of [...this.#set]) w();
  }
}

/** What observers see of an acquisition event that is not a boot-table event, if anything. */
export function acquireEventShown(e: AcquireEvent): BoxEvent | undefined {
  switch (e.kind) {
    case 'refused':
      return e.module === undefined ? { kind: 'refused', problem: e.problem, message: e.message } : { kind: 'refused', problem: e.problem, module: e.module, message: e.message };
    case 'corrupt':
    case 'cache-full':
      return { kind: e.kind, module: e.module };
    case 'tuner':
      return { ...e };
    case 'over-quota':
      return { kind: 'refused', problem: 'carousel-quota', message: e.message };
    default:
      return undefined;
  }
}
