// The duplicate window of an app-wide instance (issue 16): a request seen before is answered
// with the reply it got, not run again, so a retry after a fault or a request a replica forwarded
// counts once. Keys are chosen by the caller (shared-app.ts); bounded in entries, age and the
// bytes of replies kept. Pure over an injected clock; no I/O.

import type { Clock, Envelope } from '../../runtime/index.ts';

/** Entries kept at most (oldest dropped first). */
export const DEDUP_MAX_ENTRIES = 20_000;
/** How long a finished request is remembered, ms: longer than any retry schedule of a box. */
export const DEDUP_MAX_AGE_MS = 10 * 60_000;
/** A request still running after this long is forgotten (its instance was lost): a retry runs it again. */
export const DEDUP_MAX_PENDING_MS = 60_000;
/** A reply body longer than this (as JSON) is not kept; its duplicate is answered `{ duplicate: true }`. */
export const DEDUP_MAX_REPLY_CHARS = 4096;

/** A body field naming a request across retries a module makes itself (docs/APPS.md). */
const RID = /^[A-Za-z0-9_.:-]{1,64}$/;

/**
 * The key a request is known by in the window. A body `rid` (a module's own retry id) counts per
 * box, or per app for requests from the app's own portions; otherwise the envelope id per sender.
 */
export function dedupKey(app: string, env: Envelope): string {
  const by = env.ext?.by;
  const rid = (env.body as { rid?: unknown } | null | undefined)?.rid;
  if (typeof rid === 'string' && RID.test(rid)) return by?.startsWith('box:') === true ? `r|${by}|${rid}` : `r|app:${app}|${rid}`;
  const s = env.src;
  return `e|${by ?? ''}|${s.vaddr ?? ''}|${s.queue ?? ''}|${s.udp?.host ?? ''}:${s.udp?.port ?? ''}|${env.id}`;
}

export interface CachedReply {
  kind: 'rep' | 'err';
  /** JSON of the body; undefined when it was too long to keep. */
  json: string | undefined;
}

type Entry = { at: number; state: 'pending' } | { at: number; state: 'done'; reply: CachedReply };

export type Seen = { kind: 'new' } | { kind: 'pending' } | { kind: 'done'; reply: CachedReply };

export interface DedupStats {
  /** Requests run for the first time. */
  fresh: number;
  /** Duplicates answered from the window, and those dropped while the first was still running. */
  answered: number;
  joined: number;
  /** Entries dropped for age or count. */
  evicted: number;
}

/** One window entry in a snapshot: key, time, and the reply when finished. */
export type DedupRecord = [key: string, at: number, kind: 'rep' | 'err', json: string | null];

export class DedupWindow {
  readonly stats: DedupStats = { fresh: 0, answered: 0, joined: 0, evicted: 0 };
  readonly #clock: Clock;
  readonly #max: number;
  readonly #maxAgeMs: number;
  readonly #entries = new Map<string, Entry>();

  constructor(clock: Clock, max = DEDUP_MAX_ENTRIES, maxAgeMs = DEDUP_MAX_AGE_MS) {
    this.#clock = clock;
    this.#max = max;
    this.#maxAgeMs = maxAgeMs;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Is `key` new (then it is recorded as running), running, or finished with a reply? */
  see(key: string): Seen {
    this.#expire();
    const e = this.#entries.get(key);
    if (e === undefined) {
      this.stats.fresh++;
      this.#put(key, { at: this.#clock.now(), state: 'pending' });
      return { kind: 'new' };
    }
    if (e.state === 'pending') {
      this.stats.joined++;
      return { kind: 'pending' };
    }
    this.stats.answered++;
    return { kind: 'done', reply: e.reply };
  }

  /** The request under `key` was answered: keep the reply for its duplicates. */
  done(key: string, kind: 'rep' | 'err', body: unknown): void {
    let json: string | undefined;
    try {
      json = body === undefined ? 'null' : JSON.stringify(body);
    } catch {
      json = undefined;
    }
    if (json !== undefined && json.length > DEDUP_MAX_REPLY_CHARS) json = undefined;
    this.#entries.delete(key);
    this.#put(key, { at: this.#clock.now(), state: 'done', reply: { kind, json } });
  }

  /** A request that never got an answer (its instance failed): a retry may run it again. */
  forget(key: string): void {
    this.#entries.delete(key);
  }

  /** Finished entries, oldest first (what a checkpoint keeps). */
  records(): DedupRecord[] {
    const out: DedupRecord[] = [];
    for (const [k, e] of this.#entries) if (e.state === 'done') out.push([k, e.at, e.reply.kind, e.reply.json ?? null]);
    return out;
  }

  /** Restore finished entries from a checkpoint (bounded like any other). */
  restore(records: readonly DedupRecord[]): void {
    for (const r of records.slice(-this.#max)) {
      const [key, at, kind, json] = r;
      if (typeof key !== 'string' || typeof at !== 'number' || (kind !== 'rep' && kind !== 'err')) continue;
      this.#put(key, { at, state: 'done', reply: { kind, json: typeof json === 'string' ? json : undefined } });
    }
    this.#expire();
  }

  #put(key: string, e: Entry): void {
    this.#entries.set(key, e);
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
      this.stats.evicted++;
    }
  }

  #expire(): void {
    const now = this.#clock.now();
    const cut = now - Math.min(this.#maxAgeMs, DEDUP_MAX_PENDING_MS);
    for (const [k, e] of this.#entries) {
      if (e.at >= cut) break; // insertion order is time order
      if (e.state === 'pending' ? now - e.at < DEDUP_MAX_PENDING_MS : now - e.at < this.#maxAgeMs) continue;
      this.#entries.delete(k);
      this.stats.evicted++;
    }
  }
}
