// What a box may reach through the MQTT ingress (docs/SECURITY.md). Endpoints are classed
// box-facing or node-internal: a box reaches the session ingress (open/close), module downloads,
// its own resource reports and the portions of sessions it owns, never node control, node
// statistics, shared portions, another box or another box's session. Identity is the
// broker-authenticated box id the ingress stamped (`ext.by`), never a body field. Every refusal
// is typed, counted and logged at most once per box per minute. Pure over an injected clock.

import { HEADEND_APP, BOX_APP, boxOf } from '../../transport/mqtt-topics.ts';
import { BOX_PRINCIPAL } from '../../transport/mqtt-routing.ts';
import { Codes, SessionOps, parseVaddr, type Clock, type Envelope, type VirtualAddress } from '../../runtime/index.ts';
import { Endpoint } from './endpoints.ts';

/** A refusal is logged at most this often per box. */
export const REFUSAL_LOG_EVERY_MS = 60_000;
/** Boxes whose last log time is remembered (oldest forgotten first). */
const MAX_LOGGED_BOXES = 10_000;

export type RefusalReason = 'unauthenticated' | 'spoofed-source' | 'node-internal' | 'operation' | 'shared-portion' | 'other-box' | 'other-session' | 'no-session' | 'bad-address' | 'backlog';

export interface Refusal {
  reason: RefusalReason;
  code: number;
  message: string;
}

/** The box behind an envelope's `ext.by`, or undefined when it names no box. */
export function boxPrincipal(env: Envelope): string | undefined {
  const by = env.ext?.by;
  return by !== undefined && by.startsWith(BOX_PRINCIPAL) ? by.slice(BOX_PRINCIPAL.length) : undefined;
}

/** Sessions whose owner must be the sending box before its envelope is dispatched. */
export interface OwnedCheck {
  box: string;
  /** `source`: the session of the sending address (a mismatch there is a spoofed source, never answered). */
  sessions: { app: string; session: string; source: boolean }[];
}

/** Box-facing endpoints (module name on `weft://headend/<node or *>/`) and the ops each takes. */
const BOX_FACING: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  [Endpoint.sessions, new Set<string>([SessionOps.open, SessionOps.close])],
  [Endpoint.modules, new Set<string>([SessionOps.moduleGet])],
  [Endpoint.stats, new Set<string>([SessionOps.report])],
]);

function refusal(reason: RefusalReason, message: string, code: number = Codes.FORBIDDEN): Refusal {
  return { reason, code, message };
}

function parse(vaddr: string | undefined): VirtualAddress | undefined {
  if (vaddr === undefined) return undefined;
  try {
    return parseVaddr(vaddr);
  } catch {
    return undefined;
  }
}

/**
 * Class one envelope from a box: a Refusal, or the sessions (of its source and destination)
 * the box must own. Synchronous and pure: ownership is checked by the caller.
 */
export function classifyFromBox(env: Envelope): Refusal | OwnedCheck {
  const box = boxPrincipal(env);
  if (box === undefined) return refusal('unauthenticated', 'no authenticated box on this envelope', Codes.UNAUTHENTICATED);
  const dst = parse(env.dst.vaddr);
  const src = parse(env.src.vaddr);
  if (dst === undefined || src === undefined) return refusal('bad-address', 'box envelopes are addressed by virtual address');
  const sessions: OwnedCheck['sessions'] = [];
  // The source is the box's own endpoint or a module of a session it owns: replies go there.
  if (src.app === BOX_APP ? boxOf(env.src.vaddr as string) !== box : src.app === HEADEND_APP || src.session === '*') {
    return refusal('spoofed-source', 'a box speaks only from its own addresses');
  }
  if (src.app !== BOX_APP) sessions.push({ app: src.app, session: src.session, source: true });
  if (dst.app === HEADEND_APP) {
    const ops = BOX_FACING.get(dst.module);
    if (ops === undefined || dst.instance !== undefined) return refusal('node-internal', `${dst.module} is not a box-facing endpoint`);
    if (env.op === undefined || !ops.has(env.op)) return refusal('operation', `operation "${env.op ?? ''}" is not open to boxes on ${dst.module}`);
    return { box, sessions };
  }
  if (dst.app === BOX_APP) return refusal('other-box', 'boxes do not reach other boxes through the head-end');
  if (dst.session === '*') return refusal('shared-portion', 'shared portions are reached by server portions, not boxes');
  if (!(dst.app === src.app && dst.session === src.session)) sessions.push({ app: dst.app, session: dst.session, source: false });
  return { box, sessions };
}

/** Counts refusals by reason and logs each box at most once per REFUSAL_LOG_EVERY_MS. */
export class RefusalLog {
  readonly counts: Record<RefusalReason, number> = {
    unauthenticated: 0,
    'spoofed-source': 0,
    'node-internal': 0,
    operation: 0,
    'shared-portion': 0,
    'other-box': 0,
    'other-session': 0,
    'no-session': 0,
    'bad-address': 0,
    backlog: 0,
  };
  readonly #clock: Clock;
  readonly #log: (line: string) => void;
  readonly #last = new Map<string, number>();

  constructor(clock: Clock, log: (line: string) => void) {
    this.#clock = clock;
    this.#log = log;
  }

  get total(): number {
    return Object.values(this.counts).reduce((a, b) => a + b, 0);
  }

  refused(box: string | undefined, r: Refusal, env: Envelope): void {
    this.counts[r.reason]++;
    const key = box ?? '?';
    const now = this.#clock.now();
    const last = this.#last.get(key);
    if (last !== undefined && now - last < REFUSAL_LOG_EVERY_MS) return;
    this.#last.delete(key);
    if (this.#last.size >= MAX_LOGGED_BOXES) {
      const oldest = this.#last.keys().next();
      if (!oldest.done) this.#last.delete(oldest.value);
    }
    this.#last.set(key, now);
    this.#log(`refused box ${key}: ${r.reason}: ${r.message} (${env.op ?? env.kind} to ${env.dst.vaddr ?? '?'}); more from this box within a minute are only counted`);
  }
}
