// A node's session records, kept true against a registry that can lose acknowledged writes (Redis
// Cluster's failover, docs/REGISTRY.md) [c31], as ClaimKeeper keeps its portion claims. A record
// is held by the node it names, while that node hosts the session: the node that wrote it so
// (a session.open placed here, a re-placement, a drain's target), or that heard of a write naming
// it for a session it hosts (read once). On a `reset`, and on any change to a held record, the
// record is read again: still naming this node, kept (its newer copy); gone while the session
// still runs here, written again from the copy, unless the change feed told of its deletion or
// the session no longer runs here (no zombie record); naming another node, let go. Without this
// a lost record stranded its running portion: `session.close` found nothing to stop, and a dead
// host's sessions were not re-placed (`listSessions({node})` missed them).

import type { NewSession, Registry, SessionRecord } from './registry/registry.ts';
import { defaultBackoff, retryCall, type RetryPolicy } from './registry/retry.ts';

export interface SessionRecordsHost {
  readonly id: string;
  /** The session's portion runs on this node (it counts here). */
  hosts(session: string): boolean;
  /** Wait before retry `attempt` (1, 2, ...) of a read or write the registry failed. */
  backoff?: (attempt: number) => Promise<void>;
}

export interface SessionRecordStats {
  /** Records held now. */
  held: number;
  /** Records read again after a change or a reset. */
  checked: number;
  /** Held records found gone (a failover lost the write) and written again. */
  rewritten: number;
  /** Held records let go: deleted on purpose, moved to another node, or no longer hosted here. */
  dropped: number;
  /** Registry calls that failed and were retried. */
  retries: number;
}

const MAX_ATTEMPTS = 30;

export class SessionRecords {
  /** The registry the node's components use: session writes go through the keeper. */
  readonly registry: Registry;
  readonly #inner: Registry;
  readonly #h: SessionRecordsHost;
  readonly #held = new Map<string, SessionRecord>();
  /** Held ids another writer deleted (the feed said so): gone on purpose, not lost. */
  readonly #removed = new Set<string>();
  readonly #checking = new Set<string>();
  readonly #again = new Set<string>();
  /** Ids this node is writing now: the feed's echo of its own write is not another writer's change. */
  readonly #writing = new Set<string>();
  readonly #stats = { checked: 0, rewritten: 0, dropped: 0, retries: 0 };
  readonly #unwatch: () => void;
  readonly #policy: RetryPolicy;
  #closed = false;

  constructor(inner: Registry, host: SessionRecordsHost) {
    this.#inner = inner;
    this.#h = host;
    this.#policy = { maxAttempts: MAX_ATTEMPTS, backoff: (a) => (host.backoff ?? defaultBackoff)(a), stopped: () => this.#closed, retried: () => void this.#stats.retries++ };
    this.registry = keptRegistry(inner, this);
    this.#unwatch = inner.watch((c) => {
      if (c.kind === 'reset') for (const id of this.#held.keys()) this.#check(id);
      else if (c.kind !== 'session' || this.#writing.has(c.id)) return;
      else if (this.#held.has(c.id)) {
        if (c.deleted) this.#removed.add(c.id);
        this.#check(c.id);
      } else if (!c.deleted && host.hosts(c.id)) this.#check(c.id); // another node wrote a record for a session run here
    });
  }

  get stats(): Readonly<SessionRecordStats> {
    return { held: this.#held.size, ...this.#stats };
  }

  /** The copy held of `id`, if this node holds it. */
  heldRecord(id: string): SessionRecord | undefined {
    return this.#held.get(id);
  }

  /** Resolves once no check started so far is in flight. */
  async settled(): Promise<void> {
    while (this.#checking.size > 0) await new Promise((r) => setImmediate(r));
  }

  close(): void {
    this.#closed = true;
    this.#unwatch();
    this.#held.clear();
    this.#removed.clear();
  }

  /** `write` of session `id` by this node; its record, once written, held while it names this node. */
  async write<T extends { ok: boolean; value?: SessionRecord }>(id: string, write: () => Promise<T>): Promise<T> {
    this.#writing.add(id);
    try {
      const r = await write();
      if (r.ok && r.value !== undefined && !this.#closed) {
        if (r.value.node === this.#h.id) this.#held.set(id, r.value);
        else this.#let(id);
      }
      return r;
    } finally {
      this.#writing.delete(id);
    }
  }

  /** This node deletes `id`: let go first, so the feed's deletion is not taken as a loss. */
  deleting(id: string): void {
    this.#let(id);
  }

  #let(id: string): void {
    if (this.#held.delete(id)) this.#stats.dropped++;
    this.#removed.delete(id);
  }

  #check(id: string): void {
    if (this.#closed) return;
    if (this.#checking.has(id)) {
      this.#again.add(id); // a change arrived during the read: read once more after it
      return;
    }
    this.#checking.add(id);
    this.#stats.checked++;
    void this.#verify(id)
      .catch(() => undefined)
      .finally(() => {
        this.#checking.delete(id);
        if (this.#again.delete(id)) this.#check(id);
      });
  }

  async #verify(id: string): Promise<void> {
    const rec = await this.#retry(() => this.#inner.getSession(id));
    if (rec === null || this.#closed) return; // unreadable: keep the copy, the next change or reset reads again
    const held = this.#held.get(id);
    if (rec !== undefined) {
      if (rec.node === this.#h.id) this.#held.set(id, rec);
      else if (held !== undefined) this.#let(id);
      return;
    }
    if (held === undefined) return;
    if (this.#removed.has(id) || !this.#h.hosts(id)) return this.#let(id);
    // [c31] gone while its portion runs here: a write the failover lost. Write it again from the copy.
    this.#writing.add(id);
    const again = await this.#retry(() => this.#inner.createSession(newSession(held))).finally(() => this.#writing.delete(id));
    if (again === null || this.#closed || this.#held.get(id) !== held) return;
    if (again.ok) {
      this.#stats.rewritten++;
      this.#held.set(id, again.value);
    } else this.#check(id); // another writer was first: read what it wrote
  }

  /** `fn`, retried after a backoff while it throws; null after MAX_ATTEMPTS tries (registry/retry.ts). */
  #retry<T>(fn: () => Promise<T>): Promise<T | null> {
    return retryCall(fn, this.#policy);
  }
}

function newSession(r: SessionRecord): NewSession {
  const s: NewSession = { id: r.id, app: r.app, box: r.box, node: r.node, placements: r.placements };
  if (r.appVersion !== undefined) s.appVersion = r.appVersion;
  if (r.switchId !== undefined) s.switchId = r.switchId; // [D99] the box's order survives a lost write
  return s;
}

/** `inner` with its session writes told to `keeper`; everything else is `inner`'s own. */
function keptRegistry(inner: Registry, keeper: SessionRecords): Registry {
  const own: Partial<Registry> = {
    createSession: (s) => keeper.write(s.id, () => inner.createSession(s)),
    updateSession: (id, patch, expectedVersion) => keeper.write(id, () => inner.updateSession(id, patch, expectedVersion)),
    deleteSession(id) {
      keeper.deleting(id);
      return inner.deleteSession(id);
    },
  };
  return new Proxy(inner, {
    get(target, key) {
      if (Object.hasOwn(own, key)) return own[key as keyof Registry];
      const v: unknown = Reflect.get(target, key);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
