import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Channel, SESSIONS_VADDR, SessionOps, checkOpenReply, type Envelope, type ResourceReport } from '../../runtime/index.ts';
import { connectMqttTransport } from '../../transport/mqtt.ts';
import { startHeadend } from '../../headend/main.ts';
import { Balancer, SeededRandom } from '../../policy/index.ts';
// @ts-expect-error build.mjs is plain JavaScript without types
import { build } from '../../build.mjs';

const legacy = (boxId: string): ResourceReport => ({ boxId, profile: 'legacy-sd', freeMemoryBytes: 256 * 1024, appMemoryBytes: 4 << 20, cpuClass: 'low', cpuLoad: 0.2, storageFreeBytes: 0, sandboxBytes: 0, twoWayUp: true, at: Date.now() });

test('the built guide app on the embedded head-end: search runs on the head-end for a legacy box and reads the epg peer (a horizontal partition) and the service [c4-c7, c19, c34]', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-guide-'));
  await build({ out: join(dir, 'dist'), keys: join(dir, 'keys'), quiet: true, firmware: false });
  // A seeded policy goes through to the node (startHeadend used to refuse the option).
  const policy = new Balancer({ random: new SeededRandom(5).uniform() });
  const h = await startHeadend({ registry: 'memory', apps: join(dir, 'dist', 'apps'), keys: join(dir, 'keys'), masterKey: 'a-test-master-key-of-enough-length', intervalMs: 500, policy, log: () => {} });
  t.is(h.node.policy, policy);
  const boxT = await connectMqttTransport({ role: 'box', url: h.brokerUrl, id: 'stb-1', password: h.boxSecret('stb-1'), log: () => {}, deadPath: { initialRttMs: 1000 } });
  const box = new Channel({ self: { vaddr: 'weft://box/stb-1/inbox' }, write: (e: Envelope) => boxT.send(e), timeoutMs: 15_000 });
  boxT.onEnvelope((e) => box.receive(e));
  try {
    const reply = checkOpenReply(await box.request({ vaddr: SESSIONS_VADDR }, { app: 'guide', version: '1.0.0', boxId: 'stb-1', report: legacy('stb-1') }, { op: SessionOps.open }));
    const side = Object.fromEntries(reply.modules.map((m) => [m.module, m.side]));
    t.deepEqual(side, { ui: 'box', search: 'headend', epg: 'headend' });
    const search = reply.modules.find((m) => m.module === 'search')?.vaddr as string;
    const r = (await box.request({ vaddr: search }, { op: 'search', q: 'news', limit: 5 })) as { q: string; hits: { title: string; genre: string }[]; total: number };
    t.is(r.q, 'news');
    t.true(r.total > 0, 'the epg service has news programmes');
    for (const hit of r.hits) t.true(`${hit.title} ${hit.genre}`.toLowerCase().includes('news'));
    const stats = (await box.request({ vaddr: search }, { op: 'stats' })) as { entries: number; queries: number };
    t.true(stats.entries > 0);
  } finally {
    await boxT.close();
    await h.close();
    await rm(dir, { recursive: true, force: true });
  }
});
