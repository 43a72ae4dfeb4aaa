// Box boot: the firmware (dist/firmware/box.mjs, built here into a temporary folder) from process
// start to its first client module running, with the carousel time excluded (the guide app is
// pre-acquired in device storage: a warm boot; legacy-sd has no storage, so it is not timed),
// against `node -e 0` on the same machine; RSS
// then; the fallback decision on a dead return path against mqtt.js's default connect timeout;
// the firmware's size against its budget. Run: npm run bench -- boot [--runs N]

import { spawn } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MqttClient } from 'mqtt';
import { Broadcaster, moduleSetFromDir, serveUdp } from '../carousel/index.ts';
import { profile as profileById, startEmulatedBox } from '../devices/index.ts';
import { staticCredentials } from '../headend/broker/broker-auth.ts';
import { startAedesBroker } from '../headend/broker/broker-aedes.ts';
import { importSigningKey, trustedKey } from '../runtime/app/index.ts';
import type { BoxEvent, Tuner } from '../loader/index.ts';
import { FIRMWARE_NODE_FLAGS } from '../loader/memory.ts';
// @ts-expect-error build.mjs is plain JavaScript without type declarations
import { build } from '../build.mjs';
import { percentile, result, table } from './_report.ts';

const runsAt = process.argv.indexOf('--runs');
const RUNS = runsAt < 0 ? 15 : Number(process.argv[runsAt + 1]);
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error('--runs takes a positive integer');
const work = mkdtempSync(join(tmpdir(), 'weft-bench-boot-'));
process.once('exit', () => rmSync(work, { recursive: true, force: true }));

interface Run {
  ms: number;
  childMs: number;
  rssMb: number;
}

/** Spawn and time until `line` is printed (or exit when no line is awaited). */
function timed(args: string[], cwd: string, until?: (line: string) => boolean): Promise<Run> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'] });
    let buf = '';
    let done = false;
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      for (const line of buf.split('\n').slice(0, -1)) {
        if (done || until === undefined || !until(line)) continue;
        done = true;
        const o = JSON.parse(line) as { t: number; rssMb: number };
        resolve({ ms: performance.now() - t0, childMs: o.t, rssMb: o.rssMb });
      }
      buf = buf.slice(buf.lastIndexOf('\n') + 1);
    });
    child.once('exit', (code) => {
      if (until === undefined) resolve({ ms: performance.now() - t0, childMs: 0, rssMb: 0 });
      else if (!done) reject(new Error(`box exited with ${code} before booting`));
    });
  });
}

// 1. The firmware, the guide app signed with the same key, both built now.
const out = join(work, 'dist');
const built = (await build({ out, keys: join(work, 'keys'), quiet: true })) as { firmware: { dir: string; bytes: number; budget: number } };
const fw = built.firmware.dir;
const firmwareKb = statSync(join(fw, 'box.mjs')).size / 1024;

// 2. One cold boot from a real carousel on loopback fills device storage (the pre-acquisition).
const state = join(work, 'state');
const set = await moduleSetFromDir(join(out, 'apps', 'guide'));
const air = await serveUdp(new Broadcaster(set, { bitrate: 2_000_000 }), { unicast: { host: '127.0.0.1', port: 45_871 } });
// The firmware as a box starts it: with its Node flags (loader/memory.ts).
const boxArgs = (device: string): string[] => [...FIRMWARE_NODE_FLAGS, 'box.mjs', '--device', device, '--carousel', 'udp://127.0.0.1:45871', '--state-dir', state, '--exit-on', 'first-module', '--quiet'];
const isExit = (l: string): boolean => l.includes('"kind":"exit"');
await timed(boxArgs('modern-4k'), fw, isExit);
await air.close();

// 3. Warm boots (nothing on air now) against bare node starts, interleaved.
const box: Run[] = [];
const dvr: Run[] = [];
const bare: number[] = [];
for (let i = 0; i < RUNS; i++) {
  bare.push((await timed(['-e', '0'], fw)).ms);
  box.push(await timed(boxArgs('modern-4k'), fw, isExit));
  dvr.push(await timed(boxArgs('hd-dvr'), fw, isExit));
}
const med = (xs: number[]): number => percentile(xs, 50);
const nodeMs = med(bare);
const bootMs = med(box.map((r) => r.ms));
const rssMb = Math.max(...box.map((r) => r.rssMb));

