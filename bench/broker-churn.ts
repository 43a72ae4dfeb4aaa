// `npm run bench -- broker-churn [--boxes 2000] [--rounds 5]` [issue 19.6, D90]: what a reconnect
// storm costs the embedded aedes alone (no node, no sessions): the broker process's CPU per box
// login (CONNECT, authentication, CONNACK, SUBSCRIBE, SUBACK) as every box connects again, round
// after round (the first round pays the JIT and the first derivation of each secret; the median is
// of the others), and the close of the broker with every box connected: its time and the longest
// turn of the loop in it. The boxes run in a child process (bench/_churn-boxes.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { loadavg } from 'node:os';
import { startAedesBroker, type EmbeddedBroker } from '../headend/broker/broker-aedes.ts';
import { derivedCredentials } from '../headend/broker/broker-auth.ts';
import { percentile, result } from './_report.ts';

const args = process.argv.slice(2);
const flag = (name: string, d: number): number => (args.includes(`--${name}`) ? Number(args[args.indexOf(`--${name}`) + 1]) : d);
const BOXES = flag('boxes', 2000);
const ROUNDS = Math.max(2, flag('rounds', 5));
const KEY = 'a-box-master-key-of-enough-length';

const options = { credentials: derivedCredentials(KEY, []), log: () => {}, connectGate: 'off' as const, preauth: { maxConnections: 100_000, maxBytes: 1 << 30 } };

/** Start the boxes; resolve when every one was answered (its CONNACK). */
async function boxes(broker: EmbeddedBroker): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', new URL('./_churn-boxes.ts', import.meta.url).pathname, String(broker.port), String(BOXES), KEY], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the boxes' process ended (${code}) before all were answered`)));
    child.stdout!.on('data', (d: Buffer) => void (String(d).includes('ready') && resolve()));
  });
  return child;
}

async function gone(broker: EmbeddedBroker, child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill();
  await exited;
  while (broker.stats().connections > 0) await new Promise((r) => setTimeout(r, 20)); // the broker sees each socket close
}

const broker = await startAedesBroker(options);
const perConnect: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  const c0 = process.cpuUsage();
  const child = await boxes(broker);
  const cpu = process.cpuUsage(c0);
  perConnect.push((cpu.user + cpu.system) / 1000 / BOXES);
  await gone(broker, child);
}
const child = await boxes(broker);
let last = performance.now();
let maxTurn = 0;
let closing = true;
const turn = (): void => {
  const now = performance.now();
  maxTurn = Math.max(maxTurn, now - last);
  last = now;
  if (closing) setImmediate(turn);
};
setImmediate(turn);
const t0 = performance.now();
await broker.close();
const closeMs = performance.now() - t0;
closing = false;
child.kill();
const warm = perConnect.slice(1);
result('broker-churn', {
  boxes: BOXES,
  rounds: ROUNDS,
  cpu_ms_per_connect_p50: +percentile(warm, 50).toFixed(3),
  cpu_ms_per_connect_rounds: perConnect.map((x) => x.toFixed(3)).join(' '),
  close_ms: Math.round(closeMs),
  close_max_turn_ms: Math.round(maxTurn),
  announcements_skipped: (broker.stats() as Record<string, number>).announcementsSkipped ?? 0,
  load: loadavg()[0]!.toFixed(1),
});
process.exit(0);
