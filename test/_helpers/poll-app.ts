// The "poll" app of the app-wide versioning tests (issue 15.6): a box module, a per-session
// `ballot`, and an app-wide `tally` that counts votes and says which version's code counted them;
// and a box that opens sessions of it and votes, on the deterministic head-end tier.
import { SessionOps, checkOpenReply, type Clock, type OpenReply } from '../../runtime/index.ts';
import { decodeManifest } from '../../runtime/app/index.ts';
import type { ModuleSpec } from './apps.ts';
import type { MemoryNode } from './headend.ts';
import type { FakeModule } from './in-thread-pool.ts';
import type { MemoryNet } from './memory-net.ts';
import { lowEndReport as report, memoryBox } from './memory-tier.ts';

/** The poll app's modules; `tallySource` tells two versions' app-wide code apart. */
export const poll = (tallySource: string): ModuleSpec[] => [
  { name: 'ui', kind: 'client', source: `weft.on('key', () => {});` },
  { name: 'ballot', kind: 'server', source: `weft.on('request', (b) => b);` },
  { name: 'tally', kind: 'server', scope: 'app', critical: { guard: 'queue' }, source: tallySource },
];

/** The app-wide module: adds `votes`, and says which version's code counted them. */
export const tally: FakeModule = (body, _env, state, spec) => {
  state.n += (body as { votes?: number } | undefined)?.votes ?? 0;
  return { total: state.n, version: decodeManifest(spec.manifest).version };
};

/** A box on `net`: `open` a session of poll at a node, `vote` through a node (which need not host it). */
export function pollBox(net: MemoryNet, clock: Clock) {
  const { box, transport } = memoryBox(net, clock);
  const open = async (n: MemoryNode, boxId: string, version: string, previous?: string): Promise<OpenReply> =>
    checkOpenReply(await box.request({ vaddr: `weft://headend/${n.id}/sessions`, udp: n.udpAddress }, { app: 'poll', version, boxId, report: report(boxId), ...(previous === undefined ? {} : { previous }) }, { op: SessionOps.open }));
  const vote = async (n: MemoryNode, s: OpenReply, votes: number): Promise<{ total: number; version: string }> =>
    (await box.request({ vaddr: `weft://poll/${s.session}/tally`, udp: n.udpAddress }, { votes })) as { total: number; version: string };
  return { box, transport, open, vote };
}
