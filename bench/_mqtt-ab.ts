// A/B of the MQTT request path, old and new code alternating in one process (docs/PERFORMANCE.md,
// "Request path, wave 5"): `npx tsx bench/_mqtt-ab.ts <old tree> [n] [rounds] [aedes|mosquitto]`,
// <old tree> as for bench/_reqpath-ab.ts (runtime/ and transport/ of the code to compare against).
// Per round and side: n requests with 32 in flight (bench -- mqtt's window) and 300 sequential;
// prints the medians of requests/s, this process's CPU per request (mosquitto runs apart) and the
// sequential RTT p50, and the load average.

import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as newRuntime from '../runtime/index.ts';
import * as newMqtt from '../transport/mqtt.ts';
import { startAedesBroker } from '../headend/broker/broker-aedes.ts';
import { staticCredentials } from '../headend/broker/broker-auth.ts';
import { startMosquitto } from '../test/_helpers/mosquitto.ts';
import { which } from '../test/_helpers/env.ts';

type Runtime = typeof newRuntime;
type Mqtt = typeof newMqtt;
const [oldTree, nArg, roundsArg, brokerArg] = process.argv.slice(2);
if (oldTree === undefined) {
  console.error('usage: npx tsx bench/_mqtt-ab.ts <old tree> [n] [rounds] [aedes|mosquitto]');
  process.exit(2);
}
const N = Number(nArg ?? 4000);
const ROUNDS = Number(roundsArg ?? 6);
const BROKER = brokerArg ?? 'mosquitto';
const url = (p: string): string => pathToFileURL(resolve(oldTree, p)).href;
const oldRuntime = (await import(url('runtime/index.ts'))) as Runtime;
const oldMqtt = (await import(url('transport/mqtt.ts'))) as Mqtt;
const USERS = [
  { role: 'headend' as const, id: 'node-1', password: 'bench-node' },
  { role: 'box' as const, id: 'box-a', password: 'bench-box' },
];
const UNLIMITED = { perSec: 1e9, burst: 1e9 };
const SERVICE = { vaddr: 'weft://bench/s1/echo' };
const BODY = new Uint8Array(64).map((_, i) => (i * 37) & 0xff);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const cpuUs = (): number => {
  const c = process.cpuUsage();
  return c.user + c.system;
};

let brokerUrl: string;
let stop: () => Promise<void>;
if (BROKER === 'aedes') {
  const b = await startAedesBroker({ credentials: staticCredentials(USERS), rateLimit: UNLIMITED, log: () => {} });
  [brokerUrl, stop] = [b.url, () => b.close()];
} else {
  const m = await startMosquitto(which('mosquitto') as string, { users: USERS });
  [brokerUrl, stop] = [m.url, () => m.stop()];
}

/** One round of one side: [requests/s, CPU us per request, sequential RTT p50 us]. */
async function round(R: Runtime, M: Mqtt): Promise<[number, number, number]> {
  const common = { rateLimit: UNLIMITED, log: () => {}, deadPath: { initialRttMs: 1000 } };
  const node = await M.connectMqttTransport({ role: 'headend', url: brokerUrl, id: 'node-1', password: 'bench-node', ...common });
  const box = await M.connectMqttTransport({ role: 'box', url: brokerUrl, id: 'box-a', password: 'bench-box', ...common });
  const writer = (t: newRuntime.Transport): Pick<newRuntime.ChannelOptions, 'write' | 'post'> => (t.post !== undefined ? { post: (e, done) => t.post?.(e, done) } : { write: (e) => t.send(e) });
  const server = new R.Channel({ self: SERVICE, ...writer(node), onRequest: (req) => req.body });
  node.onEnvelope((e) => server.receive(e));
  const client = new R.Channel({ self: box.address, ...writer(box), timeoutMs: 10_000 });
  box.onEnvelope((e) => client.receive(e));
  for (let i = 0; i < 300; i++) await client.request(SERVICE, BODY);
  let left = N;
  const c0 = cpuUs();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (left-- > 0) await client.request(SERVICE, BODY);
  }));
  const secs = (performance.now() - t0) / 1000;
  const cpu = (cpuUs() - c0) / N;
  const rtt: number[] = [];
  for (let i = 0; i < 300; i++) {
    const s = performance.now();
    await client.request(SERVICE, BODY);
    rtt.push((performance.now() - s) * 1000);
  }
  await Promise.all([box.close(), node.close()]);
  return [N / secs, cpu, median(rtt)];
}

const before: [number, number, number][] = [];
const after: [number, number, number][] = [];
for (let r = 0; r < ROUNDS; r++) {
  if (r % 2 === 0) {
    before.push(await round(oldRuntime, oldMqtt));
    after.push(await round(newRuntime, newMqtt));
  } else {
    after.push(await round(newRuntime, newMqtt));
    before.push(await round(oldRuntime, oldMqtt));
  }
}
await stop();
const m = (xs: [number, number, number][], i: 0 | 1 | 2): number => median(xs.map((x) => x[i]));
console.log(JSON.stringify({
  bench: 'mqtt-ab',
  broker: BROKER,
  old_req_per_s: m(before, 0),
  new_req_per_s: m(after, 0),
  old_cpu_us_per_req: m(before, 1),
  new_cpu_us_per_req: m(after, 1),
  old_rtt_p50_us: m(before, 2),
  new_rtt_p50_us: m(after, 2),
  load: loadavg()[0],
}));
