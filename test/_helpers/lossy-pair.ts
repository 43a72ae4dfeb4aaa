// Two head-end nodes on the deterministic tier sharing a registry that loses acknowledged writes
// (lossy-registry.ts), every session placed on n1, and one box channel: the rig of the keeper
// tests (claims-node, session-records).
import { ManualClock, SessionOps, checkOpenReply, ok, type OpenReply } from '../../runtime/index.ts';
import type { PlacementPolicy } from '../../policy/index.ts';
import { MIXED_APP, signedApp } from './apps.ts';
import { memoryNode, memoryRegistry, type MemoryNode } from './headend.ts';
import type { FakeModule } from './in-thread-pool.ts';
import { lossyRegistry, type LossyRegistry } from './lossy-registry.ts';
import { MemoryNet } from './memory-net.ts';
import { lowEndReport as report, memoryBox } from './memory-tier.ts';

const INTERVAL = 1000;
/** Let every envelope, registry write and portion message already queued run (no time passes). */
export const settle = async (): Promise<void> => {
  for (let i = 0; i < 4; i++) await new Promise((r) => setImmediate(r));
};
/** Every session goes to n1. */
export const onN1: PlacementPolicy = { name: 'n1', place: (view) => ok({ node: 'n1', index: view.nodes.findIndex((n) => n.node === 'n1'), score: 0 }) };

/** Two memory nodes (n1, n2) on one lossy registry, every session placed on n1, and a box channel (`weft://box/b/inbox`); `modules`: the in-thread host's handlers. */
export async function lossyPair(modules?: Record<string, FakeModule>) {
  const { pub, trusted } = await signedApp('mix', MIXED_APP);
  const clock = new ManualClock();
  const net = new MemoryNet();
  const registry: LossyRegistry = lossyRegistry(memoryRegistry(clock));
  const logs: string[] = [];
  const nodes: MemoryNode[] = [];
  for (const id of ['n1', 'n2']) nodes.push(await memoryNode({ id, net, clock, registry, apps: [pub], trusted, intervalMs: INTERVAL, policy: onN1, ...(modules === undefined ? {} : { modules }), log: (l) => logs.push(`${id} ${l}`) }));
  for (const n of nodes) await n.refreshPeers();
  const { box, transport: boxT } = memoryBox(net, clock);
  const open = async (boxId: string, via: MemoryNode): Promise<OpenReply> =>
    checkOpenReply(await box.request({ vaddr: `weft://headend/${via.id}/sessions`, udp: via.udpAddress }, { app: 'mix', version: '1.0.0', boxId, report: report(boxId) }, { op: SessionOps.open }));
  const copies = (session: string): string[] => nodes.flatMap((n) => [...n.pool.instances.values()].filter((p) => p.session === session).map(() => n.id));
  const close = async (): Promise<void> => {
    for (const n of nodes) await n.close();
    await boxT.close();
    await registry.close();
  };
  return { clock, net, registry, nodes: nodes as [MemoryNode, MemoryNode], box, open, copies, logs, close };
}
