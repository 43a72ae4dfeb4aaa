// The lifecycle of portion instances on one node [c14, c31]: build an instance's spec, start it
// in a worker, bind its virtual addresses in the registry and the dispatch table; stop it and
// unbind what nothing here serves any more. Decides no placement (session-manager.ts does).

import { Codes, RemoteError, formatVaddr, type Result, type UdpAddress } from '../../runtime/index.ts';
import type { TrustedKeyJson } from '../../runtime/app/index.ts';
import type { AppCatalog } from '../app-catalog.ts';
import type { Elastic } from '../portions/elastic.ts';
import { SERVICE_CLIENT, type PortionSpec } from '../portions/portion-protocol.ts';
import type { PortionManager } from '../portions/portions.ts';
import { ours, type ClaimWrites } from '../portions/portion-claims.ts';
import type { DispatchTable } from './table.ts';

export interface LifecycleHost {
  readonly id: string;
  readonly udpAddress: UdpAddress;
  /** The node's held claims (portions/portion-claims.ts). */
  readonly registry: ClaimWrites;
  readonly catalog: AppCatalog;
  readonly trusted: TrustedKeyJson[];
  readonly portions: PortionManager;
  readonly elastic: Elastic;
  readonly table: DispatchTable;
  /** Names of the services an instance may call. */
  serviceNames(): string[];
  /** The instance ends for good (not moved): its checkpoints go [issue 13.2]. */
  ended?(iid: string): Promise<void>;
  /** The instance stops here (however): the node's keeper lets go of its claims, unbinding nothing. */
  letGo?(iid: string): void;
}

export interface LifecycleLimits {
  memoryBytes: number | undefined;
  deadlineMs: number;
}

export class PortionLifecycle {
  readonly #host: LifecycleHost;
  readonly #limits: LifecycleLimits;
  #iid = 0;

  constructor(host: LifecycleHost, limits: LifecycleLimits) {
    this.#host = host;
    this.#limits = limits;
  }

  /** Start an instance of `modules` of an app for a session here; binds their virtual addresses [c31]. */
  async start(app: string, session: string, modules: string[], states?: Record<string, Uint8Array>): Promise<Result<string, Error>> {
    const h = this.#host;
    const spec = this.makeSpec(app, session, modules, states);
    if (!spec.ok) return spec;
    const iid = spec.value.iid;
    const r = await h.portions.start(spec.value);
    h.elastic.started(iid, r.ok, app, modules, session === '*' ? 'primary' : undefined);
    if (!r.ok) return r;
    const here = { node: h.id, queue: iid, udp: h.udpAddress };
    for (const m of modules) {
      const v = formatVaddr({ app, session, module: m });
      h.table.host(v, m, iid);
      const bound = await h.registry.bind(v, here);
      // Another node's record, or the old instance's here (a version upgrade): the new one takes it.
      if (!bound.ok && bound.error.current !== undefined && !ours(bound.error.current, here)) {
        await h.registry.move(v, here, bound.error.current.epoch);
      }
    }
    h.table.host(formatVaddr({ app, session, module: SERVICE_CLIENT }), SERVICE_CLIENT, iid);
    return { ok: true, value: iid };
  }

  /** What a worker needs to start one instance here: a fresh instance id, critical sections prepared [c20-c23]; `version`'s code when given. */
  makeSpec(app: string, session: string, modules: string[], states?: Record<string, Uint8Array>, version?: string): Result<PortionSpec, Error> {
    const h = this.#host;
    // [issue 15.6] the session's pinned version (its box runs it), never silently another one.
    const pub = version === undefined ? h.catalog.forSession(app, session) : h.catalog.get(app, version);
    const pinned = h.catalog.pinned(session);
    if (pub === undefined && pinned !== undefined && h.catalog.get(app) !== undefined) return { ok: false, error: new RemoteError(Codes.VERSION_MISMATCH, `node ${h.id} does not serve ${app} ${pinned}`, { app, version: pinned }) };
    if (pub === undefined) return { ok: false, error: new RemoteError(Codes.NOT_FOUND, `no app "${app}" on node ${h.id}`) };
    const iid = `p${++this.#iid}.${h.id}`;
    const critical = h.elastic.prepare(iid, pub.manifest, session, modules);
    const { memoryBytes, deadlineMs } = this.#limits;
    const spec: PortionSpec = {
      iid,
      node: h.id,
      app,
      session,
      modules,
      manifest: pub.manifestBytes,
      signature: pub.signature,
      sources: Object.fromEntries(modules.map((m) => [m, pub.sources[m] as Uint8Array])),
      trusted: h.trusted,
      services: h.serviceNames(),
      ...(states === undefined ? {} : { states }),
      ...(memoryBytes === undefined ? {} : { memoryBytes }),
      deadlineMs,
      ...(critical === undefined ? {} : { critical }),
    };
    return { ok: true, value: spec };
  }

  /** Stop every instance of a session on this node (its box closed it). */
  async stopSession(session: string): Promise<number> {
    const h = this.#host;
    const iids = h.portions.ofSession(session).filter((iid) => h.table.hosts(iid));
    for (const iid of iids) await this.stop(iid);
    return iids.length;
  }

  /** Stop an instance; unbinds the addresses nothing here serves any more. */
  async stop(iid: string, unbind = true): Promise<void> {
    const h = this.#host;
    await h.elastic.stopping(iid);
    h.letGo?.(iid);
    const gone = h.table.unhost(iid);
    if (unbind) await h.ended?.(iid);
    await h.portions.stop(iid);
    if (!unbind) return;
    for (const v of gone) {
      const rec = await h.registry.lookup(v);
      if (rec !== undefined && rec.node === h.id) await h.registry.unbind(v, rec.epoch);
    }
  }
}
