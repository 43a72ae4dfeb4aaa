// Durable portion state with the real parts [issue 13.2]: portion workers running QuickJS, a
// module that exports snapshot()/restore(), a sync module whose replies wait for the registry.
// The checkpoint's bytes are the module's own snapshot (StateCodec CBOR), and a second node
// taking the portion over from the first starts it from them.
import test from 'ava';
import { Channel, SESSIONS_VADDR, SessionOps, checkOpenReply, type Envelope, type ResourceReport } from '../../runtime/index.ts';
import { StateCodec } from '../../runtime/app/index.ts';
import { createUdpTransport } from '../../transport/index.ts';
import { signedApp } from '../_helpers/apps.ts';
import { memoryRegistry, testNode } from '../_helpers/headend.ts';
import { lossyRegistry } from '../_helpers/lossy-registry.ts';
import { until } from '../_helpers/mqtt-fixtures.ts';

const report: ResourceReport = { boxId: 'b1', profile: 'hd-dvr', freeMemoryBytes: 1 << 20, appMemoryBytes: 32 << 20, cpuClass: 'mid', cpuLoad: 0.1, storageFreeBytes: 1 << 20, sandboxBytes: 0, twoWayUp: true, at: 0 };

const COUNTER = `let n = 0;
  weft.on('request', () => ({ n: ++n }));
  export function snapshot() { return { n }; }
  export function restore(s) { n = s.n; }`;

test('sync with real workers: each reply finds its count in the registry; another node taking over restores it [issue 13.2]', async (t) => {
  const { pub, trusted } = await signedApp('tally', [
    { name: 'ui', kind: 'client', source: `weft.on('message', () => {});` },
    { name: 'counter', kind: 'server', source: COUNTER, durability: 'sync' },
  ]);
  const registry = memoryRegistry();
  // n1's view of the registry, whose change feed the test can hold back (a subscriber away).
  const n1view = lossyRegistry(registry);
  const n1 = await testNode({ id: 'n1', registry: n1view, apps: [pub], trusted });
  let n2: Awaited<ReturnType<typeof testNode>> | undefined;
  const udp = await createUdpTransport({ host: '127.0.0.1', port: 0 });
  const box = new Channel({ self: { vaddr: 'weft://box/b1/inbox', udp: udp.address.udp as { host: string; port: number } }, write: (e: Envelope) => udp.send(e), timeoutMs: 10_000 });
  udp.onEnvelope((e) => box.receive(e));
  const codec = new StateCodec();
  try {
    const s = checkOpenReply(await box.request({ vaddr: SESSIONS_VADDR, udp: n1.udpAddress }, { app: 'tally', version: '1.0.0', boxId: 'b1', report }, { op: SessionOps.open }));
    t.is(s.node, 'n1');
    for (let i = 1; i <= 10; i++) {
      t.deepEqual(await box.request({ vaddr: s.dasp, udp: n1.udpAddress }, {}), { n: i });
      const ck = await registry.getCheckpoint(s.dasp);
      t.deepEqual(ck === undefined ? undefined : codec.decode(ck.state), { n: i }, `in the registry when reply ${i} arrived`);
    }
    t.like(n1.checkpoints.stats(), { written: 10, refused: 0, failed: 0, held: 0 });
    // n2 (started only now, so the session was placed on n1) takes the portion over from n1, as
    // after n1's death, with no state of its own.
    const old = n1.table.hosted.get(s.dasp)?.iids[0] as string;
    n2 = await testNode({ id: 'n2', registry, apps: [pub], trusted });
    await n1.refreshPeers();
    n1view.feedDown(); // n1 does not hear of the take-over yet, so its copy runs on (a split brain)
    const r = await n2.startPortion('tally', s.session, ['counter'], undefined, 'n1');
    t.true(r.ok);
    t.is((await registry.lookup(s.dasp))?.node, 'n2');
    t.deepEqual(await box.request({ vaddr: s.dasp, udp: n2.udpAddress }, {}), { n: 11 });
    // (n2 may also have judged n1 dead meanwhile and re-placed it: that start joins this one.)
    t.true(n2.checkpoints.stats().restored >= 1);
    t.deepEqual(codec.decode((await registry.getCheckpoint(s.dasp))?.state as Uint8Array), { n: 11 });
    // n1's old instance, still running (a split brain), answers from its stale memory: its
    // checkpoint is fenced, so its sync reply becomes an error and n2's state stays.
    await t.throwsAsync(box.request({ vaddr: s.dasp, udp: n1.udpAddress, queue: old }, {}), { message: /moved to node n2; this answer was not made durable/ });
    t.is(n1.checkpoints.stats().fenced, 1);
    await t.throwsAsync(box.request({ vaddr: s.dasp, udp: n1.udpAddress, queue: old }, {}), { message: /runs on another node now/ }, 'and every later one');
    t.deepEqual(codec.decode((await registry.getCheckpoint(s.dasp))?.state as Uint8Array), { n: 11 });
    // n1 hears of it (a reset): its keeper finds the record in n2's name and stops the copy, so
    // what reaches n1 for the session goes to n2 [c31] (headend/portions/portion-claims.ts).
    n1view.failover();
    await n1.claims.settled();
    t.false(n1.portions.has(old));
    t.is(n1.claims.stats.copiesStopped, 1);
    t.deepEqual(await box.request({ vaddr: s.dasp, udp: n1.udpAddress, queue: old }, {}), { n: 12 });
  } finally {
    await udp.close();
    await n1.close();
    await n2?.close();
    await registry.close();
  }
});