// 4. Fallback decision on a dead return path (hd-dvr: 20 ms each way, so RTT 40 ms), in process.
const users = [{ role: 'box' as const, id: 'bench-box', password: 'bench-secret' }];
const broker = await startAedesBroker({ credentials: staticCredentials(users), log: () => {} });
const key = await importSigningKey(JSON.parse(readFileSync(join(work, 'keys', 'dev.jwk.json'), 'utf8')));
const trusted = [await trustedKey(key.publicKey)];
const onAir = (): Tuner => {
  const b = new Broadcaster(set, { bitrate: 2_000_000, diiIntervalMs: 100 });
  return {
    tune: (onData) => {
      const timer = setInterval(() => {
        for (let i = 0; i < 16; i++) onData(b.nextDatagram() as Uint8Array);
      }, 1);
      return Promise.resolve({ close: async () => clearInterval(timer) });
    },
  };
};
const hd = profileById('hd-dvr');
const rtt = 2 * hd.channels.latencyMs;
const decisions: number[] = [];
for (let i = 0; i < Math.max(5, Math.round(RUNS / 2)); i++) {
  // From the table entering `connecting` (the first connect attempt starts) to it entering
  // `acquiring-fallback-1` (the verdict taken), on this process's clock.
  const marks = { connecting: 0, fallback: 0 };
  const onEvent = (e: BoxEvent): void => {
    if (e.kind === 'state' && e.to === 'connecting') marks.connecting = performance.now();
    if (e.kind === 'state' && e.to === 'acquiring-fallback-1') marks.fallback = performance.now();
  };
  const emu = await startEmulatedBox({ profile: hd, boxId: 'bench-box', tuner: onAir(), trusted, headend: { url: broker.url, password: 'bench-secret' }, cutReturn: true, throttle: false, onEvent });
  await emu.box.waitFor((b) => b.history.some((h) => h.state === 'acquiring-fallback-1'), 10_000);
  decisions.push(marks.fallback - marks.connecting);
  await emu.stop();
}
await broker.close();
const fallbackMs = med(decisions);
// mqtt.js's own default, read from the library (a client that is never connected).
const probe = new MqttClient(() => new PassThrough(), { manualConnect: true });
const mqttjsDefault = (probe.options as { connectTimeout: number }).connectTimeout;

table('Box boot (firmware, warm boot from device storage; medians)', [
  { measure: '`node -e 0`', ms: nodeMs, ratio: 1 },
  { measure: 'box.mjs to first client module (modern-4k)', ms: bootMs, ratio: bootMs / nodeMs },
  { measure: 'box.mjs to first client module (hd-dvr)', ms: med(dvr.map((r) => r.ms)), ratio: med(dvr.map((r) => r.ms)) / nodeMs },
  { measure: 'boot overhead over node start (goal <= 150)', ms: bootMs - nodeMs, ratio: (bootMs - nodeMs) / 150 },
]);
table('Memory and size', [
  { measure: 'RSS with the guide ui running, MB (goal <= 64)', value: rssMb, of: 64 },
  { measure: 'firmware JS, KB (budget; goal <= 250)', value: firmwareKb, of: built.firmware.budget / 1024 },
]);
table(`Fallback decision on a dead return path (RTT ${rtt} ms; p50 of ${decisions.length})`, [
  { measure: 'box: connecting -> acquiring fallback-1', ms: fallbackMs, ratio: 1 },
  { measure: `goal 3 RTT + 50 ms`, ms: 3 * rtt + 50, ratio: (3 * rtt + 50) / fallbackMs },
  { measure: "mqtt.js's default connect timeout", ms: mqttjsDefault, ratio: mqttjsDefault / fallbackMs },
]);
result('boot', { boot_ms_over_node_start: bootMs - nodeMs, rss_mb: rssMb, fallback_decision_ms: fallbackMs, firmware_kb: firmwareKb });
process.exit(0);
