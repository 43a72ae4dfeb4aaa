// Three head-end nodes as separate processes (`weft headend node`) on a real mosquitto (MQTT 5,
// shared subscription) and a real redis-server registry place 300 sessions across themselves.
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Channel, SESSIONS_VADDR, SessionOps, checkOpenReply, type Envelope, type OpenReply, type ResourceReport } from '../../runtime/index.ts';
import { connectMqttTransport, type MqttTransport } from '../../transport/mqtt.ts';
import { needProgram } from '../_helpers/env.ts';
import { startMosquitto } from '../_helpers/mosquitto.ts';
import { startNodeProc, type NodeProc } from '../_helpers/node-proc.ts';
import { startRedis } from '../_helpers/redis.ts';
// @ts-expect-error build.mjs is plain JavaScript without types
import { build } from '../../build.mjs';

const BOXES = 60;
const PER_BOX = 5;
const NODES = ['node-1', 'node-2', 'node-3'];

const report = (boxId: string): ResourceReport => ({ boxId, profile: 'legacy-sd', freeMemoryBytes: 256 * 1024, appMemoryBytes: 4 << 20, cpuClass: 'low', cpuLoad: 0.1, storageFreeBytes: 0, sandboxBytes: 0, twoWayUp: true, at: Date.now() });

test('three node processes on mosquitto + redis place 300 sessions across themselves [c13, c15, c32, c41, c43]', async (t) => {
  const mosquitto = needProgram(t, 'mosquitto', 'the shared MQTT broker of a multi-machine head-end');
  const redis = needProgram(t, 'redis-server', 'the shared registry of a multi-machine head-end');
  if (mosquitto === undefined || redis === undefined) return;
  t.timeout(180_000);
  const dir = await mkdtemp(join(tmpdir(), 'weft-cluster-'));
  await build({ out: join(dir, 'dist'), keys: join(dir, 'keys'), quiet: true, firmware: false });
  const users = [
    ...NODES.map((id) => ({ id, password: `${id}-pw`, role: 'headend' as const })),
    ...Array.from({ length: BOXES }, (_, i) => ({ id: `stb-${i}`, password: `stb-${i}-pw`, role: 'box' as const })),
  ];
  const rs = await startRedis(redis);
  const mq = await startMosquitto(mosquitto, { users, ownPasswordFile: true });
  const procs: NodeProc[] = [];
  const boxes: MqttTransport[] = [];
  try {
    // The default heartbeat interval (1000 ms: a peer silent 2.5 s is dead). At 300 ms (dead after
    // 750 ms) a node process's loop stalls on the shared 2-core machine (p90 550 ms, max 1.6 s)
    // made false deaths and re-placements in 3 of 4 runs; their product side is
    // cluster-false-death.test.ts, not this test's subject.
    for (const id of NODES) {
      // Waits for the node's ready line or its exit, not a time: on a loaded machine compiling and
      // starting a node took over 30 s (the test's own timeout bounds it).
      procs.push(await startNodeProc(id, ['--broker', mq.url, '--password', `${id}-pw`, '--mqtt5', '--share-group', 'heads', '--registry', rs.url, '--apps', join(dir, 'dist', 'apps'), '--keys', join(dir, 'keys'), '--interval', '1000'], 'weft-cluster-processes-test-key'));
    }
    // No wait for statistics: the shared subscription hands each session.open to one node, and a
    // node without reports yet places on itself, so the sessions spread either way.
    const replies: OpenReply[] = [];
    const firsts: { ch: Channel; search: string }[] = [];
    await Promise.all(
      Array.from({ length: BOXES }, async (_, i) => {
        const id = `stb-${i}`;
        const tr = await connectMqttTransport({ role: 'box', url: mq.url, id, password: `${id}-pw`, protocolVersion: 5, log: () => {}, deadPath: { initialRttMs: 1000 } });
        boxes.push(tr);
        const ch = new Channel({ self: { vaddr: `weft://box/${id}/inbox` }, write: (e: Envelope) => tr.send(e), timeoutMs: 30_000 });
        tr.onEnvelope((e) => ch.receive(e));
        for (let k = 0; k < PER_BOX; k++) {
          const r = checkOpenReply(await ch.request({ vaddr: SESSIONS_VADDR }, { app: 'guide', version: '1.0.0', boxId: id, report: report(id) }, { op: SessionOps.open }));
          replies.push(r);
          if (k === 0) firsts.push({ ch, search: r.modules.find((m) => m.module === 'search')?.vaddr as string });
        }
      }),
    );
    // Each box's first session's server portion answers wherever it was placed. Asked after the
    // opens, not among them: the guide's search gives its epg call 5 s (apps/guide/search.ts),
    // which 300 portion starts beside the stress hog outran (test:stress, 5 of 5 runs).
    for (const f of firsts) {
      const s = (await f.ch.request({ vaddr: f.search }, { op: 'search', q: 'film', limit: 3 })) as { q: string };
      t.is(s.q, 'film');
    }
    t.is(replies.length, BOXES * PER_BOX);
    t.is(new Set(replies.map((r) => r.session)).size, BOXES * PER_BOX, 'session ids are unique across nodes');
    const byNode = new Map<string, number>();
    for (const r of replies) byNode.set(r.node, (byNode.get(r.node) ?? 0) + 1);
    t.log(`sessions per node: ${JSON.stringify(Object.fromEntries(byNode))}`);
    t.is(byNode.size, 3, 'every node took sessions');
    for (const n of byNode.values()) t.true(n >= 30, `a node took only ${n} of 300`);
  } finally {
    for (const b of boxes) await b.close().catch(() => undefined);
    await Promise.all(procs.map((p) => p.stop()));
    await mq.stop();
    await rs.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
