// [issue 18.6] The dial of `connecting`, begun at power-on (the `tune` action) so that it runs
// beside the tune, a warm boot's check of its cached app, the carousel wait and the app's start
// (and the engine's load). `connecting` then takes its outcome: under way, or its first failure;
// the boot table and the states a box shows are the same as when it dialed there.

import type { ChannelEvent, ChannelManager } from './channel-manager.ts';

export class EarlyDial {
  #state: 'dialing' | Error | undefined;

  /** At power-on: round 1 begins now unless there is no return channel or the link is up. */
  begin(channels: ChannelManager | undefined, linkUp: boolean): void {
    this.#state = channels === undefined || linkUp ? undefined : 'dialing';
    if (this.#state !== undefined) channels?.round();
  }

  /** The channel's events: a failure while the early dial is under way is its outcome; a late busy answer [19] undoes one not yet taken (the round goes on, or `connecting` starts one). */
  heard(e: ChannelEvent): void {
    if (e.kind === 'failed' && this.#state === 'dialing') this.#state = e.error;
    if (e.kind === 'late-busy' && this.#state instanceof Error) this.#state = 'dialing';
  }

  /** Begun and not yet taken by `connecting` (a link it brought up is taken there). */
  get pending(): boolean {
    return this.#state !== undefined;
  }

  /** At `connecting`: the outcome so far, and forget it. */
  take(): 'dialing' | Error | undefined {
    const s = this.#state;
    this.#state = undefined;
    return s;
  }
}
