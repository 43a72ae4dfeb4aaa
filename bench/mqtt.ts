// `npm run bench -- mqtt [--rounds N] [--no-default-wait]`: Weft request/reply (Channel over the
// MQTT transport) against raw mqtt.js request/reply with the same body on the same broker
// (embedded aedes; mosquitto where installed), plus dead-path detection against mqtt.js's default.

import { createServer, type Socket } from 'node:net';
import { availableParallelism, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { startAedesBroker } from '../headend/broker/broker-aedes.ts';
import { staticCredentials } from '../headend/broker/broker-auth.ts';
import { connectMqttTransport, openRawClient, type RawMqttClient } from '../transport/mqtt.ts';
import { BODY, type Rig, UNLIMITED, USERS, rawRig, weftRig } from './_mqtt-rigs.ts';
import { startMosquitto } from '../test/_helpers/mosquitto.ts';
import { which } from '../test/_helpers/env.ts';
import { percentile, result, table, type Row } from './_report.ts';

const args = process.argv.slice(2);
const ROUNDS = Number(args[args.indexOf('--rounds') + 1] ?? 10) || 10;
const WAIT_DEFAULT = !args.includes('--no-default-wait');
const SEQUENTIAL = 500; // round trips timed one at a time, per round and rig
const CONCURRENT = 4000; // requests of the windowed throughput runs, per round and rig
const WINDOW = 32; // requests in flight during the throughput run
interface Sample {
  rtt: number[];
  /** Requests, seconds and CPU microseconds (this process) of the throughput runs, summed over rounds. */
  done: number;
  seconds: number;
  cpuUs: number;
}

async function sequential(rig: Rig, n: number, into: number[] | undefined): Promise<void> {
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await rig.once();
    into?.push((performance.now() - t0) * 1000);
  }
}

async function windowed(rig: Rig, n: number, into: Sample): Promise<void> {
  let left = n;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: WINDOW }, async () => {
      while (left-- > 0) await rig.once();
    }),
  );
  into.done += n;
  into.seconds += (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  into.cpuUs += c.user + c.system;
}

/**
 * Raw and Weft each on their own twin broker (same kind, same settings), both connected all
 * along, measured in short alternating slices: drift (JIT, GC, other processes on the machine)
 * falls on both alike, and neither pays for the other's connections or subscriptions.
 */
async function compare(broker: string, urls: [string, string]): Promise<Row> {
  const raw = await rawRig(urls[0]);
  const weft = await weftRig(urls[1]);
  const rs: Sample = { rtt: [], done: 0, seconds: 0, cpuUs: 0 };
  const ws: Sample = { rtt: [], done: 0, seconds: 0, cpuUs: 0 };
  await sequential(raw, 300, undefined); // warm up
  await sequential(weft, 300, undefined);
  for (let r = 0; r < ROUNDS; r++) {
    const order: [Rig, Sample][] = r % 2 === 0 ? [[raw, rs], [weft, ws]] : [[weft, ws], [raw, rs]];
    for (let slice = 0; slice < SEQUENTIAL / 100; slice++) for (const [rig, into] of order) await sequential(rig, 100, into.rtt);
    for (let slice = 0; slice < CONCURRENT / 1000; slice++) for (const [rig, into] of order) await windowed(rig, 1000, into);
  }
  await Promise.all([raw.close(), weft.close()]);
  const rps = (x: Sample): number => x.done / x.seconds;
  return {
    broker,
    'raw p50 us': percentile(rs.rtt, 50),
    'weft p50 us': percentile(ws.rtt, 50),
    'p50 ratio': percentile(ws.rtt, 50) / percentile(rs.rtt, 50),
    'raw p99 us': percentile(rs.rtt, 99),
    'weft p99 us': percentile(ws.rtt, 99),
    'p99 ratio': percentile(ws.rtt, 99) / percentile(rs.rtt, 99),
    'raw req/s': rps(rs),
    'weft req/s': rps(ws),
    'tput ratio': rps(ws) / rps(rs),
    // CPU per request is what the load of other processes cannot blur (aedes: broker included).
    'raw cpu us/req': rs.cpuUs / rs.done,
    'weft cpu us/req': ws.cpuUs / ws.done,
  };
}

