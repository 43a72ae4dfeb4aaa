// [issue 19.6] Opens that finish after their box gave up. A box waits for session.open until the
// request's deadline, then retries; a saturated node still finished the first open and kept it,
// so at 18,000 arriving light boxes it held 17,390 sessions for 6,145 boxes up, each with its
// portion instance (bench -- scale, PERFORMANCE "Scale", wave 4), and the memory and GC that cost
// slowed the next opens past their deadlines too. Such a session is ended at once and counted.

import type { Clock, Envelope, OpenReply } from '../runtime/index.ts';
import type { Registry, SessionRecord } from './registry/registry.ts';

export interface LateOpenHost {
  readonly clock: Clock;
  readonly registry: Pick<Registry, 'getSession'>;
}

export class LateOpens {
  /** Sessions opened after their request's deadline and ended at once. */
  ended = 0;
  readonly #host: () => LateOpenHost;
  readonly #end: (rec: SessionRecord) => Promise<void>;

  constructor(host: () => LateOpenHost, end: (rec: SessionRecord) => Promise<void>) {
    this.#host = host;
    this.#end = end;
  }

  /**
   * The reply as it was; when `env`'s deadline passed before it, its session is ended first
   * (nobody waits for it), unless the open continued the session it names as `previous`: that
   * one existed before the request, the box still holds it and its retry names it again.
   */
  async settle(env: Envelope, reply: OpenReply): Promise<OpenReply> {
    const h = this.#host();
    if (env.deadline === undefined || h.clock.now() <= env.deadline) return reply;
    if ((env.body as { previous?: unknown } | undefined)?.previous === reply.session) return reply;
    const rec = await h.registry.getSession(reply.session);
    if (rec === undefined) return reply;
    this.ended++;
    await this.#end(rec);
    return reply;
  }
}