test('interval with real workers: the changed module is checkpointed by a round (no reply waits); its checkpoint goes when the session closes [issue 13.2]', async (t) => {
  const { pub, trusted } = await signedApp('tally', [
    { name: 'ui', kind: 'client', source: `weft.on('message', () => {});` },
    { name: 'counter', kind: 'server', source: COUNTER },
  ]);
  const registry = memoryRegistry();
  const n1 = await testNode({ id: 'n1', registry, apps: [pub], trusted });
  const udp = await createUdpTransport({ host: '127.0.0.1', port: 0 });
  const box = new Channel({ self: { vaddr: 'weft://box/b1/inbox', udp: udp.address.udp as { host: string; port: number } }, write: (e: Envelope) => udp.send(e), timeoutMs: 10_000 });
  udp.onEnvelope((e) => box.receive(e));
  try {
    const s = checkOpenReply(await box.request({ vaddr: SESSIONS_VADDR, udp: n1.udpAddress }, { app: 'tally', version: '1.0.0', boxId: 'b1', report }, { op: SessionOps.open }));
    for (let i = 1; i <= 5; i++) t.deepEqual(await box.request({ vaddr: s.dasp, udp: n1.udpAddress }, {}), { n: i });
    // Waits on the registry's content, not on time: a round comes within checkpointMs of the change.
    const codec = new StateCodec();
    let stored: unknown;
    await until(() => {
      void registry.getCheckpoint(s.dasp).then((c) => (stored = c === undefined ? undefined : codec.decode(c.state)));
      return (stored as { n?: number } | undefined)?.n === 5;
    }, 30_000, 'the checkpoint of the fifth update');
    t.deepEqual(stored, { n: 5 });
    const written = n1.checkpoints.stats().written;
    await n1.checkpoints.flush();
    t.is(n1.checkpoints.stats().written, written, 'nothing changed since: nothing written');
    // The box closes the session: the portion ends for good and its checkpoint goes with it.
    t.deepEqual(await box.request({ vaddr: SESSIONS_VADDR, udp: n1.udpAddress }, { session: s.session }, { op: SessionOps.close }), { closed: true });
    t.is(await registry.getCheckpoint(s.dasp), undefined);
  } finally {
    await udp.close();
    await n1.close();
    await registry.close();
  }
});