/** Connect attempts into a path that accepts TCP and never answers: Weft (RTT measured first) vs mqtt.js default. */
async function deadPath(url: string): Promise<Row> {
  const held: Socket[] = [];
  const hole = createServer((s) => void held.push(s));
  await new Promise<void>((r) => hole.listen(0, '127.0.0.1', r));
  const holeUrl = `mqtt://127.0.0.1:${(hole.address() as { port: number }).port}`;
  const probe = await connectMqttTransport({ role: 'box', url, id: 'box-a', password: 'bench-box', log: () => {}, deadPath: { initialRttMs: 1000 } });
  const rttMs = probe.rttMs; // what a box persists from its last session
  await probe.close();
  const t0 = performance.now();
  await connectMqttTransport({ role: 'box', url: holeUrl, id: 'box-a', password: 'bench-box', log: () => {}, deadPath: { initialRttMs: rttMs } }).catch(() => {});
  const weftMs = performance.now() - t0;
  let defaultMs = 30_000;
  let measured = false;
  if (WAIT_DEFAULT) {
    const t1 = performance.now();
    await new Promise<void>((resolve) => {
      openRawClient(holeUrl).then(
        (c: RawMqttClient) => void c.end(true, {}, () => resolve()),
        () => resolve(),
      );
    });
    defaultMs = performance.now() - t1;
    measured = true;
  }
  for (const s of held) s.destroy();
  hole.close();
  return { 'rtt ms': rttMs, 'bound 3rtt+50 ms': 3 * rttMs + 50, 'weft detect ms': weftMs, 'mqtt.js default ms': defaultMs, speedup: defaultMs / weftMs, baseline: measured ? 'measured' : 'nominal' };
}

const rows: Row[] = [];
const twins = await Promise.all([0, 1].map(() => startAedesBroker({ credentials: staticCredentials(USERS), rateLimit: UNLIMITED, log: () => {} })));
rows.push(await compare('aedes (embedded)', [twins[0]!.url, twins[1]!.url]));
const dead = await deadPath(twins[0]!.url);
await Promise.all(twins.map((b) => b.close()));
const mosquittoPath = which('mosquitto');
if (mosquittoPath !== undefined) {
  const m = await Promise.all([0, 1].map(() => startMosquitto(mosquittoPath, { users: USERS })));
  try {
    rows.push(await compare('mosquitto', [m[0]!.url, m[1]!.url]));
  } finally {
    await Promise.all(m.map((x) => x.stop()));
  }
} else {
  console.log('\nmosquitto is not installed: measured on aedes only');
}
console.log(`\nload average at the end: ${loadavg().map((l) => l.toFixed(2)).join(' ')} on ${availableParallelism()} cores`);
table(`Request/reply, ${BODY.length}-byte body, QoS 1 both ways, twin brokers (${ROUNDS} rounds; RTT: ${SEQUENTIAL} sequential, throughput: ${CONCURRENT} with ${WINDOW} in flight, per round)`, rows);
table('Dead path (connect into a black hole)', [dead]);
const worst = (col: string, pick: (...v: number[]) => number): number => pick(...rows.map((r) => r[col] as number));
const fields: Record<string, number | string> = {
  rtt_p50_ratio_vs_raw: worst('p50 ratio', Math.max),
  rtt_p99_ratio_vs_raw: worst('p99 ratio', Math.max),
  throughput_ratio_vs_raw: worst('tput ratio', Math.min),
  broker: rows.map((r) => String(r.broker).split(' ')[0]).join('+'),
};
for (const r of rows) {
  const b = String(r.broker).split(' ')[0] as string;
  fields[`${b}_rtt_p50_ratio`] = r['p50 ratio'] as number;
  fields[`${b}_throughput_ratio`] = r['tput ratio'] as number;
}
fields.dead_path_ms = dead['weft detect ms'] as number;
fields.dead_path_default_ms = dead['mqtt.js default ms'] as number;
fields.dead_path_speedup = dead.speedup as number;
result('mqtt', fields);
