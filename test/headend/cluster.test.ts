// The integration tier of a cluster [c15, c17]: real UDP between two nodes and real worker
// threads running QuickJS. No waiting on time: the portion is started on n2 directly, so
// nothing depends on statistics having flowed. Placement and failure detection are tested
// deterministically in cluster-memory.test.ts.
import test from 'ava';
import { Channel, formatVaddr, type Envelope } from '../../runtime/index.ts';
import { createUdpTransport } from '../../transport/index.ts';
import { MIXED_APP, signedApp } from '../_helpers/apps.ts';
import { memoryRegistry, testNode } from '../_helpers/headend.ts';
import type { HeadendNode } from '../../headend/node.ts';

test('two nodes over real UDP: a request sent to n1 for a portion on n2 is forwarded by its virtual address; DASP-to-DASP calls a service [c15, c17, c31]', async (t) => {
  const { pub, trusted } = await signedApp('mix', MIXED_APP);
  const registry = memoryRegistry();
  const nodes: HeadendNode[] = [];
  for (const id of ['n1', 'n2']) nodes.push(await testNode({ id, registry, apps: [pub], trusted }));
  for (const n of nodes) await n.refreshPeers();
  const [n1, n2] = nodes as [HeadendNode, HeadendNode];
  const boxT = await createUdpTransport({ host: '127.0.0.1', port: 0 });
  const box = new Channel({ self: { vaddr: 'weft://box/b/inbox', udp: boxT.address.udp as { host: string; port: number } }, write: (e: Envelope) => boxT.send(e), timeoutMs: 15_000 });
  boxT.onEnvelope((e) => box.receive(e));
  try {
    const started = await n2.startPortion('mix', 's1', ['counter', 'epg']);
    t.true(started.ok);
    const counter = formatVaddr({ app: 'mix', session: 's1', module: 'counter' });
    t.is((await registry.lookup(counter))?.node, 'n2');
    const r = (await box.request({ vaddr: counter, udp: n1.udpAddress }, { s: 's1' })) as { echo: { s: string } };
    t.is(r.echo.s, 's1');
    t.true(n1.counters.forwarded > 0);
    const hits = await box.request({ vaddr: formatVaddr({ app: 'mix', session: 's1', module: 'epg' }), udp: n1.udpAddress }, { q: 'news' });
    t.true(Array.isArray(hits));
  } finally {
    await boxT.close();
    for (const n of nodes) await n.close();
    await registry.close();
  }
});
