// Durable portion state [issue 13.2]: checkpoints the snapshots of the portion instances this node
// owns to the registry, on change, at most every checkpointMs and within a byte budget; holds a
// sync module's replies until the checkpoint that covers them is written; restores a re-placed
// portion. Knows instances by iid (a session's portion or an app-wide one alike); never touches a
// worker (the PortionManager snapshots) and never decides placement.

import { createHash } from 'node:crypto';
import { formatVaddr, type Clock, type Envelope, type Result } from '../../runtime/index.ts';
import type { Durability } from '../../runtime/app/index.ts';
import type { Registry } from '../registry/registry.ts';
import { asError, ByteBudget, type CheckpointOptions, type CheckpointStats, emptyStats, isAnswer, resolveCheckpointOptions, type ResolvedCheckpointOptions, SyncCodes } from './checkpoint-options.ts';
import type { PortionObserver } from './portions.ts';
import { SNAPSHOT_BATCH } from './snapshot-batch.ts';

/** What the checkpointer needs of its node (HeadendNode wires it). */
export interface CheckpointHost {
  readonly id: string;
  readonly clock: Clock;
  readonly registry: Pick<Registry, 'lookup' | 'putCheckpoint' | 'getCheckpoint' | 'deleteCheckpoint'>;
  /** The instance's app, session (`*`: app-wide) and modules; undefined when it is not here. */
  spec(iid: string): { app: string; session: string; modules: readonly string[] } | undefined;
  /** A snapshot that keeps the worker's fair order; `queued`: envelopes not covered by it. */
  snapshot(iid: string): Promise<Result<{ states: Record<string, Uint8Array>; queued: number }, Error>>;
  /** The module's declared durability (absent in the manifest: interval). */
  durability(app: string, module: string): Durability;
  /** The latest a dead node can have been alive (its last heartbeat plus one interval), on this clock. */
  diedBy?(node: string): number | undefined;
  log(line: string): void;
}

interface Held {
  env: Envelope;
  send: (env: Envelope) => void;
  at: number;
}

interface Tracked {
  iid: string;
  app: string;
  session: string;
  modules: readonly string[];
  sync: boolean;
  /** Whether the registry points the instance's vaddrs here (only the owner writes: not a replica
   *  or an extra thread); `fenced`: it did, and a later owner took them over (a split brain). */
  owner: 'unknown' | 'yes' | 'no' | 'fenced';
  /** Location epoch of each module's vaddr while this instance owns it (the fencing token). */
  epochs: Map<string, number>;
  /** Hash of each module's last written bytes: an unchanged snapshot is not written again. */
  hashes: Map<string, string>;
  /** Bytes of the last snapshot: the budget is checked against it before the next one is taken. */
  lastBytes: number;
  seq: number;
  /** First change not yet checkpointed, on the clock; undefined when clean. */
  dirtySince: number | undefined;
  busy: boolean;
  /** A sync reply arrived while a checkpoint was being taken: take another when it ends. */
  again: boolean;
  held: Held[];
  warnedLarge: boolean;
}

/**
 * Instances checkpointed at once in one round: their snapshots are asked for in one turn, so each
 * thread gets them as one message (snapshot-batch.ts), and their registry writes overlap.
 */
const ROUND_BATCH = SNAPSHOT_BATCH;

export class Checkpointer implements PortionObserver {
  readonly options: ResolvedCheckpointOptions;
  readonly #host: CheckpointHost;
  readonly #budget: ByteBudget;
  readonly #tracked = new Map<string, Tracked>();
  readonly #dirty = new Set<Tracked>();
  /** The tracked instances with a sync module: the only ones that hold replies. */
  readonly #sync = new Set<Tracked>();
  readonly #stats = emptyStats();
  #timer: ReturnType<Clock['setTimeout']> | undefined;
  #closed = false;

  constructor(host: CheckpointHost, options?: CheckpointOptions) {
    this.options = resolveCheckpointOptions(options);
    this.#host = host;
    this.#budget = new ByteBudget(this.options.budgetBytesPerSec, host.clock);
  }

