// bench/headend: session setups per second and their p99 latency for N emulated boxes against
// one embedded head-end (aedes, SQLite, one node), beside a baseline measured in the same run:
// a bare request/reply over the same broker (what a setup costs beyond the round trip).
// Usage: npm run bench -- headend [--boxes 50] [--sessions 1000] [--rate 500]
// setups_per_s is the closed-loop capacity; setup_p99_ms the p99 with setups arriving at --rate.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Channel, SESSIONS_VADDR, SessionOps, type Envelope, type ResourceReport } from '../runtime/index.ts';
import { connectMqttTransport, type MqttTransport } from '../transport/mqtt.ts';
import { startHeadend } from '../headend/main.ts';
import { percentile, result, table } from './_report.ts';
// @ts-expect-error build.mjs is plain JavaScript without types
import { build } from '../build.mjs';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? dflt : Number(process.argv[i + 1]);
};
const BOXES = arg('boxes', 50);
const SESSIONS = arg('sessions', 1000);

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

const dir = await mkdtemp(join(tmpdir(), 'weft-bench-headend-'));
await build({ out: join(dir, 'dist'), keys: join(dir, 'keys'), quiet: true, firmware: false });
const h = await startHeadend({ registry: `sqlite:${join(dir, 'registry.db')}`, apps: join(dir, 'dist', 'apps'), keys: join(dir, 'keys'), masterKey: 'bench-master-key-0123456789', spareThreads: 2, log: () => {} });
// The baseline: a plain responder on the head-end's broker (the MQTT ingress of node-1 answers ping).
const boxes: { t: MqttTransport; ch: Channel; id: string }[] = [];
for (let i = 0; i < BOXES; i++) {
  const id = `bench-${i}`;
  const t = await connectMqttTransport({ role: 'box', url: h.brokerUrl, id, password: h.boxSecret(id), log: () => {}, deadPath: { initialRttMs: 1000 } });
  const ch = new Channel({ self: { vaddr: `weft://box/${id}/inbox` }, write: (e: Envelope) => t.send(e), timeoutMs: 30_000 });
  t.onEnvelope((e) => ch.receive(e));
  boxes.push({ t, ch, id });
}

async function run(total: number, once: (b: (typeof boxes)[number], n: number) => Promise<unknown>): Promise<{ perS: number; p50: number; p99: number }> {
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
  const secs = (performance.now() - t0) / 1000;
  return { perS: total / secs, p50: percentile(lat, 50), p99: percentile(lat, 99) };
}

/** Open loop: setups arrive as a Poisson process at `rate` per second, whatever the answers do. */
async function openLoop(rate: number, total: number): Promise<{ perS: number; p50: number; p99: number }> {
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
    pending.push(
      b.ch.request({ vaddr: SESSIONS_VADDR }, { app: 'guide', version: '1.0.0', boxId: b.id, report: report(b.id, n % 2 === 0) }, { op: SessionOps.open }).then(() => void lat.push(performance.now() - s)),
    );
  }
  await Promise.all(pending);
  return { perS: total / ((performance.now() - t0) / 1000), p50: percentile(lat, 50), p99: percentile(lat, 99) };
}

// Warm: threads started, code paths compiled.
await run(BOXES, (b, n) => b.ch.request({ vaddr: SESSIONS_VADDR }, { app: 'guide', version: '1.0.0', boxId: b.id, report: report(b.id, n % 2 === 0) }, { op: SessionOps.open }));
const baseline = await run(SESSIONS, (b) => b.ch.request({ vaddr: h.node.vaddr('modules') }, { session: 'none', module: 'ui' }, { op: SessionOps.moduleGet }).catch(() => undefined));
const setups = await run(SESSIONS, (b, n) => b.ch.request({ vaddr: SESSIONS_VADDR }, { app: 'guide', version: '1.0.0', boxId: b.id, report: report(b.id, n % 2 === 0) }, { op: SessionOps.open }));
const RATE = arg('rate', 500);
const offered = await openLoop(RATE, SESSIONS);
const resolver = h.node.resolver;
const some = `weft://guide/${(await h.registry.listSessions({ app: 'guide' }))[0]?.id ?? 'x'}/epg`;
await resolver.resolve(some);
const lat: number[] = [];
for (let i = 0; i < 100_000; i++) {
  const s = performance.now();
  void resolver.resolve(some);
  lat.push(performance.now() - s);
}
table(`session setup, ${BOXES} boxes over MQTT, ${SESSIONS} sessions, one embedded node (threads: ${h.node.portions.threads})`, [
  { case: 'baseline: request/reply (module.get, refused)', 'per s': baseline.perS, 'p50 ms': baseline.p50, 'p99 ms': baseline.p99 },
  { case: 'session.open, closed loop (capacity)', 'per s': setups.perS, 'p50 ms': setups.p50, 'p99 ms': setups.p99 },
  { case: `session.open, open loop at ${RATE}/s offered`, 'per s': offered.perS, 'p50 ms': offered.p50, 'p99 ms': offered.p99 },
]);
const cachedP99us = percentile(lat, 99) * 1000;
console.log(`cached resolve p99 ${cachedP99us.toFixed(3)} us (timer resolution included); sessions live: ${h.node.sessions.count}`);
for (const b of boxes) await b.t.close();
await h.close();
await rm(dir, { recursive: true, force: true });
result('headend', {
  setups_per_s: setups.perS,
  setup_p99_ms: offered.p99,
  offered_per_s: RATE,
  setups_vs_roundtrip: setups.perS / baseline.perS,
  resolve_cached_p99_us: cachedP99us,
});
