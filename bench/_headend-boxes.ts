// The box side of bench/headend, in its own process so the measured latency is the head-end's
// and the broker's, not this process's own event loop: N emulated boxes over MQTT run a warm-up,
// a baseline round trip, a closed loop (capacity) and an open loop at --rate, then print JSON.

import { Channel, SESSIONS_VADDR, SessionOps, type Envelope, type ResourceReport } from '../runtime/index.ts';
import { connectMqttTransport, type MqttTransport } from '../transport/mqtt.ts';
import { derivedBoxSecret } from '../headend/broker/broker-auth.ts';
import { percentile } from './_report.ts';

const arg = (name: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  const v = process.argv[i + 1];
  if (i < 0 || v === undefined) throw new Error(`--${name} is required`);
  return v;
};
const URL_ = arg('url');
const MASTER = arg('master');
const MODULES = arg('modules');
const BOXES = Number(arg('boxes'));
const SESSIONS = Number(arg('sessions'));
const RATE = Number(arg('rate'));
// Requests of each kind sent before the first mark, so the marks measure a warmed process: a cold
// head-end spent ~0.5 ms of CPU per request compiling its paths (the first 600 round trips cost
// 2-3x the next ones: docs/PERFORMANCE.md, "per-message cost").
const WARMUP = process.argv.includes('--warmup') ? Number(arg('warmup')) : 2000;

const report = (boxId: string, modern: boolean): ResourceReport => ({
  boxId,
  profile: modern ? 'modern-4k' : 'legacy-sd',
  freeMemoryBytes: modern ? 200 << 20 : 256 << 10,
  appMemoryBytes: modern ? 256 << 20 : 4 << 20,
  cpuClass: modern ? 'high' : 'low',
  cpuLoad: 0.1,
  storageFreeBytes: modern ? 100 << 20 : 0,
  sandboxBytes: 0,
  twoWayUp: true,
  at: Date.now(),
});

const boxes: { t: MqttTransport; ch: Channel; id: string }[] = [];
for (let i = 0; i < BOXES; i++) {
  const id = `bench-${i}`;
  const t = await connectMqttTransport({ role: 'box', url: URL_, id, password: derivedBoxSecret(MASTER, id), log: () => {}, deadPath: { initialRttMs: 1000, marginMs: 5000 } }); // a loaded shared machine stalls seconds: this bench measures setups, not link verdicts
  const ch = new Channel({ self: { vaddr: `weft://box/${id}/inbox` }, write: (e: Envelope) => t.send(e), timeoutMs: 30_000 });
  t.onEnvelope((e) => ch.receive(e));
  boxes.push({ t, ch, id });
}
const open = (b: (typeof boxes)[number], n: number): Promise<unknown> =>
  b.ch.request({ vaddr: SESSIONS_VADDR }, { app: 'guide', version: '1.0.0', boxId: b.id, report: report(b.id, n % 2 === 0) }, { op: SessionOps.open });

interface Run {
  perS: number;
  p50: number;
  p99: number;
}

async function closedLoop(total: number, once: (b: (typeof boxes)[number], n: number) => Promise<unknown>): Promise<Run> {
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    boxes.map(async (b) => {
      while (next < total) {
        const n = next++;
        const s = performance.now();
        await once(b, n);
        lat.push(performance.now() - s);
      }
    }),
  );
  return { perS: total / ((performance.now() - t0) / 1000), p50: percentile(lat, 50), p99: percentile(lat, 99) };
}

/** Open loop: setups arrive as a Poisson process at `rate` per second, whatever the answers do. */
async function openLoop(rate: number, total: number): Promise<Run> {
  const lat: number[] = [];
  const pending: Promise<void>[] = [];
  const t0 = performance.now();
  let due = 0;
  for (let n = 0; n < total; n++) {
    due += (-Math.log(1 - Math.random()) / rate) * 1000;
    const wait = t0 + due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const b = boxes[n % boxes.length] as (typeof boxes)[number];
    const s = performance.now();
    pending.push(open(b, n).then(() => void lat.push(performance.now() - s)));
  }
  await Promise.all(pending);
  return { perS: total / ((performance.now() - t0) / 1000), p50: percentile(lat, 50), p99: percentile(lat, 99) };
}

/** Tells the head-end process a phase starts or ends, so it can read its own CPU time then. */
const mark = (what: string): void => void process.stdout.write(`mark ${what}\n`);

const refused = (b: (typeof boxes)[number]): Promise<unknown> => b.ch.request({ vaddr: MODULES }, { session: 'none', module: 'ui' }, { op: SessionOps.moduleGet }).catch(() => undefined);
await closedLoop(Math.max(BOXES, Math.round(WARMUP / 10)), open); // warm: threads started, code paths compiled
await closedLoop(WARMUP, refused);
mark('baseline');
const baseline = await closedLoop(SESSIONS, refused);
mark('capacity');
const capacity = await closedLoop(SESSIONS, open);
mark('end');
const offered = await openLoop(RATE, SESSIONS);
for (const b of boxes) await b.t.close();
console.log(JSON.stringify({ baseline, capacity, offered }));
