// Two versions of one app and a deterministic head-end rig for version pairing (issue 15.6):
// in-memory network, manual clock, in-thread portion host whose server module ('counter')
// answers with its count and the version of the manifest its instance was started with.
import { Channel, ManualClock, SessionOps, checkOpenReply, ok, type Envelope, type OpenReply } from '../../runtime/index.ts';
import { decodeManifest } from '../../runtime/app/index.ts';
import type { PlacementPolicy } from '../../policy/index.ts';
import type { PublishedApp } from '../../headend/app-catalog.ts';
import { MIXED_APP, signedApp } from './apps.ts';
import { memoryNode, memoryRegistry, type MemoryNode } from './headend.ts';
import type { FakeModule } from './in-thread-pool.ts';
import { MemoryNet } from './memory-net.ts';
import { lowEndReport as report } from './memory-tier.ts';

/** Places on `id`; when `id` is excluded (it died), on the first node that is not. */
const here = (id: string): PlacementPolicy => ({
  name: 'here',
  place: (view, req) => {
    const node = req.exclude?.includes(id) === true ? (view.nodes.find((n) => !(req.exclude ?? []).includes(n.node))?.node ?? id) : id;
    return ok({ node, index: view.nodes.findIndex((n) => n.node === node), score: 0 });
  },
});
/** The server module: counts, and says which version's code runs. */
const counter: FakeModule = (_b, _e, st, spec) => ({ n: ++st.n, version: decodeManifest(spec.manifest).version });

export async function twoVersions(): Promise<{ v100: PublishedApp; v101: PublishedApp; trusted: Awaited<ReturnType<typeof signedApp>>['trusted'] }> {
  const a = await signedApp('mix', MIXED_APP, '1.0.0');
  const b = await signedApp('mix', MIXED_APP.map((m) => (m.name === 'counter' ? { ...m, source: `${m.source}\n// 1.0.1` } : m)), '1.0.1', a.key);
  return { v100: a.pub, v101: b.pub, trusted: a.trusted };
}

/** Two versions whose head-end code is byte for byte the same (a release that changed only the box's side). */
export async function sameServerCode(): Promise<{ v100: PublishedApp; v101: PublishedApp; trusted: Awaited<ReturnType<typeof signedApp>>['trusted'] }> {
  const a = await signedApp('mix', MIXED_APP, '1.0.0');
  const b = await signedApp('mix', MIXED_APP, '1.0.1', a.key);
  return { v100: a.pub, v101: b.pub, trusted: a.trusted };
}

export async function rig(apps: PublishedApp[], trusted: Awaited<ReturnType<typeof signedApp>>['trusted'], ids = ['n1'], placeOn?: string) {
  const clock = new ManualClock();
  const net = new MemoryNet();
  const registry = memoryRegistry(clock);
  const nodes: MemoryNode[] = [];
  for (const id of ids) nodes.push(await memoryNode({ id, net, clock, registry, apps, trusted, policy: here(placeOn ?? id), modules: { counter } }));
  for (const n of nodes) await n.refreshPeers();
  const boxT = net.open();
  const box = new Channel({ self: { vaddr: 'weft://box/b/inbox', udp: boxT.address.udp }, write: (e: Envelope) => boxT.send(e), clock, timeoutMs: 15_000 });
  boxT.onEnvelope((e) => box.receive(e));
  const open = async (n: MemoryNode, boxId: string, version: string, previous?: string): Promise<OpenReply> =>
    checkOpenReply(await box.request({ vaddr: `weft://headend/${n.id}/sessions`, udp: n.udpAddress }, { app: 'mix', version, boxId, report: report(boxId), ...(previous === undefined ? {} : { previous }) }, { op: SessionOps.open }));
  const ask = async (n: MemoryNode, s: OpenReply): Promise<{ n: number; version: string }> => (await box.request({ vaddr: s.dasp, udp: n.udpAddress }, {})) as { n: number; version: string };
  const close = async (): Promise<void> => {
    for (const n of nodes) await n.close();
    await boxT.close();
    await registry.close();
  };
  return { clock, net, registry, nodes, box, open, ask, close };
}

