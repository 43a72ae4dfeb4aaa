// A CPU-profile driver for the MQTT request path (docs/PERFORMANCE.md, "Request path, wave 5"):
// `node --import tsx --cpu-prof --cpu-prof-dir=<dir> bench/_mqtt-profile.ts <raw|weft|bare> [n] [aedes|mosquitto]`
// runs n requests with 32 in flight (bench -- mqtt's throughput window) of one of its rigs (bench/_mqtt-rigs.ts; `bare`:
// Weft's transports without Channels) on one broker
// and prints requests/s and this process's CPU per request (both ends run here; mosquitto apart).

import { performance } from 'node:perf_hooks';
import { startAedesBroker } from '../headend/broker/broker-aedes.ts';
import { staticCredentials } from '../headend/broker/broker-auth.ts';
import { startMosquitto } from '../test/_helpers/mosquitto.ts';
import { which } from '../test/_helpers/env.ts';
import { UNLIMITED, USERS, bareRig, rawRig, weftRig } from './_mqtt-rigs.ts';

const mode = process.argv[2] ?? 'weft';
const N = Number(process.argv[3] ?? 40_000);
const brokerKind = process.argv[4] ?? 'mosquitto';
const WINDOW = 32;
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
const { once, close } = mode === 'raw' ? await rawRig(url) : mode === 'bare' ? await bareRig(url) : await weftRig(url);
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