  stats(): CheckpointStats {
    let held = 0;
    let oldest = Number.POSITIVE_INFINITY;
    for (const t of this.#sync) held += t.held.length;
    for (const t of this.#dirty) oldest = Math.min(oldest, t.dirtySince ?? oldest);
    return { ...this.#stats, held, windowMs: oldest === Number.POSITIVE_INFINITY ? 0 : this.#host.clock.now() - oldest };
  }

  // ---- PortionObserver: what the PortionManager tells us.

  /** An envelope reached the instance: its state may change. On change, not on a timer: an idle instance costs nothing. */
  delivered(iid: string): void {
    const t = this.#track(iid);
    if (t !== undefined) this.#mark(t);
  }

  out(iid: string, env: Envelope, send: (env: Envelope) => void): void {
    const t = isAnswer(env) ? this.#track(iid) : undefined;
    if (t === undefined) return send(env);
    // A handler may change state after an await and answer then: the answer marks it too.
    this.#mark(t);
    if (!t.sync || t.owner === 'no') return send(env);
    if (t.owner === 'fenced') return this.#syncError({ env, send, at: 0 }, SyncCodes.unavailable, `${t.app}/${t.session} runs on another node now; this answer was not made durable`);
    if (t.held.length >= this.options.maxHeld) return this.#syncError({ env, send, at: 0 }, SyncCodes.unavailable, `${this.options.maxHeld} replies of ${t.app}/${t.session} already wait for its checkpoint`);
    // [issue 13.2] sync: the reply waits for the checkpoint that covers it.
    t.held.push({ env, send, at: this.#host.clock.now() });
    this.#kick(t);
  }

  stopped(iid: string): void {
    const t = this.#tracked.get(iid);
    if (t === undefined) return;
    this.#tracked.delete(iid);
    this.#dirty.delete(t);
    this.#sync.delete(t);
    for (const h of t.held.splice(0)) this.#syncError(h, SyncCodes.unavailable, `${t.app}/${t.session}: the portion stopped before its checkpoint was written`);
  }

  // ---- Calls from the node: migration, a portion's end, re-placement, close.

  /**
   * [issue 13.2] The migration path: write `states` (the moving instance's snapshot, taken after
   * its requests drained) now, charged to the budget but never deferred. Also answers held sync
   * replies, which the snapshot covers. Gives the modules written.
   */
  async checkpointNow(iid: string, states: Record<string, Uint8Array>): Promise<Result<number, Error>> {
    const t = this.#track(iid);
    if (t === undefined) return { ok: false, error: new Error(`no instance ${iid} here`) };
    const covered = t.held.splice(0);
    if (!(await this.#owned(t))) {
      for (const h of covered) h.send(h.env);
      return { ok: false, error: new Error(`${iid} does not own its addresses in the registry`) };
    }
    const w = await this.#write(t, states, covered, true);
    if (w.ok) return w;
    if (w.error === 'retry') t.held.unshift(...covered); // answered as errors when the instance stops
    return { ok: false, error: new Error(`checkpoint of ${iid} on migration: ${w.error === 'retry' ? 'the registry write failed' : 'fenced by a later owner'}`) };
  }

  /** The portion ends for good (its session closed): its checkpoints go, unless a later owner wrote them. */
  async ended(iid: string): Promise<void> {
    const t = this.#tracked.get(iid);
    if (t === undefined || t.owner !== 'yes') return;
    this.stopped(iid);
    for (const [m, epoch] of t.epochs) {
      await this.#host.registry.deleteCheckpoint(this.#vaddr(t, m), epoch).catch((e: unknown) => {
        this.#stats.failed++;
        this.#host.log(`checkpoint of ${this.#vaddr(t, m)} not deleted: ${(e as Error).message}`);
      });
    }
  }

  /**
   * [issue 13.2] The states to start a re-placed portion with: each module's last checkpoint.
   * `from`: the dead node; from its checkpoint to the latest the node can have lived is the loss
   * window counted for interval modules (an upper bound: <= checkpointMs + one heartbeat interval).
   * Any portion (a session's or app-wide, `*`) by app, session and modules.
   */
  async restore(app: string, session: string, modules: readonly string[], from?: string): Promise<Record<string, Uint8Array> | undefined> {
    const out: Record<string, Uint8Array> = {};
    for (const m of modules) {
      const vaddr = formatVaddr({ app, session, module: m });
      const rec = await this.#host.registry.getCheckpoint(vaddr).catch((e: unknown) => {
        this.#stats.failed++;
        this.#host.log(`restore of ${vaddr}: the registry did not answer (${(e as Error).message}); it starts without its state`);
        return undefined;
      });
      if (rec === undefined) continue;
      out[m] = rec.state;
      this.#stats.restored++;
      if (this.#host.durability(app, m) === 'sync') continue;
      const now = this.#host.clock.now();
      const deadAt = Math.min(now, (from === undefined ? undefined : this.#host.diedBy?.(from)) ?? now);
      const window = Math.max(0, deadAt - rec.writtenAt);
      this.#stats.lostWindowMs += window;
      this.#stats.lostWindowMaxMs = Math.max(this.#stats.lostWindowMaxMs, window);
    }
    return Object.keys(out).length === 0 ? undefined : out;
  }

  /** Checkpoint every changed instance now, without waiting for the timer (a drain, a bench). */
  flush(): Promise<void> {
    return this.#round();
  }

  /** Take the last round now (a graceful stop keeps what changed), then stop the timer. */
  async close(): Promise<void> {
    if (this.#closed) return;
    if (this.#timer !== undefined) this.#host.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#round();
    this.#closed = true;
    for (const t of [...this.#tracked.values()]) this.stopped(t.iid);
  }

  // ---- The rounds.

  #track(iid: string): Tracked | undefined {
    let t = this.#tracked.get(iid);
    if (t !== undefined || this.#closed) return t;
    const spec = this.#host.spec(iid);
    if (spec === undefined || spec.modules.length === 0) return undefined;
    const sync = spec.modules.some((m) => this.#host.durability(spec.app, m) === 'sync');
    t = { iid, app: spec.app, session: spec.session, modules: spec.modules, sync, owner: 'unknown', epochs: new Map(), hashes: new Map(), lastBytes: 0, seq: 0, dirtySince: undefined, busy: false, again: false, held: [], warnedLarge: false };
    this.#tracked.set(iid, t);
    if (sync) this.#sync.add(t);
    return t;
  }

  #mark(t: Tracked, since = this.#host.clock.now()): void {
    if (t.owner === 'no' || t.owner === 'fenced') return;
    t.dirtySince = Math.min(t.dirtySince ?? since, since);
    this.#dirty.add(t);
    this.#arm();
  }

  #arm(): void {
    if (this.#timer !== undefined || this.#closed || this.#dirty.size === 0) return;
    this.#timer = this.#host.clock.setTimeout(() => {
      this.#timer = undefined;
      void this.#round().finally(() => this.#arm());
    }, this.options.checkpointMs);
  }

  /** One round: the oldest changes first, a batch at a time; then sync replies that waited too long fail. */
  async #round(): Promise<void> {
    const due = [...this.#dirty].filter((t) => !t.busy).sort((a, b) => (a.dirtySince ?? 0) - (b.dirtySince ?? 0));
    for (let i = 0; i < due.length; i += ROUND_BATCH) await Promise.all(due.slice(i, i + ROUND_BATCH).map((t) => this.#flush(t)));
    const now = this.#host.clock.now();
    for (const t of this.#sync) {
      while (t.held.length > 0 && now - (t.held[0] as Held).at >= this.options.syncWaitMs) {
        this.#syncError(t.held.shift() as Held, SyncCodes.unavailable, `${t.app}/${t.session}: no checkpoint within ${this.options.syncWaitMs} ms (registry or budget): not made durable`);
      }
    }
  }

  /** A sync reply waits: checkpoint now, or right after the checkpoint being taken. */
  #kick(t: Tracked): void {
    if (t.busy) {
      t.again = true;
      return;
    }
    void this.#flush(t).then((ok) => {
      if (ok && t.again && t.held.length > 0 && this.#tracked.get(t.iid) === t) this.#kick(t);
    });
  }

  /** Checkpoint one instance if it changed; true when it ended clean (written, unchanged or not ours). */
  async #flush(t: Tracked): Promise<boolean> {
    if (t.busy) return false;
    t.busy = true;
    t.again = false;
    const since = t.dirtySince;
    t.dirtySince = undefined;
    this.#dirty.delete(t);
    const retry = (covered: Held[]): false => {
      t.held.unshift(...covered);
      if (this.#tracked.get(t.iid) === t) this.#mark(t, since);
      return false;
    };
    try {
      if (!(await this.#owned(t))) return t.owner === 'unknown' ? retry([]) : true;
      // The budget is checked against the last size before a snapshot is taken for nothing.
      if (!this.#budget.has(t.lastBytes)) {
        this.#stats.deferred++;
        return retry([]);
      }
      const snap = await this.#host.snapshot(t.iid);
      // Every answer that reached us before the snapshot came back is covered by it (the worker
      // posts in order: answer, then snapshot).
      const covered = t.held.splice(0);
      if (!snap.ok) {
        if (this.#host.spec(t.iid) === undefined) return true; // stopped meanwhile (stopped() answers)
        this.#stats.failed++;
        return retry(covered);
      }
      if (snap.value.queued > 0) this.#mark(t); // waiting envelopes are not in it: next round
      const w = await this.#write(t, snap.value.states, covered, false);
      if (!w.ok) return retry(w.error === 'retry' ? covered : []);
      return true;
    } finally {
      t.busy = false;
    }
  }

  /** Learn whether the registry points every vaddr of the instance at it, and their epochs (the fencing tokens). */
  async #owned(t: Tracked): Promise<boolean> {
    if (t.owner !== 'unknown') return t.owner === 'yes';
    const epochs = new Map<string, number>();
    for (const m of t.modules) {
      const rec = await this.#host.registry.lookup(this.#vaddr(t, m)).catch(() => undefined);
      if (rec === undefined) return false; // not bound yet, or the registry is away: next round
      if (rec.node !== this.#host.id || rec.queue !== t.iid) {
        t.owner = 'no'; // a replica, an extra thread, or an instance already replaced
        for (const h of t.held.splice(0)) h.send(h.env);
        return false;
      }
      epochs.set(m, rec.epoch);
      // An instance re-started here at the same epoch (a bind that found its own record) goes on
      // from the stored seq, or its writes would be refused as older.
      const stored = await this.#host.registry.getCheckpoint(this.#vaddr(t, m)).catch(() => undefined);
      if (stored !== undefined && stored.epoch === rec.epoch) t.seq = Math.max(t.seq, stored.seq);
    }
    t.epochs = epochs;
    t.owner = 'yes';
    return true;
  }

  /** Write the changed modules of a snapshot, then answer what it covers. */
  async #write(t: Tracked, states: Record<string, Uint8Array>, covered: Held[], now: boolean): Promise<Result<number, 'retry' | 'done'>> {
    const writes: { m: string; state: Uint8Array; hash: string }[] = [];
    let total = 0;
    let tooLarge: string | undefined;
    for (const m of t.modules) {
      const state = states[m];
      if (state === undefined) continue;
      total += state.byteLength;
      if (state.byteLength > this.options.maxCheckpointBytes) {
        tooLarge = `${this.#vaddr(t, m)}: snapshot of ${state.byteLength} bytes is over the ${this.options.maxCheckpointBytes}-byte checkpoint bound (maxCheckpointBytes); not checkpointed, a node death loses it`;
        this.#stats.refused++;
        if (!t.warnedLarge) this.#host.log(tooLarge);
        t.warnedLarge = true;
        continue;
      }
      const hash = createHash('sha1').update(state).digest('base64');
      if (t.hashes.get(m) !== hash) writes.push({ m, state, hash });
    }
    t.lastBytes = total;
    const bytes = writes.reduce((n, w) => n + w.state.byteLength, 0);
    if (writes.length === 0) this.#stats.unchanged++;
    else if (now) this.#budget.charge(bytes);
    else if (!this.#budget.take(bytes)) {
      this.#stats.deferred++;
      return { ok: false, error: 'retry' };
    }
    for (const w of writes) {
      const vaddr = this.#vaddr(t, w.m);
      const epoch = t.epochs.get(w.m) as number;
      const r = await this.#host.registry.putCheckpoint({ vaddr, node: this.#host.id, epoch, seq: ++t.seq, state: w.state }).catch((e: unknown) => e as Error);
      if (r instanceof Error) {
        this.#stats.failed++;
        this.#host.log(`checkpoint of ${vaddr} not written: ${r.message}; retried next round`);
        return { ok: false, error: 'retry' };
      }
      if (!r.ok) {
        // Fenced: the registry moved this vaddr to a later owner; this instance is stale.
        this.#stats.fenced++;
        t.owner = 'fenced';
        for (const h of covered) this.#syncError(h, SyncCodes.unavailable, `${vaddr} moved to node ${r.error.current?.node ?? '?'}; this answer was not made durable`);
        return { ok: false, error: 'done' };
      }
      t.hashes.set(w.m, w.hash);
      this.#stats.written++;
      this.#stats.bytes += w.state.byteLength;
    }
    for (const h of covered) {
      if (tooLarge === undefined) h.send(h.env);
      else this.#syncError(h, SyncCodes.tooLarge, tooLarge);
    }
    return { ok: true, value: writes.length };
  }

  #syncError(h: Held, code: number, message: string): void {
    this.#stats.syncErrors++;
    h.send(asError(h.env, code, message));
  }

  #vaddr(t: Tracked, module: string): string {
    return formatVaddr({ app: t.app, session: t.session, module });
  }
}
