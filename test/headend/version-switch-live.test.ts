// Version switch in place on real parts (issue 15.6-7): the embedded head-end with the built
// guide, its server portions in worker threads running QuickJS. A legacy box's search runs on
// the head-end; the box switches to 1.0.1 (same session named as `previous`): the portion is
// snapshotted in its sandbox and restored into the 1.0.1 instance, so its query count goes on,
// and every search sent across the switch is answered.
import test from 'ava';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Channel, SESSIONS_VADDR, SessionOps, checkOpenReply, type Envelope, type ResourceReport } from '../../runtime/index.ts';
import { decodeManifest, encodeManifest, importSigningKey, sha256Hex, signManifest, utf8 } from '../../runtime/app/index.ts';
import { connectMqttTransport } from '../../transport/mqtt.ts';
import { startHeadend } from '../../headend/main.ts';
import { AppCatalog } from '../../headend/app-catalog.ts';
// @ts-expect-error build.mjs is plain JavaScript without types
import { build } from '../../build.mjs';

const legacy = (boxId: string): ResourceReport => ({ boxId, profile: 'legacy-sd', freeMemoryBytes: 256 * 1024, appMemoryBytes: 4 << 20, cpuClass: 'low', cpuLoad: 0.2, storageFreeBytes: 0, sandboxBytes: 0, twoWayUp: true, at: Date.now() });

test('the guide\'s search portion switches from 1.0.0 to 1.0.1 in its worker with its state; searches across the switch all answered', async (t) => {
  t.timeout(120_000);
  const dir = await mkdtemp(join(tmpdir(), 'weft-switch-'));
  await build({ out: join(dir, 'dist'), keys: join(dir, 'keys'), quiet: true, firmware: false });
  const h = await startHeadend({ registry: 'memory', apps: join(dir, 'dist', 'apps'), keys: join(dir, 'keys'), masterKey: 'a-test-master-key-of-enough-length', intervalMs: 500, log: () => {} });
  // 1.0.1: the search module changed (a comment: new bytes, so its instance really switches; the
  // same bytes would only be re-pinned), signed with the build's dev key, served beside live.
  const v100 = await AppCatalog.readDir(join(dir, 'dist', 'apps', 'guide'));
  const search101 = new Uint8Array([...(v100.sources.search as Uint8Array), ...utf8('\n// 1.0.1\n')]);
  const sha101 = await sha256Hex(search101);
  const manifestBytes = encodeManifest({ ...v100.manifest, version: '1.0.1', modules: v100.manifest.modules.map((m) => (m.name === 'search' ? { ...m, sha256: sha101, size: search101.length } : m)) });
  const key = await importSigningKey(JSON.parse(await readFile(join(dir, 'keys', 'dev.jwk.json'), 'utf8')));
  h.node.catalog.add({ ...v100, sources: { ...v100.sources, search: search101 }, manifest: decodeManifest(manifestBytes), manifestBytes, signature: await signManifest(manifestBytes, key) }, { current: false });
  const boxT = await connectMqttTransport({ role: 'box', url: h.brokerUrl, id: 'stb-1', password: h.boxSecret('stb-1'), log: () => {}, deadPath: { initialRttMs: 1000 } });
  const box = new Channel({ self: { vaddr: 'weft://box/stb-1/inbox' }, write: (e: Envelope) => boxT.send(e), timeoutMs: 30_000 });
  boxT.onEnvelope((e) => box.receive(e));
  const open = async (version: string, previous?: string) =>
    checkOpenReply(await box.request({ vaddr: SESSIONS_VADDR }, { app: 'guide', version, boxId: 'stb-1', report: legacy('stb-1'), ...(previous === undefined ? {} : { previous }) }, { op: SessionOps.open }));
  try {
    const s = await open('1.0.0');
    const search = s.modules.find((m) => m.module === 'search' && m.side === 'headend')?.vaddr as string;
    t.truthy(search, 'search on the head-end for a legacy box');
    for (let i = 0; i < 3; i++) await box.request({ vaddr: search }, { op: 'search', q: 'news', limit: 2 });
    const during: Promise<unknown>[] = [];
    for (let i = 0; i < 5; i++) during.push(box.request({ vaddr: search }, { op: 'search', q: 'film', limit: 2 }));
    const switched = open('1.0.1', s.session);
    for (let i = 0; i < 5; i++) during.push(box.request({ vaddr: search }, { op: 'search', q: 'sport', limit: 2 }));
    const reply = await switched;
    const answers = (await Promise.all(during)) as { q: string }[];
    t.is(reply.session, s.session);
    t.deepEqual(answers.map((a) => a.q), [...Array(5).fill('film'), ...Array(5).fill('sport')], 'every search across the switch answered');
    const stats = (await box.request({ vaddr: search }, { op: 'stats' })) as { queries: number; entries: number };
    t.is(stats.queries, 13, 'the 1.0.1 instance goes on from the 1.0.0 state');
    t.true(stats.entries > 0, 'its index came along (no refetch needed)');
    t.is(h.node.upgrades.upgraded, 1);
    t.is(h.node.catalog.pinned(s.session), '1.0.1');
    const specs = [...h.node.table.hosted.values()].flatMap((x) => x.iids).map((i) => h.node.portions.spec(i)).filter((p) => p?.session === s.session);
    t.true(specs.length > 0 && specs.every((p) => decodeManifest(p?.manifest as Uint8Array).version === '1.0.1'), 'only 1.0.1 instances serve the session');
  } finally {
    await boxT.close();
    await h.close();
    await rm(dir, { recursive: true, force: true });
  }
});
