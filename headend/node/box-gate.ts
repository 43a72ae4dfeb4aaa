// The gate every envelope from a box passes before dispatch (docs/SECURITY.md, "MQTT ingress"):
// classes it (box-ingress.ts), checks that the box owns the sessions it names (the session
// manager's own sessions, a bounded cache, else the registry), and keeps each box's envelopes in
// order while a lookup is out. Refusals are answered with a typed error, counted and logged once
// per box per minute. Holds bounded state only; routes nothing itself.

import { Codes, parseVaddr, type Clock, type Envelope } from '../../runtime/index.ts';
import { boxOf } from '../../transport/mqtt-topics.ts';
import { RefusalLog, boxPrincipal, classifyFromBox, type OwnedCheck, type Refusal } from './box-ingress.ts';

/** Session owners remembered (oldest forgotten first; the registry is asked again). */
export const MAX_OWNERS = 100_000;
/** Envelopes of one box waiting behind an ownership lookup. */
export const MAX_WAITING_PER_BOX = 64;
/** Boxes that may have envelopes waiting at once. */
export const MAX_WAITING_BOXES = 4096;

export interface SessionOwner {
  app: string;
  box: string;
}

export interface GateHost {
  readonly clock: Clock;
  log(line: string): void;
  /** Sessions this node opened (sync). */
  localOwner(session: string): SessionOwner | undefined;
  /** The registry's session record. */
  lookup(session: string): Promise<SessionOwner | undefined>;
  /** Admitted: dispatch it. */
  pass(env: Envelope): void;
  /** Send an error reply (never throws). */
  reply(env: Envelope): void;
}

type Verdict = 'ok' | 'unknown' | Refusal;

export class BoxGate {
  readonly refusals: RefusalLog;
  readonly #host: GateHost;
  readonly #owners = new Map<string, SessionOwner>();
  readonly #waiting = new Map<string, Envelope[]>();

  constructor(host: GateHost) {
    this.#host = host;
    this.refusals = new RefusalLog(host.clock, (l) => host.log(l));
  }

  /** Sessions whose owner is cached (bounded by MAX_OWNERS). */
  get ownersKnown(): number {
    return this.#owners.size;
  }

  /** One envelope from the MQTT ingress. Never throws. */
  admit(env: Envelope): void {
    const c = classifyFromBox(env);
    if ('reason' in c) return this.#refuse(env, c);
    const queue = this.#waiting.get(c.box);
    if (queue !== undefined) {
      if (queue.length >= MAX_WAITING_PER_BOX) return this.#refuse(env, { reason: 'backlog', code: Codes.RATE_LIMITED, message: 'too many envelopes waiting for a session lookup' });
      queue.push(env);
      return;
    }
    const v = this.#verdict(c);
    if (v === 'ok') return this.#host.pass(env);
    if (v !== 'unknown') return this.#refuse(env, v);
    if (this.#waiting.size >= MAX_WAITING_BOXES) return this.#refuse(env, { reason: 'backlog', code: Codes.RATE_LIMITED, message: 'the head-end is looking up too many sessions' });
    this.#waiting.set(c.box, [env]);
    void this.#drain(c.box);
  }

  /** A session opened here: remember its owner without asking the registry. */
  remember(session: string, owner: SessionOwner): void {
    this.#owners.delete(session);
    if (this.#owners.size >= MAX_OWNERS) {
      const oldest = this.#owners.keys().next();
      if (!oldest.done) this.#owners.delete(oldest.value);
    }
    this.#owners.set(session, owner);
  }

  // The source is the box's own endpoint, or a module of a session it is known to own.
  #answerable(env: Envelope): boolean {
    const box = boxPrincipal(env);
    const src = env.src.vaddr;
    if (box === undefined || src === undefined) return false;
    if (boxOf(src) === box) return true;
    try {
      return this.#owner(parseVaddr(src).session)?.box === box;
    } catch {
      return false;
    }
  }

  #owner(session: string): SessionOwner | undefined {
    return this.#host.localOwner(session) ?? this.#owners.get(session);
  }

  // `final`: the registry was asked; a session still unknown is refused, not looked up.
  #verdict(c: OwnedCheck, final = false): Verdict {
    let unknown: OwnedCheck['sessions'][number] | undefined;
    for (const s of c.sessions) {
      const o = this.#owner(s.session);
      if (o === undefined) unknown ??= s;
      else if (o.box !== c.box || o.app !== s.app) return notOwned(s);
    }
    if (unknown === undefined) return 'ok';
    return final ? noSession(unknown) : 'unknown';
  }

  // Envelopes of one box, in arrival order, each after the lookups it needs.
  async #drain(box: string): Promise<void> {
    const queue = this.#waiting.get(box) as Envelope[];
    try {
      await this.#drainQueue(queue);
    } finally {
      this.#waiting.delete(box);
    }
  }

  async #drainQueue(queue: Envelope[]): Promise<void> {
    while (queue.length > 0) {
      const env = queue[0] as Envelope;
      const c = classifyFromBox(env);
      if (!('reason' in c)) {
        for (const s of c.sessions) {
          if (this.#owner(s.session) !== undefined) continue;
          const rec = await this.#host.lookup(s.session).catch(() => undefined);
          if (rec !== undefined) this.remember(s.session, rec);
        }
      }
      queue.shift();
      const v = 'reason' in c ? c : this.#verdict(c, true);
      if (v === 'ok') this.#host.pass(env);
      else if (v !== 'unknown') this.#refuse(env, v);
    }
  }

  #refuse(env: Envelope, r: Refusal): void {
    this.refusals.refused(boxPrincipal(env), r, env);
    // Never answer a stranger, nor to an address not proven to be the sender's own.
    if (env.kind !== 'req' && env.kind !== 'ctl') return;
    if (r.reason === 'unauthenticated' || r.reason === 'spoofed-source' || !this.#answerable(env)) return;
    const reply: Envelope = { v: 1, kind: 'err', id: 0, corr: env.id, src: { vaddr: env.dst.vaddr as string }, dst: env.src, body: { code: r.code, message: r.message, data: { reason: r.reason } } };
    if (env.op !== undefined) reply.op = env.op;
    this.#host.reply(reply);
  }
}

function notOwned(s: OwnedCheck['sessions'][number]): Refusal {
  if (s.source) return { reason: 'spoofed-source', code: Codes.FORBIDDEN, message: `sent from session ${s.session}, which is not this box's` };
  return { reason: 'other-session', code: Codes.FORBIDDEN, message: `session ${s.session} is not this box's` };
}

// After the lookups: a source nobody opened is spoofed (not answered); a destination is unknown.
function noSession(s: OwnedCheck['sessions'][number]): Refusal {
  if (s.source) return { reason: 'spoofed-source', code: Codes.FORBIDDEN, message: `sent from session ${s.session}, which nobody opened` };
  return { reason: 'no-session', code: Codes.NO_SESSION, message: `no session ${s.session}: open one first` };
}
