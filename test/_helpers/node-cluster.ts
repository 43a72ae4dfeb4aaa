// Head-end nodes as `weft headend node` processes on a real mosquitto (MQTT 5, one shared
// subscription) and a real redis-server (registry and release store), serving the built apps, with
// an MQTT channel per box: the rig of the cluster tests on real processes. It starts and stops;
// what the nodes are asked and what is checked stays in the tests.
import type { ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Channel, type Envelope } from '../../runtime/index.ts';
import { connectMqttTransport, type MqttTransport } from '../../transport/mqtt.ts';
import { needProgram } from './env.ts';
import { startMosquitto } from './mosquitto.ts';
import { startNodeProc, type NodeProc } from './node-proc.ts';
import { startRedis } from './redis.ts';
// @ts-expect-error build.mjs is plain JavaScript without types
import { build } from '../../build.mjs';

const CLI = new URL('../../cli/main.ts', import.meta.url).pathname;
const run = promisify(execFile);

export interface NodeClusterOptions {
  /** Node ids, started one after the other (each logs in as `<id>` / `<id>-pw`). */
  nodes: string[];
  /** Box ids: each logs in as `<id>` / `<id>-pw` and gets a channel. */
  boxes: string[];
  /** The nodes' --console-token. */
  token: string;
  /** WEFT_CLUSTER_KEY of the nodes. */
  clusterKey: string;
  /** Prefix of the work folder's name under the system's temporary folder. */
  tmpPrefix: string;
}

export interface NodeCluster {
  /** The work folder: `dist/` (the build, its apps in `dist/apps`) and `keys/` (its dev key). */
  dir: string;
  nodes: NodeProc[];
  /** One per box, in the order of `boxes`. */
  channels: Channel[];
  /** `weft <args>` from source; gives its stdout. */
  weft(args: string[]): Promise<string>;
  /** Close the boxes, stop the nodes, the broker and redis, remove the work folder. */
  close(): Promise<void>;
}

/**
 * Build the apps, start redis-server and mosquitto, the nodes and the boxes' channels; undefined
 * when mosquitto or redis-server is missing (the test then marked skipped, failed under
 * WEFT_REQUIRE_ALL=1). On a failure part way, what started is stopped before it throws.
 */
export async function startNodeCluster(t: ExecutionContext, o: NodeClusterOptions): Promise<NodeCluster | undefined> {
  const mosquitto = needProgram(t, 'mosquitto', 'the shared MQTT broker of a multi-machine head-end');
  const redis = needProgram(t, 'redis-server', 'the registry and release store of a multi-machine head-end');
  if (mosquitto === undefined || redis === undefined) return undefined;
  const dir = await mkdtemp(join(tmpdir(), o.tmpPrefix));
  const nodes: NodeProc[] = [];
  const boxes: MqttTransport[] = [];
  const stops: (() => Promise<void>)[] = [];
  const close = async (): Promise<void> => {
    for (const b of boxes) await b.close().catch(() => undefined);
    await Promise.all(nodes.map((n) => n.stop()));
    for (const stop of stops.reverse()) await stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await build({ out: join(dir, 'dist'), keys: join(dir, 'keys'), quiet: true, firmware: false });
    const users = [...o.nodes.map((id) => ({ id, password: `${id}-pw`, role: 'headend' as const })), ...o.boxes.map((id) => ({ id, password: `${id}-pw`, role: 'box' as const }))];
    const rs = await startRedis(redis);
    stops.push(() => rs.stop());
    const mq = await startMosquitto(mosquitto, { users, ownPasswordFile: true });
    stops.push(() => mq.stop());
    for (const id of o.nodes) {
      nodes.push(await startNodeProc(id, ['--broker', mq.url, '--password', `${id}-pw`, '--mqtt5', '--share-group', 'heads', '--registry', rs.url, '--apps', join(dir, 'dist', 'apps'), '--keys', join(dir, 'keys'), '--interval', '300', '--console-token', o.token], o.clusterKey));
    }
    const channels = await Promise.all(
      o.boxes.map(async (id) => {
        const tr = await connectMqttTransport({ role: 'box', url: mq.url, id, password: `${id}-pw`, protocolVersion: 5, log: () => {}, deadPath: { initialRttMs: 1000 } });
        boxes.push(tr);
        const ch = new Channel({ self: { vaddr: `weft://box/${id}/inbox` }, write: (e: Envelope) => tr.send(e), timeoutMs: 30_000 });
        tr.onEnvelope((e) => ch.receive(e));
        return ch;
      }),
    );
    const weft = (args: string[]): Promise<string> => run(process.execPath, ['--import', 'tsx', CLI, ...args]).then((r) => r.stdout);
    return { dir, nodes, channels, weft, close };
  } catch (e) {
    await close();
    throw e;
  }
}
