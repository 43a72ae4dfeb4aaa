// How much of bench -- mqtt's gap is the bytes, not the code (docs/PERFORMANCE.md, "Request path,
// wave 9"): `npx tsx bench/_mqtt-size.ts [aedes|mosquitto] [rounds]` runs three rigs on triplet
// brokers in alternating slices, as bench -- mqtt's compare does: raw mqtt.js (4-byte id + body),
// raw mqtt.js with its payload padded to the size of Weft's request envelope (same topics, same
// QoS), and Weft's Channels. Prints each rig's RTT p50, requests/s (32 in flight) and this
// process's CPU per request, with the ratios to plain raw, and the PUBLISH sizes compared.

import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { startAedesBroker } from '../headend/broker/broker-aedes.ts';
import { staticCredentials } from '../headend/broker/broker-auth.ts';
import { EnvelopeCodec } from '../runtime/index.ts';
import { startMosquitto } from '../test/_helpers/mosquitto.ts';
import { which } from '../test/_helpers/env.ts';
import { boxAddress } from '../transport/mqtt-topics.ts';
import { BODY, type Rig, UNLIMITED, USERS, rawRig, weftRig } from './_mqtt-rigs.ts';

const brokerKind = process.argv[2] ?? 'mosquitto';
const ROUNDS = Number(process.argv[3] ?? 6);
const SERVICE = 'weft://bench/s1/echo';
const box = boxAddress('box-a');
// Weft's request as the rig sends it (a deadline, no corr), encoded by the codec itself.
const weftBytes = new EnvelopeCodec().encode({ v: 1, kind: 'req', id: 0xffff_fff0, src: box, dst: { vaddr: SERVICE }, deadline: Date.now() + 10_000, body: BODY }).length;
const RAW_BYTES = 4 + BODY.length;

async function brokers(): Promise<{ urls: string[]; stop: () => Promise<unknown> }> {
  if (brokerKind === 'aedes') {
    const b = await Promise.all([0, 1, 2].map(() => startAedesBroker({ credentials: staticCredentials(USERS), rateLimit: UNLIMITED, log: () => {} })));
    return { urls: b.map((x) => x.url), stop: () => Promise.all(b.map((x) => x.close())) };
  }
  const m = await Promise.all([0, 1, 2].map(() => startMosquitto(which('mosquitto') as string, { users: USERS })));
  return { urls: m.map((x) => x.url), stop: () => Promise.all(m.map((x) => x.stop())) };
}

interface Sample {
  rtt: number[];
  done: number;
  secs: number;
  cpuUs: number;
}

async function slice(rig: Rig, s: Sample, windowed: boolean): Promise<void> {
  if (!windowed) {
    for (let i = 0; i < 100; i++) {
      const t = performance.now();
      await rig.once();
      s.rtt.push((performance.now() - t) * 1000);
    }
    return;
  }
  let left = 1000;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (left-- > 0) await rig.once();
  }));
  const c = process.cpuUsage(c0);
  s.done += 1000;
  s.secs += (performance.now() - t0) / 1000;
  s.cpuUs += c.user + c.system;
}

const { urls, stop } = await brokers();
const rigs: [string, Rig][] = [['raw', await rawRig(urls[0] as string)], ['raw padded', await rawRig(urls[1] as string, weftBytes)], ['weft', await weftRig(urls[2] as string)]];
const samples = new Map<string, Sample>(rigs.map(([k]) => [k, { rtt: [], done: 0, secs: 0, cpuUs: 0 }]));
for (const [, r] of rigs) for (let i = 0; i < 300; i++) await r.once();
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? rigs : [...rigs].reverse();
  for (let k = 0; k < 5; k++) for (const [name, r] of order) await slice(r, samples.get(name) as Sample, false);
  for (let k = 0; k < 4; k++) for (const [name, r] of order) await slice(r, samples.get(name) as Sample, true);
}
for (const [, r] of rigs) await r.close();
await stop();
const p50 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const base = samples.get('raw') as Sample;
const out: Record<string, unknown> = { bench: 'mqtt-size', broker: brokerKind, raw_payload_bytes: RAW_BYTES, weft_envelope_bytes: weftBytes, load: loadavg()[0] };
for (const [name, s] of samples) {
  out[name.replace(' ', '_')] = { p50_us: p50(s.rtt), req_per_s: Math.round(s.done / s.secs), cpu_us_per_req: s.cpuUs / s.done, p50_ratio: p50(s.rtt) / p50(base.rtt), tput_ratio: s.done / s.secs / (base.done / base.secs) };
}
console.log(JSON.stringify(out));
