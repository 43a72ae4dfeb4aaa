// App-wide modules across versions on a real two-node cluster (issue 15.6, scope: app): two
// `weft headend node` processes on a real mosquitto (MQTT 5, shared subscription) and a real
// redis-server (registry, release store, app-wide checkpoints). A candidate poll with a new tally
// runs its own instance beside the live one, whichever node a box's request enters; the node
// running it is killed and the survivor restores the candidate's state from the candidate's own
// checkpoint; sessions that switch reach the new version's instance, and once none is pinned to
// the candidate its instance stops. Each step waits on a reply or a line the nodes print.
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SESSIONS_VADDR, SessionOps, checkOpenReply, type ResourceReport } from '../../runtime/index.ts';
import { startNodeCluster } from '../_helpers/node-cluster.ts';
import type { NodeProc } from '../_helpers/node-proc.ts';
import { pollWithNewTally } from '../_helpers/poll-versions.ts';

const NODES = ['node-1', 'node-2'];
const BOXES = ['stb-a', 'stb-b'];
const TOKEN = 'shared-versions-token-0123456789';
const report = (boxId: string): ResourceReport => ({ boxId, profile: 'hd-dvr', freeMemoryBytes: 256 * 1024, appMemoryBytes: 4 << 20, cpuClass: 'low', cpuLoad: 0.1, storageFreeBytes: 0, sandboxBytes: 0, twoWayUp: true, at: Date.now() });

test('two node processes on mosquitto + redis: each version\'s tally counts its own sessions, survives its node, and the candidate\'s stops when no session is pinned to it', async (t) => {
  t.timeout(180_000);
  const c = await startNodeCluster(t, { nodes: NODES, boxes: BOXES, token: TOKEN, clusterKey: 'weft-shared-versions-test-key', tmpPrefix: 'weft-shared-versions-' });
  if (c === undefined) return;
  const { dir, nodes, channels, weft } = c;
  try {
    const plan = join(dir, 'plan.json');
    writeFileSync(plan, JSON.stringify({ waves: [{ percent: 100, probationS: 3600, errorBudget: 0.5 }], quorum: 0.9, stallS: 3600 }));
    const [n1, n2] = nodes as [NodeProc, NodeProc];
    const open = async (i: number, version: string, previous?: string): Promise<string> =>
      checkOpenReply(await channels[i]!.request({ vaddr: SESSIONS_VADDR }, { app: 'poll', version, boxId: BOXES[i], report: report(BOXES[i]!), ...(previous === undefined ? {} : { previous }) }, { op: SessionOps.open })).session;
    // A vote as apps/poll/ui.ts sends it: one rid, retried until it is counted (a node may be dying).
    let seq = 0;
    const vote = async (i: number, session: string, choice: number): Promise<number[]> => {
      const rid = `v${++seq}`;
      for (let attempt = 0; ; attempt++) {
        try {
          return ((await channels[i]!.request({ vaddr: `weft://poll/${session}/tally` }, { op: 'vote', choice, rid }, { timeoutMs: 3000 })) as { totals: number[] }).totals;
        } catch (e) {
          if (attempt >= 20) throw e;
        }
      }
    };

    await weft(['app', 'publish', await pollWithNewTally(join(dir, 'dist', 'apps', 'poll'), join(dir, 'poll-1.0.1'), join(dir, 'keys', 'dev.jwk.json'), '1.0.1'), '--headend', n1.url, '--token', TOKEN]);
    await weft(['app', 'promote', 'poll', '1.0.1', '--plan', plan, '--headend', n2.url, '--token', TOKEN]);
    for (const n of nodes) await n.until(/serving poll 1\.0\.1 beside live/, `${n.id} serving the candidate`);

    let a = await open(0, '1.0.0');
    let b = await open(1, '1.0.1');
    t.deepEqual(await vote(0, a, 0), [1, 0, 0]);
    t.deepEqual(await vote(0, a, 0), [2, 0, 0]);
    t.deepEqual(await vote(1, b, 2), [0, 0, 1], 'the candidate\'s box is counted by the candidate\'s tally alone');
    t.deepEqual(await vote(0, a, 0), [3, 0, 0], 'and the live box by the live tally alone');

    // The node running the candidate's tally dies; the survivor claims it and restores its checkpoint.
    const host = await Promise.race(nodes.map((n) => n.until(/app-wide poll 1\.0\.1 .*tally runs here/, 'the candidate\'s tally').then(() => n)));
    const survivor = host === n1 ? n2 : n1;
    const mark = survivor.lines.length;
    host.child.kill('SIGKILL');
    t.deepEqual(await vote(1, b, 2), [0, 0, 2], 'the candidate goes on from its own checkpoint on the survivor');
    await survivor.until(/app-wide poll 1\.0\.1 .*tally runs here.*restored from its checkpoint/, 'the survivor restored the candidate', mark);
    t.deepEqual(await vote(0, a, 1), [3, 1, 0], 'the live tally kept its own count');

    // stb-a switches to the candidate: its next vote is the candidate's.
    a = await open(0, '1.0.1', a);
    t.deepEqual(await vote(0, a, 1), [0, 1, 2]);
    // Rolled back: both boxes return to 1.0.0; no session is pinned to the candidate any more.
    const before = survivor.lines.length;
    a = await open(0, '1.0.0', a);
    b = await open(1, '1.0.0', b);
    await survivor.until(/app-wide poll \(c[0-9a-f]+\): no session is pinned to it; stopped/, 'the candidate\'s tally stops', before);
    t.deepEqual(await vote(1, b, 2), [3, 1, 1], 'back on the live tally');
  } finally {
    await c.close();
  }
});
