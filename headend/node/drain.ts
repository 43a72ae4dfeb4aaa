// Graceful drain of one node: stop taking new work, move every portion instance it hosts (with
// its state, through the live migration path, node/migration.ts) to other nodes at a rate cap,
// then leave the cluster so the process can exit. Sees its node only through DrainHost; owns
// the drain's state and progress (shown by the console and /metrics), never a portion itself.

import { ArgumentError, Codes, RemoteError, rejectUnknown, type Clock, type Result } from '../../runtime/index.ts';
import type { PlacementPolicy } from '../../policy/index.ts';
import type { PortionManager } from '../portions/portions.ts';
import type { Registry } from '../registry/registry.ts';
import type { StatisticsProcess } from '../stats/statistics-process.ts';
import type { DispatchTable } from './table.ts';

/** `serving`: normal. `draining`: moving instances away. `drained`: nothing left here, still a member. `left`: out of the cluster. `stuck`: some instances could not move; the node keeps serving them. */
export type DrainState = 'serving' | 'draining' | 'drained' | 'left' | 'stuck';

export interface DrainProgress {
  state: DrainState;
  /** Instances to move when the drain began (and found later). */
  total: number;
  moved: number;
  /** Move attempts that failed (each is retried, up to `attempts`). */
  failed: number;
  /** Instances still here. */
  remaining: number;
  /** Moves per second at most. */
  ratePerS: number;
  startedAt?: number;
  finishedAt?: number;
  /** The last failure, for the operator. */
  lastError?: string;
}

export interface DrainOptions {
  /** Moves per second at most (each move holds its instance's traffic briefly). Default 20. */
  ratePerS?: number;
  /** Leave the cluster once drained. Default true. */
  leave?: boolean;
  /** Tries per instance before the drain gives up on it. Default 3. */
  attempts?: number;
}

const DRAIN_OPTIONS = ['ratePerS', 'leave', 'attempts'];

/** The `stat` a leaving node sends its peers, body `{node}`: they forget it at once instead of declaring it dead. */
export const DRAIN_OPS = {
  leave: 'member.leave',
  /** A control request from a peer (its console acting for an operator): body DrainOptions; the answer is the progress. */
  drain: 'node.drain',
} as const;
const DEFAULT_RATE = 20;
const MAX_RATE = 10_000;
const DEFAULT_ATTEMPTS = 3;
/** A drain sweeps the node at most this often for instances that arrived meanwhile. */
const MAX_SWEEPS = 10;

/** What a drain needs of its node (HeadendNode satisfies it through a small adapter). */
export interface DrainHost {
  readonly id: string;
  readonly clock: Clock;
  /** Instance ids hosted here now. */
  instances(): string[];
  /** The app and session of an instance (undefined: gone meanwhile). */
  specOf(iid: string): { app: string; session: string } | undefined;
  /** A node to move an instance of `app` to, never this one; undefined when none can take it. */
  target(app: string, exclude: readonly string[]): string | undefined;
  /** Live migration (node/migration.ts). */
  move(iid: string, to: string): Promise<Result<string, Error>>;
  /** The session's record follows its portion, so closes and re-placement find the new host. */
  recordMoved(session: string, to: string): Promise<void>;
  /** Leave the cluster: stop reports and heartbeats, drop the member record, tell the peers. */
  leave(): Promise<void>;
  log(line: string): void;
}

export class Drain {
  readonly #host: DrainHost;
  #progress: DrainProgress = { state: 'serving', total: 0, moved: 0, failed: 0, remaining: 0, ratePerS: DEFAULT_RATE };
  #running: Promise<DrainProgress> | undefined;
  readonly #listeners = new Set<(p: DrainProgress) => void>();

  constructor(host: DrainHost) {
    this.#host = host;
  }

  /** True from the start of a drain on: the node takes no new sessions or portions. */
  get active(): boolean {
    return this.#progress.state !== 'serving';
  }

