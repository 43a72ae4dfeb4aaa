// How a node wires its checkpointer [issue 13.2]: the PortionManager's observer (made before the
// checkpointer) and the checkpointer's host over the node's parts. Wiring only, no logic.

import type { Clock } from '../../runtime/index.ts';
import type { Durability } from '../../runtime/app/index.ts';
import type { Checkpointer, CheckpointHost } from './checkpoint.ts';
import type { PortionObserver } from './portions.ts';

/** The PortionManager's observer for a checkpointer made after it (node.ts builds the manager first). */
export function observeFor(get: () => Checkpointer | undefined): PortionObserver {
  return {
    delivered: (iid) => get()?.delivered(iid),
    out: (iid, env, send) => {
      const c = get();
      if (c === undefined) send(env);
      else c.out(iid, env, send);
    },
    stopped: (iid) => get()?.stopped(iid),
  };
}

/** What a HeadendNode offers a checkpointer (structural: this file imports no node). */
interface NodeLike {
  readonly id: string;
  readonly clock: Clock;
  readonly registry: CheckpointHost['registry'];
  readonly portions: { spec(iid: string): CheckpointHost['spec'] extends (i: string) => infer R ? R : never; checkpointSnapshot: CheckpointHost['snapshot'] };
  readonly catalog: { get(app: string): { manifest: { modules: { name: string; durability?: Durability }[] } } | undefined };
}

/** The host of a node's checkpointer; `timing` is read late (the node makes it after the portions). */
export function nodeCheckpointHost(node: NodeLike, timing: () => { peers(): { node: string; lastSeen: number; intervalMs: number }[] }, log: (line: string) => void): CheckpointHost {
  return {
    id: node.id,
    clock: node.clock,
    registry: node.registry,
    spec: (iid) => node.portions.spec(iid),
    snapshot: (iid) => node.portions.checkpointSnapshot(iid),
    durability: (app, m) => node.catalog.get(app)?.manifest.modules.find((x) => x.name === m)?.durability ?? 'interval',
    // Alive at its last beat, so dead before the next one was due: the latest it can have acknowledged anything.
    diedBy: (n) => {
      const p = timing().peers().find((x) => x.node === n);
      return p === undefined ? undefined : p.lastSeen + p.intervalMs;
    },
    log,
  };
}
