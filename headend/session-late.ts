// [issue 19.6] Opens that finish after their box gave up. A box waits for session.open until the
// request's deadline, then retries; a saturated node still finished the first open and kept it,
// so at 18,000 arriving light boxes it held 17,390 sessions for 6,145 boxes up, each with its
// portion instance (bench -- scale, PERFORMANCE "Scale", wave 4), and the memory and GC that cost
// slowed the next opens past their deadlines too. Such a session is ended at once and counted.
// An open answered in time can still be lost to its box: the reply came after the box's own wait
// (a loaded broker or box), or never. At 18,000 light boxes the node held 27,904 sessions so
// (wave 14). A box confirms the session it runs with client-started [c42]; one not confirmed
// within `unconfirmedMs` of its open was given up: it is ended and counted too.

import type { Clock, Envelope, OpenReply, TimerHandle } from '../runtime/index.ts';
import type { Registry, SessionRecord } from './registry/registry.ts';

export interface LateOpenHost {
  readonly clock: Clock;
  readonly registry: Pick<Registry, 'getSession'>;
}

export class LateOpens {
  /** Sessions opened after their request's deadline and ended at once. */
  ended = 0;
  /** Sessions their box did not confirm within the window, ended; and looks that failed (tried again). */
  unconfirmed = { ended: 0, failed: 0 };
  readonly #host: () => LateOpenHost;
  readonly #end: (rec: SessionRecord) => Promise<void>;
  readonly #windowMs: number;
  /** Opened, not yet confirmed: session -> when it is given up (in insertion order, so by time). */
  readonly #waiting = new Map<string, number>();
  #timer: TimerHandle | undefined;
  #pass: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(host: () => LateOpenHost, end: (rec: SessionRecord) => Promise<void>, unconfirmedMs = 60_000) {
    this.#host = host;
    this.#end = end;
    this.#windowMs = unconfirmedMs;
  }

  /**
   * The reply as it was; when `env`'s deadline passed before it, its session is ended first
   * (nobody waits for it), unless the open continued the session it names as `previous`: that
   * one existed before the request, the box still holds it and its retry names it again.
   * Otherwise, when its server portion runs here (`hosted`), its client-started comes through
   * this node's dispatch: the session is ended unless that comes within the window.
   */
  async settle(env: Envelope, reply: OpenReply, hosted: (session: string) => boolean = () => false): Promise<OpenReply> {
    const h = this.#host();
    if (env.deadline === undefined || h.clock.now() <= env.deadline || (env.body as { previous?: unknown } | undefined)?.previous === reply.session) {
      if (hosted(reply.session) && reply.modules.some((m) => m.side === 'headend')) this.wait(reply.session);
      return reply;
    }
    const rec = await h.registry.getSession(reply.session);
    if (rec === undefined) return reply;
    this.ended++;
    await this.#end(rec);
    return reply;
  }

  /** Sessions opened and not yet confirmed by their box. */
  get waiting(): number {
    return this.#waiting.size;
  }

  /** `session` was opened here for a box: it is ended unless the box confirms it in time. */
  wait(session: string): void {
    this.#waiting.delete(session);
    this.#waiting.set(session, this.#host().clock.now() + this.#windowMs);
    this.#arm();
  }

  /** The box confirmed `session` (client-started), or it ended or moved: nothing to wait for. */
  settled(session: string): void {
    this.#waiting.delete(session);
  }

  /** End the sessions whose window has passed; resolves when this and every earlier pass are done. */
  sweep(): Promise<void> {
    this.#pass = this.#pass.then(() => this.#expire());
    return this.#pass;
  }

  /** The node closes: no more passes. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) this.#host().clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(): void {
    if (this.#timer !== undefined || this.#closed) return;
    const first = this.#waiting.values().next();
    if (first.done === true) return;
    const clock = this.#host().clock;
    this.#timer = clock.setTimeout(() => {
      this.#timer = undefined;
      void this.sweep().finally(() => this.#arm());
    }, Math.max(0, first.value - clock.now()));
  }

  async #expire(): Promise<void> {
    const h = this.#host();
    const now = h.clock.now();
    const due: string[] = [];
    for (const [s, at] of this.#waiting) {
      if (at > now) break;
      due.push(s);
    }
    for (const s of due) this.#waiting.delete(s);
    for (const s of due) {
      if (this.#closed) return;
      try {
        const rec = await h.registry.getSession(s);
        if (rec === undefined) continue;
        await this.#end(rec);
        this.unconfirmed.ended++;
      } catch {
        this.unconfirmed.failed++; // the registry could not say or end it: looked at again a window later
        this.#waiting.set(s, h.clock.now() + this.#windowMs);
      }
    }
  }
}
