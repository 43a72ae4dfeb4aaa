// The measuring box of bench/scale, in a process of its own so its latency is the head-end's and
// the broker's, not the bench's. Two modes, one JSON line out:
//   --mode request: one full box's session (open, client-started), then --n sequential requests
//     to its server portion (the guide's epg module, `channels`): p50/p99 ms.
//   --mode capacity: --clients boxes open --n sessions in a closed loop, then close them all:
//     the head-end's setup capacity per second (what the fleet's arrival rate is set from).
import { Channel, SESSIONS_VADDR, SessionOps, checkOpenReply, modulesVaddr, type Envelope, type OpenReply, type ResourceReport } from '../runtime/index.ts';
import { connectMqttTransport, type MqttTransport } from '../transport/mqtt.ts';
import { derivedBoxSecret } from '../headend/broker/broker-auth.ts';
import { quotaWaitMs } from '../loader/index.ts';
import { percentile } from './_report.ts';

const arg = (name: string, dflt?: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  const v = i < 0 ? dflt : process.argv[i + 1];
  if (v === undefined) throw new Error(`--${name} is required`);
  return v;
};
const URL_ = arg('url');
const MASTER = arg('master');
const MODE = arg('mode');
const N = Number(arg('n', '500'));
const PREFIX = arg('prefix', 'probe');

const report = (boxId: string): ResourceReport => ({ boxId, profile: 'hd-dvr', freeMemoryBytes: 32 << 20, appMemoryBytes: 32 << 20, cpuClass: 'mid', cpuLoad: 0.1, storageFreeBytes: 0, sandboxBytes: 0, twoWayUp: true, at: Date.now() });

interface Box {
  t: MqttTransport;
  ch: Channel;
  id: string;
}

async function box(id: string): Promise<Box> {
  const t = await connectMqttTransport({ role: 'box', url: URL_, id, password: derivedBoxSecret(MASTER, id), log: () => {}, deadPath: { initialRttMs: 1000 } });
  const ch = new Channel({ self: { vaddr: `weft://box/${id}/loader` }, write: (e: Envelope) => t.send(e), timeoutMs: 30_000 });
  t.onEnvelope((e) => ch.receive(e));
  return { t, ch, id };
}

async function open(b: Box): Promise<OpenReply> {
  const ask = (): Promise<unknown> => b.ch.request({ vaddr: SESSIONS_VADDR }, { app: 'guide', version: '1.0.0', boxId: b.id, report: report(b.id) }, { op: SessionOps.open });
  // [issue 19.6] a node past its setup capacity says when to come back (QUOTA setups): as a box, wait and open again.
  const again = (e: unknown): Promise<unknown> => {
    const ms = quotaWaitMs(e, Math.random);
    return ms === undefined ? Promise.reject(e as Error) : new Promise((r) => setTimeout(r, ms)).then(ask).catch(again);
  };
  const r = checkOpenReply(await ask().catch(again));
  // What a full box does next: download the modules placed on it that the carousel's boot tier lacks.
  for (const module of r.download) await b.ch.request({ vaddr: modulesVaddr(r.node) }, { session: r.session, module }, { op: SessionOps.moduleGet });
  await b.ch.control({ vaddr: r.dasp }, SessionOps.clientStarted, { session: r.session, modules: [] });
  return r;
}

async function requests(): Promise<Record<string, number>> {
  const b = await box(`${PREFIX}-1`);
  const r = await open(b);
  const epg = r.modules.find((m) => m.module === 'epg')?.vaddr;
  const ui = r.modules.find((m) => m.side === 'box')?.vaddr;
  if (epg === undefined || ui === undefined) throw new Error('the session has no epg module or none on the box');
  // As a full box's ui module asks: from its own address (the head-end routes replies to it by the session's placements).
  const uiCh = new Channel({ self: { vaddr: ui }, write: (e: Envelope) => b.t.send(e), timeoutMs: 30_000 });
  b.t.onEnvelope((e) => (e.dst.vaddr === ui ? uiCh.receive(e) : b.ch.receive(e)));
  const ask = (): Promise<unknown> => uiCh.request({ vaddr: epg }, { op: 'channels' });
  // Paced at 100/s at most: the broker holds a box to 200 publishes/s (broker-aedes.ts rateLimit).
  const gap = (): Promise<void> => new Promise((r) => setTimeout(r, 10));
  for (let i = 0; i < 50; i++) await ask().then(gap); // warm: the portion's code paths compiled
  const lat: number[] = [];
  for (let i = 0; i < N; i++) {
    const s = performance.now();
    await ask();
    lat.push(performance.now() - s);
    await gap();
  }
  await b.ch.request({ vaddr: SESSIONS_VADDR }, { session: r.session }, { op: SessionOps.close }).catch(() => undefined);
  await b.t.close();
  return { n: N, p50: percentile(lat, 50), p99: percentile(lat, 99) };
}

// Each setup is a box arriving: a new connection (TCP, CONNECT, authentication, SUBSCRIBE),
// session.open, its downloads and client-started; --clients of them at a time. Sessions and
// connections are closed after the measurement.
async function capacity(): Promise<Record<string, number>> {
  const clients = Number(arg('clients', '20'));
  const opened: { b: Box; session: string }[] = [];
  const lat: number[] = [];
  let next = 0;
  const loop = async (total: number, measure: boolean): Promise<number> => {
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (next < total) {
          const n = ++next;
          const s = performance.now();
          const b = await box(`${PREFIX}-${n}`);
          opened.push({ b, session: (await open(b)).session });
          if (measure) lat.push(performance.now() - s);
        }
      }),
    );
    return (measure ? total - clients * 2 : total) / ((performance.now() - t0) / 1000);
  };
  await loop(clients * 2, false); // warm: threads started, code compiled
  const perS = await loop(clients * 2 + N, true);
  for (const o of opened) {
    await o.b.ch.request({ vaddr: SESSIONS_VADDR }, { session: o.session }, { op: SessionOps.close }).catch(() => undefined);
    await o.b.t.close();
  }
  return { perS, p50: percentile(lat, 50), p99: percentile(lat, 99) };
}

try {
  console.log(JSON.stringify(MODE === 'capacity' ? await capacity() : await requests()));
} catch (e) {
  // One line for the bench's log (it records the probe as failed): what went wrong, not a stack.
  console.error(`probe --mode ${MODE}: ${(e as Error).message}`);
  process.exit(1);
}
