// One instance per (session, module) in the cluster [c31]: before a node starts a portion it
// claims the first module's virtual address in the registry, and the claim decides the one
// owner. A repeated start (a retry after a timeout, a second node asking) returns the instance
// that runs, here or elsewhere, and never starts a second copy. Registry writes and the
// bookkeeping of starts in flight only; the node runs the instance (StartHost.launch).

import { formatVaddr, ok, type Result, type UdpAddress } from '../../runtime/index.ts';
import type { DispatchTable } from '../node/table.ts';
import type { Location } from '../registry/registry.ts';
import { ours, type ClaimWrites } from './portion-claims.ts';
import type { PortionSpec } from './portion-protocol.ts';

/** A portion already runs: on `node` (this one or another) as instance `iid`. */
export class PortionOwned extends Error {
  override readonly name = 'PortionOwned';
  readonly node: string;
  readonly iid: string | undefined;
  constructor(vaddr: string, node: string, iid: string | undefined) {
    super(`${vaddr} already runs on node ${node}`);
    this.node = node;
    this.iid = iid;
  }
}

/** What one start needs of its node (HeadendNode satisfies it). */
export interface StartHost {
  readonly id: string;
  /** The node's held claims (portion-claims.ts), or a registry where nothing is held. */
  readonly registry: ClaimWrites;
  readonly udpAddress: UdpAddress;
  readonly table: DispatchTable;
  readonly portions: { start(spec: PortionSpec): Promise<Result<void, Error>> };
  readonly elastic: { started(iid: string, running: boolean, app: string, modules: readonly string[], role?: 'primary' | 'replica'): void };
  /** A fresh instance id and everything the worker needs. */
  makeSpec(app: string, session: string, modules: string[], states?: Record<string, Uint8Array>): Result<PortionSpec, Error>;
}

export interface StartCounters {
  started: number;
  /** Starts answered with the instance already running here (retries, duplicates). */
  joined: number;
  /** Starts refused because another node holds the claim. */
  ownedElsewhere: number;
  /** Claims taken over from a node named by the caller (migration, a dead node's sessions). */
  takenOver: number;
  /** Addresses of a started instance left unbound: their record kept changing under REST_ATTEMPTS binds. */
  restUnbound: number;
  /** Further addresses left in another node's name because this start's claim was no longer its own (a stalled start taken over). */
  restYielded: number;
}

/** Bind-or-move rounds for each further address of an instance before it is counted unbound. */
const REST_ATTEMPTS = 4;

export class PortionStarts {
  readonly #host: StartHost;
  readonly #inflight = new Map<string, Promise<Result<string, Error>>>();
  readonly counters: StartCounters = { started: 0, joined: 0, ownedElsewhere: 0, takenOver: 0, restUnbound: 0, restYielded: 0 };

  constructor(host: StartHost) {
    this.#host = host;
  }

  /**
   * Start `modules` of `app` for `session` here, once. `from`: the node whose claim may be taken
   * over (the source of a migration, a dead node); any other owner wins and the answer is a
   * PortionOwned error naming it. A start of the same portion already in flight is joined.
   */
  start(app: string, session: string, modules: string[], states?: Record<string, Uint8Array>, from?: string): Promise<Result<string, Error>> {
    const v0 = formatVaddr({ app, session, module: modules[0] ?? '' });
    const running = this.#inflight.get(v0);
    if (running !== undefined) {
      this.counters.joined++;
      return running;
    }
    const p = this.#start(v0, app, session, modules, states, from).finally(() => this.#inflight.delete(v0));
    this.#inflight.set(v0, p);
    return p;
  }

  /** The start in flight here whose claim is `vaddr` (settles when it ends), else undefined. */
  starting(vaddr: string): Promise<Result<string, Error>> | undefined {
    return this.#inflight.get(vaddr);
  }