  get progress(): DrainProgress {
    return { ...this.#progress, remaining: this.#progress.state === 'serving' ? 0 : this.#host.instances().length };
  }

  /** Called on every change of progress (the console's live view, tests). */
  onProgress(fn: (p: DrainProgress) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Start draining (or join the drain in progress); resolves when it ends (drained, left or stuck). */
  start(o: DrainOptions = {}): Promise<DrainProgress> {
    rejectUnknown('drain', o, DRAIN_OPTIONS);
    const rate = o.ratePerS ?? DEFAULT_RATE;
    if (typeof rate !== 'number' || !Number.isFinite(rate) || rate <= 0 || rate > MAX_RATE) throw new ArgumentError(`drain: ratePerS must be a number in (0, ${MAX_RATE}]`, 'ratePerS');
    const attempts = o.attempts ?? DEFAULT_ATTEMPTS;
    if (!Number.isInteger(attempts) || attempts < 1 || attempts > 100) throw new ArgumentError('drain: attempts must be an integer in 1..100', 'attempts');
    if (o.leave !== undefined && typeof o.leave !== 'boolean') throw new ArgumentError('drain: leave must be true or false', 'leave');
    if (this.#running !== undefined) return this.#running;
    this.#progress = { state: 'draining', total: this.#host.instances().length, moved: 0, failed: 0, remaining: 0, ratePerS: rate, startedAt: this.#host.clock.now() };
    this.#emit();
    this.#running = this.#run(rate, attempts, o.leave ?? true);
    return this.#running;
  }

  async #run(rate: number, attempts: number, leave: boolean): Promise<DrainProgress> {
    const h = this.#host;
    const gaveUp = new Set<string>();
    const seen = new Set<string>();
    // Instances may still arrive while the peers learn of the drain (a start already in flight):
    // sweep again until a sweep finds nothing new.
    for (let sweep = 0; sweep < MAX_SWEEPS; sweep++) {
      const todo = h.instances().filter((iid) => !gaveUp.has(iid));
      if (todo.length === 0) break;
      for (const iid of todo) seen.add(iid);
      this.#progress.total = Math.max(this.#progress.total, seen.size);
      for (const iid of todo) {
        if (!(await this.#moveOne(iid, attempts))) gaveUp.add(iid);
        this.#emit();
        await this.#pace(rate);
      }
    }
    const left = h.instances().length;
    if (left > 0) {
      this.#progress.state = 'stuck';
      h.log(`drain of ${h.id}: ${left} instance(s) could not move (${this.#progress.lastError ?? 'no target'}); the node keeps serving them`);
    } else if (leave) {
      await h.leave();
      this.#progress.state = 'left';
    } else this.#progress.state = 'drained';
    this.#progress.finishedAt = h.clock.now();
    this.#emit();
    return this.progress;
  }

  // One instance: up to `attempts` tries, each to the node the policy picks (a failed target is
  // excluded next time). True when it moved (or was gone already).
  async #moveOne(iid: string, attempts: number): Promise<boolean> {
    const h = this.#host;
    const tried: string[] = [h.id];
    for (let i = 0; i < attempts; i++) {
      const spec = h.specOf(iid);
      if (spec === undefined) return true;
      const to = h.target(spec.app, tried) ?? (tried.length > 1 ? h.target(spec.app, [h.id]) : undefined);
      if (to === undefined) {
        this.#failed(`no node can take ${spec.app}/${spec.session}`);
        return false;
      }
      const r = await h.move(iid, to);
      if (r.ok) {
        this.#progress.moved++;
        await h.recordMoved(spec.session, r.value).catch((e: unknown) => h.log(`drain: session ${spec.session} record: ${(e as Error).message}`));
        return true;
      }
      tried.push(to);
      this.#failed(`${spec.app}/${spec.session} to ${to}: ${r.error.message}`);
    }
    return false;
  }

  #failed(why: string): void {
    this.#progress.failed++;
    this.#progress.lastError = why;
    this.#host.log(`drain of ${this.#host.id}: ${why}`);
  }

  #pace(rate: number): Promise<void> {
    return new Promise((resolve) => this.#host.clock.setTimeout(resolve, 1000 / rate));
  }

  #emit(): void {
    const p = this.progress;
    for (const fn of this.#listeners) fn(p);
  }
}

export { DRAIN_OPTIONS };

/**
 * A peer asked this node to drain (control op `node.drain`, node-to-node only, under the cluster
 * MAC): checks the body as DrainOptions, starts the drain in the background and answers with the
 * progress so far; failures of the drain itself show in its progress, not in this answer.
 */
export function drainAsked(drain: Drain, body: unknown): DrainProgress {
  const o = body ?? {};
  if (typeof o !== 'object' || Array.isArray(o)) throw new RemoteError(Codes.BAD_REQUEST, 'node.drain: body must be a map of drain options');
  try {
    void drain.start(o as DrainOptions).catch(() => undefined);
  } catch (e) {
    throw new RemoteError(Codes.BAD_REQUEST, `node.drain: ${(e as Error).message}`);
  }
  return drain.progress;
}

/** The parts of a node a drain reads (HeadendNode has them all). */
export interface DrainNodeParts {
  readonly id: string;
  readonly clock: Clock;
  readonly table: DispatchTable;
  readonly portions: Pick<PortionManager, 'spec'>;
  readonly policy: PlacementPolicy;
  readonly statistics: Pick<StatisticsProcess, 'clusterView'>;
  readonly registry: Pick<Registry, 'getSession' | 'updateSession'>;
}

/**
 * A DrainHost over a node's parts; moving and leaving stay the node's. `leaveSteps` run in order:
 * no more box traffic, no reports or beats, no member record, then the notice to the peers.
 */
export function drainHost(n: DrainNodeParts, move: DrainHost['move'], leaveSteps: readonly (() => unknown)[], log: (line: string) => void): DrainHost {
  return {
    id: n.id,
    clock: n.clock,
    instances: () => [...new Set([...n.table.hosted.values()].flatMap((h) => h.iids))],
    specOf: (iid) => n.portions.spec(iid),
    target: (app, exclude) => {
      const r = n.policy.place(n.statistics.clusterView(), { app, cost: 1, exclude });
      return r.ok ? r.value.node : undefined;
    },
    move,
    recordMoved: async (session, to) => {
      const rec = await n.registry.getSession(session);
      if (rec !== undefined && rec.node === n.id) await n.registry.updateSession(session, { node: to }, rec.version);
    },
    leave: async () => {
      for (const step of leaveSteps) await step();
      log(`node ${n.id} drained and left the cluster`);
    },
    log,
  };
}
