// What the box's adapters report, as boot-table events: the carousel acquirer's (acquire.ts) and
// the two-way channel manager's (channel-manager.ts). Observers hear what is worth showing.

import type { Transport } from '../runtime/index.ts';
import type { AcquireEvent, AcquiredApp } from './acquire.ts';
import type { BootEvent } from './boot-table.ts';
import { acquireEventShown, type BoxEvent } from './box-events.ts';
import type { ChannelEvent } from './channel-manager.ts';

/** What an event carries into the action it triggers. */
export interface Detail {
  app?: AcquiredApp;
  error?: Error;
}

export interface AdapterHooks {
  fire: (event: BootEvent, detail?: Detail) => void;
  emit: (e: BoxEvent) => void;
  /** A return channel is up: the running app's switch takes its transport. */
  attach: (transport: Transport) => void;
}

export function onAcquire(e: AcquireEvent, h: AdapterHooks): void {
  if (e.kind === 'dsi') return h.fire('dsi');
  if (e.kind === 'verified') return h.fire('tier-verified', { app: e.app });
  if (e.kind === 'update') return h.fire('update', { app: e.app });
  const shown = acquireEventShown(e);
  if (shown !== undefined) h.emit(shown);
  if (e.kind === 'refused') h.fire('tier-refused');
}

export function onChannel(e: ChannelEvent, h: AdapterHooks): void {
  switch (e.kind) {
    case 'failed':
      h.emit({ kind: 'dial', ok: false, ms: e.ms, attempt: e.attempt, deadPath: e.deadPath, error: e.error.message });
      return h.fire('dial-failed', { error: e.error });
    case 'round-over':
      return;
    case 'late-busy': // [19] verdicts undone: the box's moves on them are not (docs/DECISIONS.md)
      return h.emit({ ...e, kind: 'dial', ok: false });
    case 'up':
      h.attach(e.channel.transport);
      h.emit({ kind: 'dial', ok: true, ms: e.ms, attempt: e.attempt, ...(e.late === true ? { undone: e.channel.verdictsUndone ?? 0 } : {}) });
      h.emit({ kind: 'link', up: true });
      return h.fire('link-up');
    case 'reup':
      h.emit({ kind: 'link', up: true, detail: 'reconnected' });
      return h.fire('link-up');
    case 'down':
      h.emit({ kind: 'link', up: false, ...(e.cause === undefined ? {} : { detail: e.cause.message }) });
      return h.fire(e.dead ? 'link-dead' : 'link-down');
  }
}
