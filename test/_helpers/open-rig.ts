// One head-end node on the deterministic tier (a manual clock, a memory net, SQLite in memory)
// serving the mixed app, with a session.open envelope maker: the rig of the tests that drive
// `session.open` straight into the node's session manager (session-late, admission).
import type { ExecutionContext } from 'ava';
import { ManualClock, SessionOps, ok, type Envelope } from '../../runtime/index.ts';
import type { PlacementPolicy } from '../../policy/index.ts';
import { MIXED_APP, signedApp } from './apps.ts';
import { memoryNode, memoryRegistry } from './headend.ts';
import { MemoryNet } from './memory-net.ts';
import { lowEndReport as report } from './memory-tier.ts';

const here: PlacementPolicy = { name: 'here', place: (view) => ok({ node: 'n1', index: view.nodes.findIndex((n) => n.node === 'n1'), score: 0 }) };

/** Node `n1` with app `mix` 1.0.0, closed when the test ends; `open` makes box `boxId`'s request. */
export async function openRig(t: ExecutionContext) {
  const { pub, trusted } = await signedApp('mix', MIXED_APP);
  const clock = new ManualClock(1_000_000);
  const registry = memoryRegistry(clock);
  const n1 = await memoryNode({ id: 'n1', net: new MemoryNet(), clock, registry, apps: [pub], trusted, policy: here });
  t.teardown(async () => {
    await n1.close();
    await registry.close();
  });
  const open = (boxId: string, deadline: number, id: number): Envelope => ({
    v: 1, kind: 'req', id, src: { vaddr: `weft://box/${boxId}/loader` }, dst: { vaddr: 'weft://headend/n1/sessions' }, deadline, op: SessionOps.open,
    body: { app: 'mix', version: '1.0.0', boxId, report: report(boxId) },
  } as Envelope);
  return { n1, clock, registry, open };
}
