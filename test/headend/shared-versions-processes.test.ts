// App-wide modules across versions on a real two-node cluster (issue 15.6, scope: app): two
// `weft headend node` processes on a real mosquitto (MQTT 5, shared subscription) and a real
// redis-server (registry, release store, app-wide checkpoints). A candidate poll with a new tally
// runs its own instance beside the live one, whichever node a box's request enters; the node
// running it is killed and the survivor restores the candidate's state from the candidate's own
// checkpoint; sessions that switch reach the new version's instance, and once none is pinned to
// the candidate its instance stops. Each step waits on a reply or a line the nodes print.
import test from 'ava';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Channel, SESSIONS_VADDR, SessionOps, checkOpenReply, type Envelope, type ResourceReport } from '../../runtime/index.ts';
import { connectMqttTransport, type MqttTransport } from '../../transport/mqtt.ts';
import { needProgram } from '../_helpers/env.ts';
import { startMosquitto } from '../_helpers/mosquitto.ts';
import { startNodeProc, type NodeProc } from '../_helpers/node-proc.ts';
import { pollWithNewTally } from '../_helpers/poll-versions.ts';
import { startRedis } from '../_helpers/redis.ts';
// @ts-expect-error build.mjs is plain JavaScript without types
import { build } from '../../build.mjs';

const CLI = new URL('../../cli/main.ts', import.meta.url).pathname;
const NODES = ['node-1', 'node-2'];
const BOXES = ['stb-a', 'stb-b'];
const TOKEN = 'shared-versions-token-0123456789';
const run = promisify(execFile);
const report = (boxId: string): ResourceReport => ({ boxId, profile: 'hd-dvr', freeMemoryBytes: 256 * 1024, appMemoryBytes: 4 << 20, cpuClass: 'low', cpuLoad: 0.1, storageFreeBytes: 0, sandboxBytes: 0, twoWayUp: true, at: Date.now() });

test('two node processes on mosquitto + redis: each version\'s tally counts its own sessions, survives its node, and the candidate\'s stops when no session is pinned to it', async (t) => {
  const mosquitto = needProgram(t, 'mosquitto', 'the shared MQTT broker of a multi-machine head-end');
  const redis = needProgram(t, 'redis-server', 'the registry and release store of a multi-machine head-end');
  if (mosquitto === undefined || redis === undefined) return;
  t.timeout(180_000);
  const dir = await mkdtemp(join(tmpdir(), 'weft-shared-versions-'));
  await build({ out: join(dir, 'dist'), keys: join(dir, 'keys'), quiet: true, firmware: false });
  const plan = join(dir, 'plan.json');
  writeFileSync(plan, JSON.stringify({ waves: [{ percent: 100, probationS: 3600, errorBudget: 0.5 }], quorum: 0.9, stallS: 3600 }));
  const users = [...NODES.map((id) => ({ id, password: `${id}-pw`, role: 'headend' as const })), ...BOXES.map((id) => ({ id, password: `${id}-pw`, role: 'box' as const }))];
  const rs = await startRedis(redis);
  const mq = await startMosquitto(mosquitto, { users, ownPasswordFile: true });
  const nodes: NodeProc[] = [];
  const boxes: MqttTransport[] = [];
  const weft = (args: string[]): Promise<string> => run(process.execPath, ['--import', 'tsx', CLI, ...args]).then((r) => r.stdout);
  try {
    for (const id of NODES) {
      nodes.push(await startNodeProc(id, ['--broker', mq.url, '--password', `${id}-pw`, '--mqtt5', '--share-group', 'heads', '--registry', rs.url, '--apps', join(dir, 'dist', 'apps'), '--keys', join(dir, 'keys'), '--interval', '300', '--console-token', TOKEN], 'weft-shared-versions-test-key'));
    }
    const [n1, n2] = nodes as [NodeProc, NodeProc];
    const channels = await Promise.all(
      BOXES.map(async (id) => {
        const tr = await connectMqttTransport({ role: 'box', url: mq.url, id, password: `${id}-pw`, protocolVersion: 5, log: () => {}, deadPath: { initialRttMs: 1000 } });
        boxes.push(tr);
        const ch = new Channel({ self: { vaddr: `weft://box/${id}/inbox` }, write: (e: Envelope) => tr.send(e), timeoutMs: 30_000 });
        tr.onEnvelope((e) => ch.receive(e));
        return ch;
      }),
    );
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
    for (const bx of boxes) await bx.close().catch(() => undefined);
    await Promise.all(nodes.map((n) => n.stop()));
    await mq.stop();
    await rs.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
