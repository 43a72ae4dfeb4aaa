// One node of the deterministic tier with N open sessions of a one-counter app (`tally`): the
// in-thread portion host counts the messages its threads are sent, a manual clock times it all.
import { ManualClock, SessionOps, checkOpenReply, type OpenReply } from '../../runtime/index.ts';
import { signedApp } from './apps.ts';
import { memoryNode, memoryRegistry, type MemoryNode } from './headend.ts';
import { MemoryNet } from './memory-net.ts';
import { clockStepper, here, lowEndReport as report, memoryBox } from './memory-tier.ts';

const INTERVAL = 1000;

export async function oneNodeSessions(n: number) {
  const { pub, trusted } = await signedApp('tally', [
    { name: 'ui', kind: 'client', source: `weft.on('message', () => {});` },
    { name: 'counter', kind: 'server', source: `weft.on('request', () => ({}));` },
  ]);
  const clock = new ManualClock();
  const net = new MemoryNet();
  const registry = memoryRegistry(clock);
  const node: MemoryNode = await memoryNode({ id: 'n1', net, clock, registry, apps: [pub], trusted, intervalMs: INTERVAL, policy: here('n1') });
  const { box, transport } = memoryBox(net, clock);
  const advance = clockStepper(clock, INTERVAL);
  await advance(2 * INTERVAL);
  const sessions: OpenReply[] = [];
  for (let i = 0; i < n; i++) {
    const body = { app: 'tally', version: '1.0.0', boxId: `b${i}`, report: report(`b${i}`) };
    sessions.push(checkOpenReply(await box.request({ vaddr: 'weft://headend/n1/sessions', udp: node.udpAddress }, body, { op: SessionOps.open })));
  }
  /** One request to every session, all sent in one turn; their `n` answers. */
  const incAll = async (): Promise<number[]> => (await Promise.all(sessions.map((s) => box.request({ vaddr: s.dasp, udp: node.udpAddress }, { inc: 1 })))).map((r) => (r as { n: number }).n);
  const close = async (): Promise<void> => {
    await node.close();
    await transport.close();
    await registry.close();
  };
  return { node, registry, sessions, advance, incAll, close, INTERVAL };
}
