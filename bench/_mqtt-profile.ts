// A CPU-profile driver for the MQTT request path (docs/PERFORMANCE.md, "Request path, wave 5"):
// `node --import tsx --cpu-prof --cpu-prof-dir=<dir> bench/_mqtt-profile.ts <raw|weft> [n] [aedes|mosquitto]`
// runs n requests with 32 in flight (bench -- mqtt's throughput window) of one rig on one broker
// and prints requests/s and this process's CPU per request (both ends run here; mosquitto apart).

import { performance } from 'node:perf_hooks';
import { Channel, type ChannelOptions, type Transport } from '../runtime/index.ts';
import { startAedesBroker } from '../headend/broker/broker-aedes.ts';
import { staticCredentials } from '../headend/broker/broker-auth.ts';
import { connectMqttTransport, openRawClient } from '../transport/mqtt.ts';
import { TopicScheme, boxAddress } from '../transport/mqtt-topics.ts';
import { startMosquitto } from '../test/_helpers/mosquitto.ts';
import { which } from '../test/_helpers/env.ts';

const mode = process.argv[2] ?? 'weft';
const N = Number(process.argv[3] ?? 40_000);
const brokerKind = process.argv[4] ?? 'mosquitto';
const WINDOW = 32;
const BODY = new Uint8Array(64).map((_, i) => (i * 37) & 0xff);
const USERS = [
  { role: 'headend' as const, id: 'node-1', password: 'bench-node' },
  { role: 'box' as const, id: 'box-a', password: 'bench-box' },
];
const UNLIMITED = { perSec: 1e9, burst: 1e9 };
const SERVICE = { vaddr: 'weft://bench/s1/echo' };
const topics = new TopicScheme();
const writer = (t: Transport): Pick<ChannelOptions, 'write' | 'post'> => (t.post !== undefined ? { post: (e, done) => t.post?.(e, done) } : { write: (e) => t.send(e) });

async function weft(url: string): Promise<[() => Promise<void>, () => Promise<void>]> {
  const common = { rateLimit: UNLIMITED, log: () => {}, deadPath: { initialRttMs: 1000 } };
  const node = await connectMqttTransport({ role: 'headend', url, id: 'node-1', password: 'bench-node', ...common });
  const box = await connectMqttTransport({ role: 'box', url, id: 'box-a', password: 'bench-box', ...common });
  const server = new Channel({ self: SERVICE, ...writer(node), onRequest: (req) => req.body });
  node.onEnvelope((e) => server.receive(e));
  const client = new Channel({ self: box.address, ...writer(box), timeoutMs: 10_000 });
  box.onEnvelope((e) => client.receive(e));
  return [() => client.request(SERVICE, BODY).then(() => undefined), async () => void (await Promise.all([box.close(), node.close()]))];
}

async function raw(url: string): Promise<[() => Promise<void>, () => Promise<void>]> {
  const reqTopic = topics.up('box-a', SERVICE.vaddr);
  const repTopic = topics.down('box-a', boxAddress('box-a').vaddr as string);
  const responder = await openRawClient(url, { username: 'node-1@headend', clientId: 'node-1@headend', password: 'bench-node' });
  const requester = await openRawClient(url, { username: 'box-a', clientId: 'box-a', password: 'bench-box' });
  await responder.subscribeAsync(topics.upFilter(), { qos: 1 });
  await requester.subscribeAsync(topics.downFilter('box-a'), { qos: 1 });
  responder.on('message', (_t, payload) => responder.publish(repTopic, payload, { qos: 1 }));
  const waiting = new Map<number, () => void>();
  let next = 0;
  requester.on('message', (_t, payload) => {
    const id = payload.readUInt32BE(0);
    const done = waiting.get(id);
    waiting.delete(id);
    done?.();
  });
  const once = (): Promise<void> =>
    new Promise<void>((resolve) => {
      const id = next++ >>> 0;
      const payload = Buffer.allocUnsafe(4 + BODY.length);
      payload.writeUInt32BE(id, 0);
      payload.set(BODY, 4);
      waiting.set(id, resolve);
      requester.publish(reqTopic, payload, { qos: 1 });
    });
  return [once, async () => void (await Promise.all([requester.endAsync(), responder.endAsync()]))];
}

let url: string;
let stop: () => Promise<void>;
if (brokerKind === 'aedes') {
  const b = await startAedesBroker({ credentials: staticCredentials(USERS), rateLimit: UNLIMITED, log: () => {} });
  url = b.url;
  stop = () => b.close();
} else {
  const m = await startMosquitto(which('mosquitto') as string, { users: USERS });
  url = m.url;
  stop = () => m.stop();
}
const [once, close] = mode === 'raw' ? await raw(url) : await weft(url);
for (let i = 0; i < 2000; i++) await once();
let left = N;
const c0 = process.cpuUsage();
const t0 = performance.now();
await Promise.all(Array.from({ length: WINDOW }, async () => {
  while (left-- > 0) await once();
}));
const secs = (performance.now() - t0) / 1000;
const c = process.cpuUsage(c0);
await close();
await stop();
console.log(JSON.stringify({ mode, broker: brokerKind, n: N, req_per_s: N / secs, cpu_us_per_req: (c.user + c.system) / N }));
