// The parts of the app-wide manager (shared-app.ts) that are data, not behaviour: its options and
// their bounds, what it needs of its node, a writer's record, its counters, and the pure helpers
// (instance ids, reply keys, answers). No I/O here.

import type { Clock, Envelope, Result, UdpAddress } from '../../runtime/index.ts';
import { Codes, formatVaddr } from '../../runtime/index.ts';
import type { Manifest } from '../../runtime/app/index.ts';
import type { AppCatalog } from '../app-catalog.ts';
import type { DispatchTable } from '../node/table.ts';
import type { Registry } from '../registry/registry.ts';
import type { PortionSpec } from './portion-protocol.ts';
import type { PortionManager } from './portions.ts';
import type { Elastic } from './elastic.ts';
import type { DedupWindow } from './shared-dedup.ts';
import type { SharedCheckpoints } from './shared-checkpoint.ts';

export interface AppWideOptions {
  /** Checkpoint store. With one, each reply of the instance leaves only after a checkpoint that
   *  includes it (group commit), so a re-placed instance lost no acknowledged request. */
  checkpoints?: SharedCheckpoints;
  /** Duplicate window: entries and age, ms (shared-dedup.ts defaults). */
  dedupEntries?: number;
  dedupAgeMs?: number;
}

export const OPTIONS = ['checkpoints', 'dedupEntries', 'dedupAgeMs'];
/** Longest a checkpoint (snapshot and save) may hold replies back, ms; then they go, counted as a failure. */
export const CHECKPOINT_TIMEOUT_MS = 5000;
/** Duplicates waiting for one request still running; more are dropped (the sender retries). */
export const MAX_JOINED = 8;

/** What the app-wide manager needs of its node (HeadendNode). */
export interface AppWideHost {
  readonly id: string;
  readonly clock: Clock;
  readonly udpAddress: UdpAddress;
  readonly registry: Registry;
  readonly catalog: AppCatalog;
  readonly table: DispatchTable;
  readonly portions: Pick<PortionManager, 'start' | 'snapshot' | 'spec' | 'deliver'>;
  readonly elastic: Pick<Elastic, 'started' | 'leave' | 'group' | 'groups'>;
  makeSpec(app: string, session: string, modules: string[], states?: Record<string, Uint8Array>): Result<PortionSpec, Error>;
  /** Liveness of a peer as the timing process sees it (undefined: not heard yet). */
  isAlive(node: string): boolean | undefined;
  /** Does `node` have a member record (re-reading the registry when it is not known yet)? */
  isMember(node: string): Promise<boolean>;
  /** Stop an instance here without touching the registry (a writer that lost its claim). */
  stopInstance(iid: string): Promise<void>;
  /** Route an envelope (the node's dispatch). */
  send(env: Envelope): void;
  /** Hand an envelope with a UDP destination straight to the router (a forward to the writer's node). */
  sendUdp(env: Envelope): void;
  log(line: string): void;
}

export interface Pending {
  key: string;
  joined: Envelope[];
}

/** The app-wide instance this node runs as the one writer. */
export interface Writer {
  app: string;
  /** Its app-wide code (shared-versions.ts): its claim, checkpoint and duplicate window are this code's. */
  tag: string;
  /** Does it also answer at the untagged `weft://<app>/*\/<module>` (the live code's instance)? */
  alias: boolean;
  iid: string;
  modules: string[];
  window: DedupWindow;
  /** Requests running, by reply key (corr + reply address). */
  pending: Map<string, Pending>;
  byKey: Map<string, Pending>;
  /** Replies waiting for the checkpoint that includes them. */
  held: Envelope[];
  saving: boolean;
}

export interface AppWideCounters {
  started: number;
  restored: number;
  takenOver: number;
  /** Requests a thread or replica of the instance sent on to the writer. */
  forwarded: number;
  duplicates: number;
  checkpoints: number;
  checkpointFailures: number;
  /** Writers here that found their claim taken (they had been judged dead): stopped, their traffic forwarded. */
  demoted: number;
  /** Replies not sent because the claim had moved (their senders retry at the new writer). */
  withheld: number;
  /** Instances of a code that is not live stopped here because no session pins it any more (issue 15.6). */
  retired: number;
  /** Session requests for a version this node does not serve (not routed; the sender retries). */
  unserved: number;
  /** Live changes (commit, rollback) after which a writer here took the untagged address and led its elastic group (shared-live.ts). */
  liveJoined: number;
  /** Live changes after which a writer here gave them up (its extra threads and replicas retired), or a replica here of the old live code stopped. */
  liveLeft: number;
  /** Hand-overs that failed (the live code's instance did not start, the registry did not answer, its own group's threads did not stop): tried again at the next change. */
  liveFailed: number;
  /** Instances of a code that is not live started here leading the elastic group of their tagged address (D102). */
  candidateLed: number;
  /** Such groups ended because their instance became live and leads the untagged group instead (one set of threads and replicas, not two). */
  candidateMerged: number;
  /** Replicas here of a previous primary stopped because this node's writer of that code now leads the group (its claim came here). */
  replicaDropped: number;
}

