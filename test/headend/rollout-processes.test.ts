// Rollout on a real two-node cluster (issue 15, done-when): two `weft headend node` processes on
// a real mosquitto (MQTT 5, shared subscription) and a real redis-server (registry and release
// store). Publish through one node's admin API, promote through the other's; boxes pair with the
// candidate's server portion on whichever node takes their open; their failure reports, heard by
// either node, reach the one driver, which halts and rolls back; an operator's rollback makes an
// older version live again. Each step waits on a line the nodes print, not on time.
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Codes, RemoteError, SESSIONS_VADDR, STATS_VADDR, SessionOps, checkOpenReply, type ResourceReport } from '../../runtime/index.ts';
import { builtAppAt } from '../_helpers/app-version.ts';
import { startNodeCluster } from '../_helpers/node-cluster.ts';
import type { NodeProc } from '../_helpers/node-proc.ts';

const NODES = ['node-1', 'node-2'];
const BOXES = ['stb-a', 'stb-b'];
const TOKEN = 'rollout-cluster-token-0123456789';

const report = (boxId: string, outcome?: { version: string; outcome: 'reverted' | 'committed' }): ResourceReport =>
  ({ boxId, profile: 'hd-dvr', freeMemoryBytes: 256 * 1024, appMemoryBytes: 4 << 20, cpuClass: 'low', cpuLoad: 0.1, storageFreeBytes: 0, sandboxBytes: 0, twoWayUp: true, at: Date.now(), ...(outcome === undefined ? {} : { rollout: [{ app: 'guide', ...outcome, at: Date.now() }] }) }) as ResourceReport;

/** The built guide at another version, signed with the build's dev key. */
const version = (dir: string, v: string): Promise<string> => builtAppAt(join(dir, 'dist', 'apps', 'guide'), join(dir, `guide-${v}`), join(dir, 'keys', 'dev.jwk.json'), v);

test('two node processes on mosquitto + redis: publish, promote, pair by version, one driver halts and rolls back on reports heard by either node, rollback to an older version', async (t) => {
  t.timeout(120_000);
  const c = await startNodeCluster(t, { nodes: NODES, boxes: BOXES, token: TOKEN, clusterKey: 'weft-rollout-processes-test-key', tmpPrefix: 'weft-rollout-cluster-' });
  if (c === undefined) return;
  const { dir, nodes, channels, weft } = c;
  try {
    const plan = join(dir, 'plan.json');
    writeFileSync(plan, JSON.stringify({ waves: [{ percent: 100, probationS: 3600, errorBudget: 0.5 }], quorum: 0.9, stallS: 3600 }));
    const [n1, n2] = nodes as [NodeProc, NodeProc];
    const open = (i: number, v: string) => channels[i]!.request({ vaddr: SESSIONS_VADDR }, { app: 'guide', version: v, boxId: BOXES[i], report: report(BOXES[i]!) }, { op: SessionOps.open });

    // Publish through node-1; node-2 sees it in the shared store; promote through node-2.
    await weft(['app', 'publish', await version(dir, '1.0.1'), '--headend', n1.url, '--token', TOKEN]);
    const staged = JSON.parse(await weft(['app', 'status', 'guide', '--json', '--headend', n2.url])) as { version: string; state: string }[];
    t.is(staged.find((r) => r.version === '1.0.1')?.state, 'staged');
    await weft(['app', 'promote', 'guide', '1.0.1', '--plan', plan, '--headend', n2.url, '--token', TOKEN]);
    // Both nodes serve the candidate beside live (node-1 at its next catalog sync).
    for (const n of nodes) await n.until(/serving guide 1\.0\.1 beside live/, `${n.id} serving the candidate`);
    for (const i of [0, 1]) t.is(checkOpenReply(await open(i, '1.0.1')).modules.length > 0, true, 'a box on the candidate pairs with it');
    const e = await t.throwsAsync(open(0, '9.9.9'));
    t.true(e instanceof RemoteError && e.remoteCode === Codes.VERSION_MISMATCH, `an unknown version: ${(e as Error).message}`);

    // Both boxes revert; each report goes to whichever node the shared subscription picks.
    for (const [i, ch] of channels.entries()) await ch.send({ vaddr: STATS_VADDR }, report(BOXES[i]!, { version: '1.0.1', outcome: 'reverted' }), { op: SessionOps.report, kind: 'stat' });
    const halted = await Promise.race(nodes.map((n) => n.until(/guide 1\.0\.1 halted/, 'the halt').then(() => n)));
    const after = JSON.parse(await weft(['app', 'status', 'guide', '--json', '--headend', n1.url])) as { version: string; state: string }[];
    t.is(after.find((r) => r.version === '1.0.1')?.state, 'rolled-back');
    t.is(nodes.filter((n) => n.lines.some((l) => /guide 1\.0\.1 halted/.test(l))).length, 1, `one driver (${halted.id}) decided`);

    // A version made live, then an operator's rollback to the older one.
    const marks = nodes.map((n) => n.lines.length);
    await weft(['app', 'publish', await version(dir, '1.0.2'), '--headend', n2.url, '--token', TOKEN]);
    await weft(['app', 'promote', 'guide', '1.0.2', '--now', '--headend', n1.url, '--token', TOKEN]);
    await weft(['app', 'rollback', 'guide', '1.0.0', '--headend', n2.url, '--token', TOKEN]);
    const last = JSON.parse(await weft(['app', 'status', 'guide', '--json', '--headend', n1.url])) as { version: string; state: string }[];
    t.deepEqual(Object.fromEntries(last.map((r) => [r.version, r.state])), { '1.0.0': 'live', '1.0.1': 'rolled-back', '1.0.2': 'retired' });
    for (const [i, n] of nodes.entries()) await n.until(/serving guide 1\.0\.0 as live/, `${n.id} serving 1.0.0 as live again`, marks[i]);
    t.true(checkOpenReply(await open(1, '1.0.0')).modules.length > 0);
  } finally {
    await c.close();
  }
});
