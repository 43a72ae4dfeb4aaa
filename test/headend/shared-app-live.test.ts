// App-wide modules on real nodes (issue 16): two nodes with worker threads and QuickJS, one
// registry. A session's own server module reaches the app-wide module through weft.address (its
// session's view), from either node; the app-wide module's storage is the app's, one for every
// session, and goes into its checkpoint; a session-scope module's storage is its session's.
import test from 'ava';
import { Channel, SESSIONS_VADDR, SessionOps, checkOpenReply, type Envelope, type ResourceReport } from '../../runtime/index.ts';
import { createUdpTransport } from '../../transport/index.ts';
import { MemoryCheckpoints, appWideInstanceId, decodeCheckpoint } from '../../headend/portions/shared-app.ts';
import { appWideTag } from '../../headend/portions/shared-versions.ts';
import { signedApp, type ModuleSpec } from '../_helpers/apps.ts';
import { memoryRegistry, testNode } from '../_helpers/headend.ts';
import { until } from '../_helpers/mqtt-fixtures.ts';

const APP: ModuleSpec[] = [
  { name: 'ui', kind: 'client', source: `weft.on('message', () => {});` },
  {
    // Session scope: counts its own session's votes in its storage, sends each on to the tally,
    // retrying with the vote's rid (a writer that lost its claim does not answer: retry).
    name: 'ballot',
    kind: 'server',
    uses: ['storage'],
    source: `weft.on('request', async (b) => {
      const mine = (weft.storage.get('mine') ?? 0) + 1;
      weft.storage.set('mine', mine);
      for (let i = 0; ; i++) {
        try {
          const t = await weft.request(weft.address('tally'), { votes: b.votes, rid: b.rid }, { timeout: 2000 });
          return { mine, total: t.total, tally: t.self };
        } catch (e) {
          if (i >= 4) return { error: String(e.message) };
        }
      }
    });`,
  },
  {
    name: 'tally',
    kind: 'server',
    scope: 'app',
    uses: ['storage'],
    critical: { guard: 'queue' },
    source: `weft.on('request', (b) => {
      const total = (weft.storage.get('total') ?? 0) + (b && typeof b.votes === 'number' ? b.votes : 0);
      weft.storage.set('total', total);
      return { total, self: weft.self };
    });`,
  },
];

const report = (boxId: string): ResourceReport => ({ boxId, profile: 'hd-dvr', freeMemoryBytes: 1 << 20, appMemoryBytes: 32 << 20, cpuClass: 'mid', cpuLoad: 0.1, storageFreeBytes: 1 << 20, sandboxBytes: 0, twoWayUp: true, at: Date.now() });

test('a session\'s server module reaches the app-wide module through its session\'s view, from any node; storage per session vs per app', async (t) => {
  const { pub, trusted } = await signedApp('vote', APP);
  const registry = memoryRegistry();
  const checkpoints = new MemoryCheckpoints();
  const n1 = await testNode({ id: 'n1', registry, apps: [pub], trusted, appWide: { checkpoints }, intervalMs: 1000 });
  const n2 = await testNode({ id: 'n2', registry, apps: [pub], trusted, appWide: { checkpoints }, intervalMs: 1000 });
  const bt = await createUdpTransport({ host: '127.0.0.1', port: 0 });
  const box = new Channel({ self: { vaddr: 'weft://box/b1/inbox', udp: bt.address.udp as { host: string; port: number } }, write: (e: Envelope) => bt.send(e), timeoutMs: 10_000 });
  bt.onEnvelope((e) => box.receive(e));
  try {
    await n1.refreshPeers();
    await n2.refreshPeers();
    // Each node hears the other before sessions open (a node that boots slowly is judged dead by
    // the other meanwhile; then the claim moves and the fence settles it, tested on the
    // deterministic tier in shared-app.test.ts).
    await until(() => n1.timing.isAlive('n2') === true && n2.timing.isAlive('n1') === true, 10_000, 'both nodes alive to each other');
    const open = async (udp: { host: string; port: number }, boxId: string) =>
      checkOpenReply(await box.request({ vaddr: SESSIONS_VADDR, udp }, { app: 'vote', version: '1.0.0', boxId, report: report(boxId) }, { op: SessionOps.open }));
    const s1 = await open(n1.udpAddress, 'b1');
    const s2 = await open(n2.udpAddress, 'b2');
    t.deepEqual(s1.modules.map((m) => m.module), ['ui', 'ballot'], 'tally is no session\'s module');
    let rid = 0;
    const ballot = (s: typeof s1, udp: { host: string; port: number }, votes: number) => box.request({ vaddr: `weft://vote/${s.session}/ballot`, udp }, { votes, rid: `r${++rid}` }) as Promise<{ mine: number; total: number; tally: string }>;
    t.like(await ballot(s1, n1.udpAddress, 2), { mine: 1, total: 2, tally: 'weft://vote/*/tally' });
    t.like(await ballot(s2, n2.udpAddress, 3), { mine: 1, total: 5 }, 'the other session shares the tally, not the ballot storage');
    t.like(await ballot(s1, n2.udpAddress, 1), { mine: 2, total: 6 });
    // One writer: a node judged dead under load hands over, and the fence stops the old one.
    const writers = (): number => [n1, n2].filter((n) => n.appWide.writerIid('vote') !== undefined).length;
    await until(() => writers() === 1, 10_000, 'one writer of the app-wide module');
    t.is(writers(), 1);
    const cp = decodeCheckpoint(checkpoints.saved.get(appWideInstanceId('vote', appWideTag(pub.manifest))) as Uint8Array);
    t.deepEqual(JSON.parse(Buffer.from(cp?.states._storage ?? new Uint8Array()).toString('utf8')), { total: '6' }, 'its storage is in its checkpoint');
  } finally {
    await bt.close();
    await n1.close();
    await n2.close();
    await registry.close();
  }
});