/** The app-scope modules of a manifest, in manifest order. */
export function appWideModules(m: Manifest): string[] {
  return m.modules.filter((e) => e.scope === 'app').map((e) => e.name);
}

/** The stable id of an app's app-wide instance of one code (its checkpoint's name), the same on
 *  every node and across re-placements; without a tag, the id used before versions (read once). */
export function appWideInstanceId(app: string, tag?: string): string {
  return tag === undefined ? `${app}/*` : `${app}/*/${tag}`;
}

/** The writer's claim: its first module's tagged address. */
export function v0Of(w: Writer): string {
  return formatVaddr({ app: w.app, session: '*', module: w.modules[0] as string, instance: w.tag });
}

export function replyKey(id: number, to: Envelope['src']): string {
  return `${id}|${to.vaddr ?? ''}|${to.queue ?? ''}|${to.udp?.host ?? ''}:${to.udp?.port ?? ''}`;
}

export function answer(req: Envelope, kind: 'rep' | 'err', body: unknown, udp: UdpAddress, src?: Envelope['src']): Envelope {
  const out: Envelope = { v: 1, kind, id: 0, corr: req.id, src: src ?? { vaddr: req.dst.vaddr ?? '', udp }, dst: req.src, body };
  if (req.op !== undefined) out.op = req.op;
  return out;
}

export function isAppWide(m: Manifest | undefined, module: string): boolean {
  return m?.modules.find((e) => e.name === module)?.scope === 'app';
}

export async function bindOrMove(h: Pick<AppWideHost, 'registry'>, v: string, loc: { node: string; queue: string; udp: UdpAddress }): Promise<void> {
  const b = await h.registry.bind(v, loc);
  if (!b.ok && b.error.current !== undefined) await h.registry.move(v, loc, b.error.current.epoch);
}

/** Unbind what a writer holds: its tagged addresses, and the untagged ones if they are its. */
export async function releaseClaims(h: Pick<AppWideHost, 'registry' | 'id'>, w: Writer): Promise<void> {
  const vs = w.modules.flatMap((m) => [formatVaddr({ app: w.app, session: '*', module: m, instance: w.tag }), formatVaddr({ app: w.app, session: '*', module: m })]);
  for (const v of vs) {
    const rec = await h.registry.lookup(v).catch(() => undefined);
    if (rec !== undefined && rec.node === h.id && rec.queue === w.iid) await h.registry.unbind(v, rec.epoch).catch(() => undefined);
  }
}

/** A spec with `version`'s modules: the session `*` is pinned to it for the (synchronous) make. */
export function specFor(h: Pick<AppWideHost, 'catalog' | 'makeSpec'>, app: string, version: string, modules: string[]): Result<PortionSpec, Error> {
  const before = h.catalog.pinned('*');
  h.catalog.pin('*', app, version);
  try {
    return h.makeSpec(app, '*', modules);
  } finally {
    if (before === undefined) h.catalog.unpin('*');
    else h.catalog.pin('*', app, before);
  }
}

// [single writer] a thread or replica of the instance sends the request on to the writer of its
// code's queue, unchanged (same id and source), so the writer's window sees one request however it arrived.
export function forwardToWriter(h: AppWideHost, counters: AppWideCounters, to: { app: string; tag: string; module: string }, env: Envelope): void {
  const v = formatVaddr({ app: to.app, session: '*', module: to.module, instance: to.tag });
  counters.forwarded++;
  h.registry
    .lookup(v)
    .then((rec) => {
      if (rec === undefined || rec.queue === undefined || rec.node === h.id) throw new Error(`no writer for ${v}`);
      if (rec.udp === undefined) throw new Error(`no UDP pair for the writer of ${v}`);
      h.sendUdp({ ...env, dst: { vaddr: v, queue: rec.queue, udp: rec.udp } });
    })
    .catch((e: unknown) => {
      if (env.kind === 'req') h.send(answer(env, 'err', { code: Codes.UNAVAILABLE, message: `${(e as Error).message}: retry` }, h.udpAddress));
    });
}