  async #start(v0: string, app: string, session: string, modules: string[], states: Record<string, Uint8Array> | undefined, from: string | undefined): Promise<Result<string, Error>> {
    const h = this.#host;
    const here = h.table.hosted.get(v0)?.iids[0];
    // A shared portion ('*') grows by starting more instances here; a session's portion runs once.
    if (here !== undefined && session !== '*') {
      this.counters.joined++;
      return ok(here);
    }
    const spec = h.makeSpec(app, session, modules, states);
    if (!spec.ok) return spec;
    const loc = { node: h.id, queue: spec.value.iid, udp: h.udpAddress };
    const claim = await h.registry.bind(v0, loc);
    if (!claim.ok) {
      const cur = claim.error.current;
      const mine = cur === undefined || cur.node === h.id || cur.node === from || session === '*';
      const moved = mine && cur !== undefined ? await h.registry.move(v0, loc, cur.epoch) : undefined;
      if (moved === undefined || !moved.ok) {
        h.elastic.started(spec.value.iid, false, app, modules);
        const owner = moved !== undefined && !moved.ok ? moved.error.current : cur;
        this.counters.ownedElsewhere++;
        return { ok: false, error: new PortionOwned(v0, owner?.node ?? 'unknown', owner?.queue) };
      }
      if (cur !== undefined && cur.node !== h.id) this.counters.takenOver++;
    }
    const r = await this.#launch(spec.value);
    if (!r.ok) {
      // Give the claim back so another node may run it.
      const rec = await h.registry.lookup(v0);
      if (rec !== undefined && rec.node === h.id && rec.queue === spec.value.iid) await h.registry.unbind(v0, rec.epoch);
      return r;
    }
    this.counters.started++;
    return r;
  }

  // Run the instance, route its addresses here and bind the rest of them [c31].
  async #launch(spec: PortionSpec): Promise<Result<string, Error>> {
    const h = this.#host;
    const { iid, app, session, modules } = spec;
    const r = await h.portions.start(spec);
    h.elastic.started(iid, r.ok, app, modules, session === '*' ? 'primary' : undefined);
    if (!r.ok) return r;
    const loc = { node: h.id, queue: iid, udp: h.udpAddress };
    // A session portion's first address is its claim (claimed in #start); an app-wide one moves its claim between its own instances.
    const claim = session === '*' ? undefined : formatVaddr({ app, session, module: modules[0] ?? '' });
    for (const [i, m] of modules.entries()) {
      const v = formatVaddr({ app, session, module: m });
      h.table.host(v, m, iid);
      if (i !== 0) await this.#bindRest(v, loc, claim);
    }
    h.table.host(formatVaddr({ app, session, module: '_svc' }), '_svc', iid);
    return ok(iid);
  }

  /**
   * [c31] Bind a further address of a started instance. Another node's record, or another
   * instance's here (a stale one), is taken by move. A copy that lost the portion (a false death)
   * unbinds what it still holds: if that lands between the refused bind and the move, the move
   * finds no record and the address is bound again; a record that changed is read again.
   * Another node's record is moved only while `claim` (a session portion's first address) is
   * still this instance's: a start that stalled while another node took the portion over leaves
   * that node's addresses alone, and its own claim keeper stops the copy here.
   */
  async #bindRest(v: string, loc: Location, claim: string | undefined): Promise<void> {
    const h = this.#host;
    for (let attempt = 0; attempt < REST_ATTEMPTS; attempt++) {
      const bound = await h.registry.bind(v, loc);
      const cur = bound.ok ? undefined : bound.error.current;
      if (bound.ok || (cur !== undefined && ours(cur, loc))) return;
      if (cur === undefined) continue;
      if (claim !== undefined && cur.node !== loc.node && !(await this.#holds(claim, loc))) {
        this.counters.restYielded++;
        return;
      }
      const moved = await h.registry.move(v, loc, cur.epoch);
      if (moved.ok || (moved.error.current !== undefined && ours(moved.error.current, loc))) return;
    }
    this.counters.restUnbound++;
  }

  async #holds(claim: string, loc: Location): Promise<boolean> {
    const rec = await this.#host.registry.lookup(claim);
    return rec !== undefined && ours(rec, loc);
  }
}
