// When an app-wide instance of a code that is not live stops (issue 15.6): once no session in the
// cluster is pinned to a version with that code (the old live after a promotion, the candidate after
// a rollback). Runs after the registry reports session changes (switches, ends), at most one sweep
// at a time and SWEEP_GAP_MS apart; the live code's instance never stops here, and it takes the
// untagged addresses once the writer that had them is gone. Decides only; AppWide acts.

import type { Clock, TimerHandle } from '../../runtime/index.ts';
import type { Writer } from './shared-parts.ts';

/** Least time between two sweeps, ms: a wave of switches makes one sweep, not one per session. */
export const SWEEP_GAP_MS = 1000;

export interface RetireHost {
  readonly clock: Clock;
  /** The writers on this node. */
  writers(): Writer[];
  liveTag(app: string): string | undefined;
  /** The codes the app's sessions pin cluster-wide; undefined when unknown here (keep all). */
  pinnedTags(app: string): Promise<Set<string> | undefined>;
  /** Stop a writer no session needs (checkpoint kept); false when it is busy (tried again later). */
  retire(w: Writer): Promise<boolean>;
  /** Give the live code's writer the untagged addresses. */
  adopt(w: Writer): Promise<void>;
  log(line: string): void;
}

export class Retirement {
  readonly #h: RetireHost;
  #timer: TimerHandle | undefined;
  #running = false;
  #again = false;
  #closed = false;

  constructor(host: RetireHost) {
    this.#h = host;
  }

  /** Something changed: sweep within SWEEP_GAP_MS when this node runs a code that is not live, or a live one without its addresses. */
  soon(): void {
    if (this.#closed || !this.#h.writers().some((w) => w.tag !== this.#h.liveTag(w.app) || !w.alias)) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#timer ??= this.#h.clock.setTimeout(() => {
      this.#timer = undefined;
      void this.sweep();
    }, SWEEP_GAP_MS);
  }

  /** Stop every writer here whose code no session pins and that is not live; the live one takes the untagged addresses. */
  async sweep(): Promise<number> {
    if (this.#running || this.#closed) return 0;
    this.#running = true;
    let n = 0;
    try {
      const apps = new Set(this.#h.writers().map((w) => w.app));
      for (const app of apps) n += await this.#sweepApp(app);
    } catch (e) {
      this.#h.log(`app-wide retirement: ${(e as Error).message}`);
      this.#again = true;
    } finally {
      this.#running = false;
    }
    if (this.#again) {
      this.#again = false;
      this.soon();
    }
    return n;
  }

  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) this.#h.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async #sweepApp(app: string): Promise<number> {
    const live = this.#h.liveTag(app);
    const old = this.#h.writers().filter((w) => w.app === app && w.tag !== live);
    let n = 0;
    if (old.length > 0) {
      const pinned = await this.#h.pinnedTags(app);
      for (const w of old) {
        if (pinned === undefined || pinned.has(w.tag)) continue;
        if (await this.#h.retire(w)) n++;
        else this.#again = true;
      }
    }
    const mine = this.#h.writers().find((w) => w.app === app && w.tag === live);
    if (mine !== undefined && !mine.alias) await this.#h.adopt(mine);
    return n;
  }
}
