// Idle fleet CPU: what N emulated boxes that are done acquiring (an idle fleet, sessions up) cost
// per box per second of a 2 Mbit/s carousel, before (every box demuxes the whole stream: TS
// reassembly, CRC, decodeSection per box; devices/fleet.ts raw `tune`) and after (one demux per
// process, blocks only to boxes that want them: `subscribe`), in one run [issue 19, build 5].
// CPU is process.cpuUsage over a fixed number of carousel cycles, replayed from memory so the
// broadcaster's own cost is not counted. Run: npm run bench -- fleet

import { Broadcaster, CarouselReceiver, type ModuleSet, type Tier, makeModule } from '../carousel/index.ts';
import { TunerFanout } from '../devices/index.ts';
import type { Tuned, Tuner } from '../loader/index.ts';
import { seededRandom } from '../runtime/index.ts';
import { result, table } from './_report.ts';

const BITRATE = 2_000_000;
const CYCLES = Number(process.env.FLEET_CYCLES ?? 10);
const SIZES = (process.env.FLEET_BOXES ?? '50,200').split(',').map(Number);

function app(): ModuleSet {
  const r = seededRandom(7);
  const KB = 1024;
  const spec: [string, 'client' | 'manifest' | 'signature', Tier, number][] = [
    ['manifest.json', 'manifest', 'boot', 3 * KB],
    ['manifest.sig', 'signature', 'boot', 64],
    ['ui.js', 'client', 'boot', 40 * KB],
    ['search.js', 'client', 'fallback-1', 60 * KB],
    ['listings.js', 'client', 'fallback-2', 80 * KB],
  ];
  const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => (r() * 256) | 0);
  return { appId: 'bench', version: '1', modules: spec.map(([name, kind, tier, n]) => makeModule(name, kind, tier, bytes(n))) };
}

/** A tuner the bench drives by hand: `feed` hands datagrams to whoever tuned. */
function handTuner(): { tuner: Tuner; feed: (d: Uint8Array) => void } {
  let sink: ((d: Uint8Array) => void) | undefined;
  const tuner: Tuner = {
    tune: (onData) => {
      sink = onData;
      return Promise.resolve<Tuned>({ close: async () => void (sink = undefined) });
    },
  };
  return { tuner, feed: (d) => sink?.(d) };
}

const set = app();
const b = new Broadcaster(set, { bitrate: BITRATE });
let cycle = 0;
const warm: Uint8Array[] = [];
while (!b.cycleComplete) {
  warm.push(b.nextDatagram() as Uint8Array);
  cycle++;
}
for (let i = 0; i < cycle; i++) warm.push(b.nextDatagram() as Uint8Array); // a second lap: every DII seen
const measured: Uint8Array[] = [];
for (let i = 0; i < CYCLES * cycle; i++) measured.push(b.nextDatagram() as Uint8Array);
const streamS = (measured.length * b.datagramMs) / 1000;

async function idleCpu(boxes: number, mode: 'before' | 'after'): Promise<{ msPerBoxS: number; done: number }> {
  const hand = handTuner();
  const fan = new TunerFanout(hand.tuner);
  const rxs: CarouselReceiver[] = [];
  const tuned: Tuned[] = [];
  for (let i = 0; i < boxes; i++) {
    const t = fan.tuner();
    // An idle box after its session is up wants the boot tier only (loader/box.ts `want([])`).
    const rx = new CarouselReceiver({ tiers: ['boot'], ...(mode === 'after' && t.shared !== undefined ? { shared: t.shared } : {}) });
    rxs.push(rx);
    tuned.push(mode === 'after' && t.subscribe !== undefined ? await t.subscribe(rx) : await t.tune((d) => rx.push(d)));
  }
  for (const d of warm) hand.feed(d);
  const done = rxs.filter((r) => r.done).length;
  const c0 = process.cpuUsage();
  for (const d of measured) hand.feed(d);
  const c = process.cpuUsage(c0);
  for (const t of tuned) await t.close();
  return { msPerBoxS: (c.user + c.system) / 1000 / boxes / streamS, done };
}

console.log(`fleet bench: ${CYCLES} carousel cycles of ${cycle} datagrams (${streamS.toFixed(1)} s of stream at ${BITRATE / 1e6} Mbit/s), idle boxes ${SIZES.join(', ')}`);
const rows = [];
const fields: Record<string, number> = {};
await idleCpu(10, 'before'); // warm the JIT for both paths before measuring
await idleCpu(10, 'after');
for (const n of SIZES) {
  const before = await idleCpu(n, 'before');
  const after = await idleCpu(n, 'after');
  if (before.done !== n || after.done !== n) throw new Error(`not every box acquired its boot tier (${before.done}, ${after.done} of ${n})`);
  rows.push({ boxes: n, 'before ms/box/s': before.msPerBoxS, 'after ms/box/s': after.msPerBoxS, 'after/before': after.msPerBoxS / before.msPerBoxS, 'fleet cores before': (before.msPerBoxS * n) / 1000, 'fleet cores after': (after.msPerBoxS * n) / 1000 });
  fields[`idle_cpu_ms_per_box_s_${n}_before`] = before.msPerBoxS;
  fields[`idle_cpu_ms_per_box_s_${n}`] = after.msPerBoxS;
  fields[`idle_cpu_ratio_${n}`] = after.msPerBoxS / before.msPerBoxS;
}
table('idle fleet CPU per box per second of carousel', rows);
const last = SIZES.at(-1) as number;
result('fleet', { idle_cpu_ms_per_box_s: fields[`idle_cpu_ms_per_box_s_${last}`] ?? null, ...fields });
