// What a box keeps of the app versions it switched away from [issue 15]: their channels, for the
// replies to requests still on the wire, each closed once nothing is pending on it (its requests
// answered or ended by their own deadlines); and where each channel's message ids go on across
// versions, so an old channel and the new one at the same address never wait for the same id.
// One per box, shared by its switches. A kept channel takes replies only, never a request.

import type { Channel, Clock, Envelope } from '../runtime/index.ts';
import type { Tracked } from './request-ledger.ts';

/** The longest a version switch waits for the old version's requests in flight, ms (the loader's
 *  default deadline; 2 s failed answers a loaded head-end gave later CLOSED: bench rollout). */
const SETTLE_MS = 5000;

/** Most channels kept at once (a few versions' modules); past it the oldest closes (CLOSED, as before). */
export const MAX_KEPT = 64;
/** How often kept channels are looked at, ms: one closes at most this long after its last request ended. */
export const SWEEP_MS = 1000;

export class SwitchLinger {
  /** Channels of earlier versions, oldest first. */
  readonly kept = new Set<Channel>();
  /** The next message id of each channel key (the loader, a module), across versions. */
  readonly ids = new Map<string, number>();
  #clock: Clock;
  #timer: unknown;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Keep `chs` while requests are pending on them. */
  keep(chs: Channel[]): void {
    for (const c of chs) this.kept.add(c);
    this.#sweep();
  }

  /** A reply (it has `corr`) is offered to the kept channels at its address: by their ids, only the
   *  one that sent its request takes it; the others count it stray. */
  receive(env: Envelope): void {
    if (env.corr !== undefined) for (const c of this.kept) if (c.self.vaddr === env.dst.vaddr) c.receive(env);
  }

  /** The box stops: what is still kept fails CLOSED. */
  close(): void {
    this.#clock.clearTimeout(this.#timer as never);
    this.kept.forEach((c) => this.#drop(c));
  }

  #sweep(): void {
    for (const c of this.kept) if (this.kept.size > MAX_KEPT || c.stats().pending < 1) this.#drop(c);
    this.#clock.clearTimeout(this.#timer as never); // one sweep timer, however many keeps
    this.#timer = this.kept.size > 0 ? this.#clock.setTimeout(() => this.#sweep(), SWEEP_MS) : undefined;
  }

  #drop(c: Channel): void {
    c.close();
    this.kept.delete(c);
  }
}

/** [issue 15.6] Resolves once none of `inflight` (a version's requests not yet ended) is on the wire,
 *  including those sent meanwhile, at most `ms`; those waiting for a session do not count. */
export function settle(inflight: Map<Promise<unknown>, Tracked>, clock: Clock, ms = SETTLE_MS): Promise<void> {
  return new Promise((go) => {
    const timer = clock.setTimeout(go, ms);
    const round = (): unknown => {
      const sent = [...inflight].filter(([, t]) => t.stage !== 'awaiting-session').map(([p]) => p.catch(() => 0));
      return sent.length === 0 ? (clock.clearTimeout(timer), go()) : Promise.all(sent).then(round);
    };
    round();
  });
}
