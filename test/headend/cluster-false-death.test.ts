// [c16, c31] A false death on the deterministic tier (issue 19.7 regression): a node only stalled
// is declared dead and a survivor re-places its sessions while the old copy still runs. The old
// copy finds its claim lost and stops; every address of the session's portion must then end bound
// to the one running instance. Before the fix, the lost copy unbound its other addresses between
// the new host's refused bind and its move: the move found no record, nobody bound the address
// again, and the box's request to it got "no route" (cluster-processes.test.ts under load).
import test from 'ava';
import { Channel, ManualClock, SessionOps, checkOpenReply, formatVaddr, ok, type Envelope, type ResourceReport } from '../../runtime/index.ts';
import type { PlacementPolicy } from '../../policy/index.ts';
import { MIXED_APP, signedApp } from '../_helpers/apps.ts';
import { memoryNode, memoryRegistry, type MemoryNode } from '../_helpers/headend.ts';
import { MemoryNet } from '../_helpers/memory-net.ts';
import type { Registry } from '../../headend/registry/registry.ts';

const INTERVAL = 1000;
const report = (boxId: string): ResourceReport => ({ boxId, profile: 'legacy-sd', freeMemoryBytes: 1 << 20, appMemoryBytes: 4 << 20, cpuClass: 'low', cpuLoad: 0, storageFreeBytes: 0, sandboxBytes: 0, twoWayUp: true, at: 0 });
const settle = async (): Promise<void> => {
  for (let i = 0; i < 4; i++) await new Promise((r) => setImmediate(r));
};
/** Settle until `done` (bounded: a condition that never comes fails the test, not hangs it). */
async function settleUntil(done: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !done(); i++) await settle();
}
const here = (id: string): PlacementPolicy => ({ name: 'here', place: (view) => ok({ node: id, index: view.nodes.findIndex((n) => n.node === id), score: 0 }) });

/** `inner`, whose bind of a vaddr `gate` accepts returns only after `gate` resolves (the writes interleave as under load). */
function gated(inner: Registry, gate: (vaddr: string, refused: boolean) => Promise<void> | undefined): Registry {
  return new Proxy(inner, {
    get(target, prop) {
      const v: unknown = Reflect.get(target, prop, target);
      if (prop === 'bind') {
        return async (...args: Parameters<Registry['bind']>) => {
          const r = await target.bind(...args);
          await gate(args[0], !r.ok);
          return r;
        };
      }
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

test('a live node declared dead: after the re-placement every address of the session portion is bound to the one running copy [c16, c31]', async (t) => {
  const { pub, trusted } = await signedApp('mix', MIXED_APP);
  const clock = new ManualClock();
  const net = new MemoryNet();
  const registry = memoryRegistry(clock);
  const logs: string[] = [];
  let session = '';
  let claim = ''; // the portion's claim (its first address): n2 takes it by move, ungated
  let held = 0;
  const n1 = await memoryNode({ id: 'n1', net, clock, registry, apps: [pub], trusted, intervalMs: INTERVAL, policy: here('n1'), log: (l) => logs.push(`n1 ${l}`) });
  const copies = (nodes: MemoryNode[]): string[] => nodes.flatMap((n) => [...n.pool.instances.values()].filter((p) => p.session === session).map(() => n.id));
  // n2's bind of the session's other addresses, refused while n1's copy still holds them, answers
  // only once n1 has stopped its copy and let go (n1 stalled, n2 ran ahead: the order seen in the dumps).
  const n2Registry = gated(registry, (vaddr, refused) => {
    if (!refused || session === '' || !vaddr.includes(`/${session}/`) || vaddr === claim) return undefined;
    held++;
    return (async () => {
      await settleUntil(() => !copies([n1]).includes('n1'));
      await n1.claims.settled();
    })();
  });
  const n2 = await memoryNode({ id: 'n2', net, clock, registry: n2Registry, apps: [pub], trusted, intervalMs: INTERVAL, policy: here('n2'), log: (l) => logs.push(`n2 ${l}`) });
  await n1.refreshPeers();
  await n2.refreshPeers();
  const boxT = net.open();
  const box = new Channel({ self: { vaddr: 'weft://box/b/inbox', udp: boxT.address.udp }, write: (e: Envelope) => boxT.send(e), clock, timeoutMs: 15_000 });
  boxT.onEnvelope((e) => box.receive(e));
  try {
    const s = checkOpenReply(await box.request({ vaddr: 'weft://headend/n1/sessions', udp: n1.udpAddress }, { app: 'mix', version: '1.0.0', boxId: 'b1', report: report('b1') }, { op: SessionOps.open }));
    t.is(s.node, 'n1');
    const modules = [...n1.pool.instances.values()].find((p) => p.session === s.session)?.modules ?? [];
    t.true(modules.length >= 2, `a portion of several addresses (${modules.join(',')})`);
    session = s.session;
    claim = formatVaddr({ app: 'mix', session, module: modules[0] ?? '' });
    // n2 believes n1 dead (its beats were late) and re-places n1's sessions; n1 runs on.
    t.is(await n2.sessions.replaceFrom('n1'), 1);
    await settleUntil(() => copies([n1, n2]).join() === 'n2');
    await n1.claims.settled();
    await n2.claims.settled();
    t.deepEqual(copies([n1, n2]), ['n2'], 'one copy, on the re-placing node');
    const iid = [...n2.pool.instances.values()].find((p) => p.session === session)?.iid;
    for (const m of modules) {
      const rec = await registry.lookup(formatVaddr({ app: 'mix', session, module: m }));
      t.like(rec, { node: 'n2', queue: iid }, `${m} is bound to n2's running copy`);
    }
    // Every module answers the box, through either node.
    for (const via of [n1, n2]) {
      for (const m of modules) {
        const r = await box.request({ vaddr: formatVaddr({ app: 'mix', session, module: m }), udp: via.udpAddress }, { k: m });
        t.truthy(r, `${m} via ${via.id}`);
      }
    }
    t.true(held >= 1, 'the new host\'s bind was refused while the old copy held the address');
    t.is(n1.claims.stats.copiesStopped, 1);
    t.is(n1.claims.stats.stopErrors, 0);
    t.is(n2.starts.counters.restUnbound, 0);
  } finally {
    await n1.close();
    await n2.close();
    await boxT.close();
    await registry.close();
  }
});
