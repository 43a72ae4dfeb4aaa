// A request that reaches a migration's target while the target's start is still in its worker
// [c31]. The target claims the first module's address in the registry before the worker has
// started the instance, so from the claim on every resolver sends the request there; the target
// found no route for it (the record names itself, nothing here served it yet) and answered
// "undeliverable: no route" (drain-live.test.ts, 2 of 8 full-suite runs under load). It must wait
// for the start in flight and deliver, never drop the request.
import test from 'ava';
import { Codes, ManualClock, formatVaddr, type RemoteError } from '../../runtime/index.ts';
import { MIXED_APP, signedApp } from '../_helpers/apps.ts';
import { memoryNode, memoryRegistry, type MemoryNode } from '../_helpers/headend.ts';
import { MemoryNet } from '../_helpers/memory-net.ts';
import { gate } from '../_helpers/session-pair.ts';
import { settle, memoryBox } from '../_helpers/memory-tier.ts';


async function cluster() {
  const { pub, trusted } = await signedApp('mix', MIXED_APP);
  const clock = new ManualClock();
  const net = new MemoryNet();
  const registry = memoryRegistry(clock);
  const nodes: MemoryNode[] = [];
  for (const id of ['n1', 'n2', 'n3']) nodes.push(await memoryNode({ id, net, clock, registry, apps: [pub], trusted }));
  for (const n of nodes) await n.refreshPeers();
  const { box, transport: boxT } = memoryBox(net, clock, { firstId: 1 });
  const close = async (): Promise<void> => {
    for (const n of nodes) await n.close();
    await boxT.close();
    await registry.close();
  };
  return { registry, nodes: nodes as [MemoryNode, MemoryNode, MemoryNode], box, close };
}

test('a request reaching the target of a move before its worker started the instance waits for it, not "no route" [c31]', async (t) => {
  const c = await cluster();
  const [n1, n2, n3] = c.nodes;
  t.teardown(c.close);
  const started = await n2.startPortion('mix', 's1', ['counter']);
  if (!started.ok) return t.fail(started.error.message);
  const counter = formatVaddr({ app: 'mix', session: 's1', module: 'counter' });
  // Requests enter at n1 (a box message taken by any node), which forwards where the registry says.
  const viaN1 = (body: unknown): Promise<unknown> => c.box.request({ vaddr: counter, udp: n1.udpAddress }, body);
  for (let i = 0; i < 3; i++) t.like(await viaN1(i), { n: i + 1 });
  // n3's worker is slow: the move's start is held there after n3 claimed the address.
  const slow = gate();
  let began!: () => void;
  const launched = new Promise<void>((r) => (began = r));
  n3.pool.holdStarts = { wait: () => (began(), slow.wait()) };
  const moved = n2.movePortion(started.value, 'n3');
  await launched;
  t.is((await c.registry.lookup(counter))?.node, 'n3', 'n3 claimed the address before its worker runs the instance');
  t.false(n3.table.hosted.has(counter), 'the instance is not running on n3 yet');
  const answer = viaN1('in the window').then(
    (r) => ({ ok: true as const, r }),
    (e: unknown) => ({ ok: false as const, e: e as RemoteError }),
  );
  for (let i = 0; i < 20; i++) await settle();
  n3.pool.holdStarts = undefined;
  slow.open();
  t.like(await moved, { ok: true, value: 'n3' });
  const got = await answer;
  if (!got.ok) return t.fail(`the request failed: ${got.e.message} (code ${got.e.remoteCode ?? '?'}; NOT_FOUND is ${Codes.NOT_FOUND})`);
  t.like(got.r, { n: 4 }, 'served by the moved instance, continuing its state');
  t.is(n3.counters.undeliverable + n1.counters.undeliverable + n2.counters.undeliverable, 0, 'nothing was undeliverable');
  t.like(await viaN1('after'), { n: 5 });
});
