// Two head-end session managers in one thread, on one in-memory registry, with fake portion
// hosts that count instances and a node-to-node `request` the test drives by hand: a start can
// be held (a slow worker), a request can be made to time out (TimeoutError) before or after the
// other side acted. Deterministic: no sockets, no threads, no timers.

import { Codes, ManualClock, RemoteError, TimeoutError, ok, type Envelope } from '../../runtime/index.ts';
import { BoxLocations } from '../../headend/node/box-locations.ts';
import type { PublishedApp } from '../../headend/app-catalog.ts';
import { AppCatalog } from '../../headend/app-catalog.ts';
import { DispatchTable } from '../../headend/node/table.ts';
import type { PortionSpec } from '../../headend/portions/portion-protocol.ts';
import { PortionStarts } from '../../headend/portions/start-once.ts';
import type { Registry } from '../../headend/registry/registry.ts';
import { SessionManager, type SessionHost } from '../../headend/session-manager.ts';
import type { ClusterView, PlacementPolicy } from '../../policy/index.ts';

/** A gate: `wait()` resolves once `open()` is called. */
export function gate(): { wait: () => Promise<void>; open: () => void } {
  let open!: () => void;
  const p = new Promise<void>((r) => (open = r));
  return { wait: () => p, open };
}

export interface PairNode {
  readonly id: string;
  readonly sessions: SessionManager;
  readonly starts: PortionStarts;
  /** Instances running here, by iid. */
  readonly instances: Map<string, PortionSpec>;
  /** Held starts: the next worker start waits for this gate when set. */
  hold: { wait: () => Promise<void> } | undefined;
  /** Resolves when a worker start begins here (the claim is made by then). */
  launching(): Promise<void>;
}

/** A request from one node to another, as the test sees it. */
export interface Pending {
  readonly to: string;
  readonly env: Envelope;
  /** Deliver it now; the sender gets the answer unless it already timed out. */
  deliver(): Promise<void>;
  /** The sender's deadline passes: it gets a TimeoutError (the receiver may still act later). */
  expire(): void;
}

export interface Pair {
  readonly nodes: Map<string, PairNode>;
  /** Requests sent and not yet delivered or expired, in order (an expired one may still be delivered). */
  readonly pending: Pending[];
  /** Resolves when a request is pending. */
  nextRequest(): Promise<Pending>;
}

export interface PairOptions {
  /** Every placement goes to this node (a fixed policy). */
  placeOn?: string;
  /** Or this policy, shared by the nodes, on `view`. */
  policy?: PlacementPolicy;
  view?: () => ClusterView;
  /** Deliver node-to-node requests at once (no test control of timing). */
  autoDeliver?: boolean;
}

/** Nodes `ids` sharing `registry`. */
export function sessionPair(ids: string[], registry: Registry, pub: PublishedApp, o: PairOptions): Pair {
  const nodes = new Map<string, PairNode>();
  const pending: Pending[] = [];
  const waiters: ((p: Pending) => void)[] = [];
  const placeOn = o.placeOn ?? ids[0] ?? '';
  const policy: PlacementPolicy = o.policy ?? { name: 'fixed', place: (v) => ok({ node: placeOn, index: v.nodes.findIndex((n) => n.node === placeOn), score: 0 }) };
  const fixed: ClusterView = { now: 0, nodes: ids.map((node) => ({ node, at: 0, capacity: 1, load: 0, sessions: 0, queue: 0, util: 0, waitMs: 0, memUsed: 0, memLimit: 1 })) };
  const view = o.view ?? (() => fixed);
  const catalog = new AppCatalog();
  catalog.add(pub);
  for (const id of ids) {
    const table = new DispatchTable();
    const instances = new Map<string, PortionSpec>();
    let n = 0;
    const udpAddress = { host: '127.0.0.1', port: 1000 + ids.indexOf(id) };
    const launched = gate();
    const node: { -readonly [K in keyof PairNode]: PairNode[K] } = { id, instances, hold: undefined, launching: launched.wait } as never;
    node.starts = new PortionStarts({
      id,
      registry,
      udpAddress,
      table,
      portions: {
        start: async (spec) => {
          launched.open();
          await node.hold?.wait();
          instances.set(spec.iid, spec);
          return ok(undefined);
        },
      },
      elastic: { started: () => {} },
      makeSpec: (app, session, modules) => ok({ iid: `p${++n}.${id}`, node: id, app, session, modules } as PortionSpec),
    });
    const host: SessionHost = {
      id,
      registry,
      catalog,
      policy,
      statistics: { clusterView: view } as never,
      boxes: new BoxLocations(),
      clock: new ManualClock(0),
      peerUdp: (other) => (ids.includes(other) ? { host: '127.0.0.1', port: 1000 + ids.indexOf(other) } : undefined),
      stopSession: () => Promise.resolve(0),
      startPortion: (app, session, modules, states, from) => node.starts.start(app, session, modules, states, from),
      request: (dst, body, op) => send(id, dst.vaddr?.split('/')[3] ?? '', { v: 1, kind: 'req', id: 0, op, src: {}, dst, body }),
    };
    node.sessions = new SessionManager(host);
    nodes.set(id, node as PairNode);
  }
  function send(from: string, to: string, env: Envelope): Promise<unknown> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const p: Pending = {
        to,
        env,
        deliver: async () => {
          if (pending.includes(p)) pending.splice(pending.indexOf(p), 1);
          const target = nodes.get(to);
          if (target === undefined) throw new RemoteError(Codes.NOT_FOUND, `no node ${to}`);
          try {
            const r = await target.sessions.control(env);
            if (!settled) resolve(r);
          } catch (e) {
            if (!settled) reject(e as Error);
          }
          settled = true;
        },
        expire: () => {
          if (pending.includes(p)) pending.splice(pending.indexOf(p), 1);
          if (settled) return;
          settled = true;
          reject(new TimeoutError(`${from} -> ${to}: ${env.op ?? ''} timed out`, 10_000));
        },
      };
      pending.push(p);
      if (o.autoDeliver === true) void p.deliver();
      else waiters.shift()?.(p);
    });
  }
  return {
    nodes,
    pending,
    nextRequest: () => {
      const first = pending.find(() => true);
      return first !== undefined ? Promise.resolve(first) : new Promise((r) => waiters.push(r));
    },
  };
}
