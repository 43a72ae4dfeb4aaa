// `weft fleet run`: many emulated boxes in one process (devices/fleet.ts), a mix of device
// profiles sharing one carousel listener and one QuickJS engine, some with the return channel
// cut. Prints a summary line (boxes per boot state) every two seconds until Ctrl-C.
import type { Command } from 'commander';
import { parseMix, startFleet } from '../devices/index.ts';
import { loadTrusted } from '../loader/main.ts';
import { udpTuner } from '../loader/index.ts';
import { DEFAULT_CAROUSEL_URL } from '../carousel/index.ts';
import { boxPassword, untilStopped } from './box.ts';

interface Flags {
  count: string;
  mix: string;
  headend?: string;
  carousel: string;
  prefix: string;
  cut: string;
  masterKey: string;
  trust?: string;
  stateDir?: string;
  seconds: string;
  events?: boolean;
}

async function run(f: Flags): Promise<void> {
  const headend =
    f.headend === undefined
      ? undefined
      : {
          url: f.headend,
          password: (id: string): string => {
            const p = boxPassword(id, undefined, f.masterKey);
            if (p === undefined) throw new Error(`no broker secret for ${id}: give --master-key (or WEFT_BOX_PASSWORD)`);
            return p;
          },
        };
  const stopped = untilStopped(Number(f.seconds)); // a signal while the fleet starts ends it too
  const fleet = await startFleet({
    count: Number(f.count),
    mix: parseMix(f.mix),
    tuner: udpTuner(f.carousel),
    trusted: await loadTrusted(f.trust, process.cwd()),
    ...(headend === undefined ? {} : { headend }),
    prefix: f.prefix,
    cut: Number(f.cut),
    ...(f.stateDir === undefined ? {} : { stateDir: f.stateDir }),
    ...(f.events === true ? { onEvent: (box: string, e: unknown) => console.log(JSON.stringify({ box, ...(e as object) })) } : {}),
  });
  const started = Date.now();
  const timer = setInterval(() => {
    console.log(JSON.stringify({ event: 'fleet', s: Math.round((Date.now() - started) / 1000), boxes: fleet.boxes.length, states: fleet.states(), rssMb: Math.round(process.memoryUsage().rss / 1e6) }));
  }, 2000);
  await stopped;
  clearInterval(timer);
  await fleet.stop();
  console.log(JSON.stringify({ event: 'stopped', states: fleet.states() }));
}

export function registerFleet(program: Command): void {
  const fleet = program.command('fleet').description('fleets of emulated set-top boxes in one process');
  fleet
    .command('run')
    .description('run N emulated boxes with a mix of device profiles')
    .requiredOption('--count <n>', 'how many boxes')
    .option('--mix <spec>', 'profile weights, e.g. legacy-sd:2,hd-dvr:1', 'legacy-sd:1,hd-dvr:1,modern-4k:1,broadcast-only:1')
    .option('--headend <url>', "the head-end's MQTT broker, mqtt://host:port (none: carousel only)")
    .option('--carousel <url>', 'where the carousel arrives: udp://group:port or udp://host:port', DEFAULT_CAROUSEL_URL)
    .option('--prefix <name>', 'box ids are <prefix>-<n>', 'box')
    .option('--cut <n>', 'boxes (with a return channel) whose return channel is cut', '0')
    .option('--master-key <file>', "the head-end's box master key (development)", '.weft/master.key')
    .option('--trust <file>', 'trusted signing keys, JSON (default: .weft/keys/*.pub.json)')
    .option('--state-dir <dir>', 'keep each box\'s device storage under here')
    .option('--events', 'print every box event as a JSON line')
    .option('--seconds <n>', 'stop after this many seconds (0: until Ctrl-C)', '0')
    .action(async (f: Flags) => run(f));
}
