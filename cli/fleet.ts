// `weft fleet run`: many emulated boxes in one process (devices/fleet.ts), a mix of device
// profiles sharing one carousel listener and one QuickJS engine, some with the return channel
// cut. Prints a summary line (boxes per boot state) every two seconds until Ctrl-C.
import type { Command } from 'commander';
import { intOption, numberOption, UserError } from './user-error.ts';
import { envTraceRate, ipOption, rateOption } from './net-options.ts';
import { parseMix, startFleet } from '../devices/index.ts';
import { loadTrusted } from '../loader/main.ts';
import { udpTuner } from '../loader/index.ts';
import { DEFAULT_CAROUSEL_URL } from '../carousel/index.ts';
import { boxPassword, untilDone, untilStopped } from './box.ts';
import { parseKeys, parseState, runScript } from './box-script.ts';
import type { BootState } from '../loader/index.ts';
import { fleetRequests } from '../loader/request-ledger.ts';

interface Flags {
  count: number;
  mix: string;
  headend?: string;
  carousel: string;
  prefix: string;
  cut: number;
  masterKey: string;
  trust?: string;
  stateDir?: string;
  seconds: number;
  events?: boolean;
  keys?: string[];
  keyGap: number;
  exitOn?: BootState;
  exitOnScene?: string;
  timeout?: number;
  interface?: string;
  traceRate?: number;
}

async function run(f: Flags): Promise<void> {
  const headend =
    f.headend === undefined
      ? undefined
      : {
          url: f.headend,
          password: (id: string): string => {
            const p = boxPassword(id, undefined, f.masterKey);
            if (p === undefined) throw new UserError(`no broker secret for box ${id}`, 'give --master-key <file> (npx weft headend up writes .weft/master.key) or WEFT_BOX_PASSWORD');
            return p;
          },
        };
  const stopped = untilStopped(f.seconds); // a signal while the fleet starts ends it too
  let press = (_key: string): void => {};
  const script = runScript({ keys: f.keys ?? [], gapMs: f.keyGap, ...(f.exitOn === undefined ? {} : { exitOn: f.exitOn }), ...(f.exitOnScene === undefined ? {} : { exitOnScene: f.exitOnScene }), ...(f.timeout === undefined ? {} : { timeoutS: f.timeout }), count: f.count, press: (k) => press(k) });
  const fleet = await startFleet({
    count: f.count,
    mix: parseMix(f.mix),
    tuner: udpTuner(f.carousel, f.interface === undefined ? {} : { interface: f.interface }),
    trusted: await loadTrusted(f.trust, process.cwd()),
    ...(headend === undefined ? {} : { headend }),
    prefix: f.prefix,
    cut: f.cut,
    box: { loader: { traceRate: f.traceRate ?? envTraceRate() } },
    ...(f.stateDir === undefined ? {} : { stateDir: f.stateDir }),
    onEvent: (box: string, e: unknown) => {
      const ev = e as { kind?: string; to?: BootState; scene?: { screen?: unknown } | null };
      if (ev.kind === 'state' && ev.to !== undefined) script.onState(ev.to, box);
      if (ev.kind === 'scene') script.onScene(ev.scene?.screen, box);
      if (f.events === true) console.log(JSON.stringify({ box, ...(e as object) }));
    },
  });
  press = (k) => {
    for (const b of fleet.boxes) void b.box.pressKey(k).catch(() => undefined);
  };
  const started = Date.now();
  const timer = setInterval(() => {
    console.log(JSON.stringify({ event: 'fleet', s: Math.round((Date.now() - started) / 1000), boxes: fleet.boxes.length, states: fleet.states(), requests: fleetRequests(fleet.boxes.map((b) => b.box)), rssMb: Math.round(process.memoryUsage().rss / 1e6) }));
  }, 2000);
  const code = await untilDone(stopped, script);
  clearInterval(timer);
  const states = fleet.states(); // as they were when the run ended, not after the boxes stopped
  const requests = fleetRequests(fleet.boxes.map((b) => b.box)); // [13.8] what became of every request
  await fleet.stop();
  console.log(JSON.stringify({ event: 'stopped', states, requests }));
  process.exitCode = code;
}

export function registerFleet(program: Command): void {
  const fleet = program.command('fleet').description('fleets of emulated set-top boxes in one process');
  fleet
    .command('run')
    .description('run N emulated boxes with a mix of device profiles')
    .requiredOption('--count <n>', 'how many boxes', intOption(1, 100_000))
    .option('--mix <spec>', 'profile weights, e.g. legacy-sd:2,hd-dvr:1', 'legacy-sd:1,hd-dvr:1,modern-4k:1,broadcast-only:1')
    .option('--headend <url>', "the head-end's MQTT broker, mqtt://host:port (none: carousel only)")
    .option('--carousel <url>', 'where the carousel arrives: udp://group:port or udp://host:port', DEFAULT_CAROUSEL_URL)
    .option('--prefix <name>', 'box ids are <prefix>-<n>', 'box')
    .option('--cut <n>', 'boxes (with a return channel) whose return channel is cut', intOption(0), 0)
    .option('--master-key <file>', "the head-end's box master key (development)", '.weft/master.key')
    .option('--trust <file>', 'trusted signing keys, JSON (default: .weft/keys/*.pub.json)')
    .option('--state-dir <dir>', 'keep each box\'s device storage under here')
    .option('--events', 'print every box event as a JSON line')
    .option('--seconds <n>', 'stop after this many seconds (0: until Ctrl-C)', numberOption(0), 0)
    .option('--keys <list>', 'remote keys every box presses once it runs, e.g. "n,e,w,s"', parseKeys)
    .option('--key-gap <ms>', 'time between scripted keys', intOption(1, 60_000), 300)
    .option('--exit-on <state>', 'exit 0 when every box has reached this state (up, degraded, ...)', parseState)
    .option('--exit-on-scene <screen>', 'exit 0 when a module shows a scene with this `screen` (every box, in a fleet)')
    .option('--timeout <s>', 'with --exit-on: exit 3 when not every box got there in time', numberOption(0))
    .option('--interface <ip>', 'local interface address to join a multicast carousel on (default: the system\'s choice)', ipOption('the address of a local interface'))
    .option('--trace-rate <0..1>', "share of the modules' requests that start a W3C trace (default: WEFT_TRACE_RATE, else 0: off)", rateOption)
    .action(async (f: Flags) => run(f));
}
