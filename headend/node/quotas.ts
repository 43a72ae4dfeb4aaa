// Per-box quotas of a head-end node (docs/SECURITY.md, "quotas"): how many sessions one box may
// hold, how fast it may download modules, and the bounds of every per-box and per-session map the
// node keeps, so one box (or many) cannot make the node hold without limit. Options and checks
// only; the session manager applies them.

import { ArgumentError, Codes, RemoteError, rejectUnknown, positiveInt, nonNegative } from '../../runtime/index.ts';
import type { RateLimit } from '../../transport/mqtt-ingress.ts';
import { type AdmissionOptions, DEFAULT_ADMISSION, resolveAdmission } from '../admission.ts';

export interface BoxQuotas {
  /** Sessions one box may hold open through this node. Default 16: a box runs a few apps at once, each one session. */
  sessionsPerBox?: number;
  /** Sessions this node holds in all; bounds every per-session and per-box map. Default 100,000. */
  sessions?: number;
  /** `module.get` per box: sustained per second and burst. Default 2/s, burst 32 (a few sessions' modules at once). */
  downloads?: RateLimit;
  /** Boxes whose download rate is remembered (oldest forgotten first). Default 100,000. */
  boxes?: number;
  /** Session setups in flight: past them an open is answered QUOTA (`setups`) at once [issue 19.6]; headend/admission.ts. */
  setups?: AdmissionOptions;
  /** A session its box has not confirmed (client-started) this long after the open is ended, ms (session-late.ts). Default 60,000. */
  unconfirmedMs?: number;
}

export type ResolvedQuotas = Required<BoxQuotas>;

export const DEFAULT_QUOTAS: ResolvedQuotas = {
  sessionsPerBox: 16,
  sessions: 100_000,
  downloads: { perSec: 2, burst: 32 },
  boxes: 100_000,
  setups: DEFAULT_ADMISSION,
  unconfirmedMs: 60_000,
};

const KEYS = ['sessionsPerBox', 'sessions', 'downloads', 'boxes', 'setups', 'unconfirmedMs'];
const W = 'HeadendNode quotas';

/** Validate quotas and fill the defaults; throws ArgumentError naming the bad option. */
export function resolveQuotas(q: BoxQuotas | undefined): ResolvedQuotas {
  if (q === undefined) return DEFAULT_QUOTAS;
  if (q === null || typeof q !== 'object') throw new ArgumentError(`${W} must be an object`, 'quotas');
  rejectUnknown(W, q, KEYS);
  const sessions = positiveInt(W, 'sessions', q.sessions ?? DEFAULT_QUOTAS.sessions);
  const sessionsPerBox = positiveInt(W, 'sessionsPerBox', q.sessionsPerBox ?? DEFAULT_QUOTAS.sessionsPerBox);
  if (sessionsPerBox > sessions) throw new ArgumentError(`${W}: sessionsPerBox (${sessionsPerBox}) is more than sessions (${sessions})`, 'sessionsPerBox');
  const d = q.downloads ?? DEFAULT_QUOTAS.downloads;
  rejectUnknown(`${W}.downloads`, d, ['perSec', 'burst']);
  const downloads = { perSec: nonNegative(W, 'downloads.perSec', d.perSec), burst: positiveInt(W, 'downloads.burst', d.burst) };
  const unconfirmedMs = positiveInt(W, 'unconfirmedMs', q.unconfirmedMs ?? DEFAULT_QUOTAS.unconfirmedMs);
  return { sessionsPerBox, sessions, downloads, boxes: positiveInt(W, 'boxes', q.boxes ?? DEFAULT_QUOTAS.boxes), setups: resolveAdmission(q.setups), unconfirmedMs };
}

/** A refusal for being over quota `quota` (docs/PROTOCOL.md: code QUOTA, data.quota names it). */
export function quotaError(quota: 'sessions' | 'node-sessions' | 'downloads', message: string, limit: number): RemoteError {
  return new RemoteError(Codes.QUOTA, message, { quota, limit });
}

/**
 * The sessions each box holds through this node: the one per-box index, bounded by the node's
 * session quota. A place is reserved before any await so concurrent opens cannot overshoot;
 * when a box is at its quota, its opened sessions are checked against the registry (another node
 * may have closed them) before the open is refused.
 */
export class SessionQuota {
  readonly #q: ResolvedQuotas;
  readonly #exists: (session: string) => Promise<boolean>;
  /** box -> session -> opened (false while the open is still in progress). */
  readonly #byBox = new Map<string, Map<string, boolean>>();
  readonly #pruning = new Map<string, Promise<void>>();
  #held = 0;

  constructor(q: ResolvedQuotas, exists: (session: string) => Promise<boolean>) {
    this.#q = q;
    this.#exists = exists;
  }

  /** Sessions held (reserved or open). */
  get held(): number {
    return this.#held;
  }

  /** Boxes with at least one session. */
  get boxes(): number {
    return this.#byBox.size;
  }

  /** Reserve a place for `session` of `box`; throws RemoteError QUOTA when there is none. */
  async reserve(box: string, session: string): Promise<void> {
    if ((this.#byBox.get(box)?.size ?? 0) >= this.#q.sessionsPerBox) await this.#prune(box);
    if (this.#held >= this.#q.sessions) throw quotaError('node-sessions', 'this node holds as many sessions as it may', this.#q.sessions);
    const mine = this.#byBox.get(box) ?? new Map<string, boolean>();
    if (mine.size >= this.#q.sessionsPerBox) throw quotaError('sessions', `box ${box} holds ${mine.size} sessions, its quota`, this.#q.sessionsPerBox);
    mine.set(session, false);
    this.#byBox.set(box, mine);
    this.#held++;
  }

  /** The reserved session is open (its record exists). */
  opened(box: string, session: string): void {
    const mine = this.#byBox.get(box);
    if (mine?.has(session) === true) mine.set(session, true);
  }

  /** The session closed, or its open failed: its place is free. */
  release(box: string, session: string): void {
    const mine = this.#byBox.get(box);
    if (mine === undefined || !mine.delete(session)) return;
    this.#held--;
    if (mine.size === 0) this.#byBox.delete(box);
  }

  /** Free the places of opened sessions the registry no longer has (one check at a time per box). */
  #prune(box: string): Promise<void> {
    let p = this.#pruning.get(box);
    if (p === undefined) {
      p = (async () => {
        const opened = [...(this.#byBox.get(box) ?? [])].filter(([, open]) => open).map(([s]) => s);
        for (const s of opened) if (!(await this.#exists(s).catch(() => true))) this.release(box, s);
      })().finally(() => this.#pruning.delete(box));
      this.#pruning.set(box, p);
    }
    return p;
  }
}
