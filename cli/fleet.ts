// `weft fleet run`: many emulated boxes (devices/fleet.ts), a mix of device profiles sharing one
// carousel demux per process, some with the return channel cut; `--light` boxes have only the
// channel, reports and a session (devices/fleet-light.ts). `--procs N|auto` spreads them over
// child processes (cli/fleet-procs.ts). Prints a summary line every two seconds until Ctrl-C.
import { availableParallelism } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { intOption, numberOption, UserError } from './user-error.ts';
import { eventFilter, parseEventKinds } from './fleet-events.ts';
import { envTraceRate, ipOption, rateOption } from './net-options.ts';
import { appOnAir, arrivals, parseMix, parseOpenFilesLimit, planProcs, startFleet, startLightFleet, type ChildSummary, type FleetWatch } from '../devices/index.ts';
import { loadTrusted } from '../loader/main.ts';
import { mqttDialer, udpTuner } from '../loader/index.ts';
import { DEFAULT_CAROUSEL_URL } from '../carousel/index.ts';
import { loadEngine } from '../sandbox/index.ts';
import { seededRandom } from '../runtime/index.ts';
import { boxPassword, untilDone, untilStopped } from './box.ts';
import { parseKeys, parseState, runScript } from './box-script.ts';
import type { BootState } from '../loader/index.ts';
import { fleetRequests } from '../loader/request-ledger.ts';
import { runProcs } from './fleet-procs.ts';

export interface FleetFlags {
  count: number;
  mix: string;
  headend?: string;
  carousel: string;
  prefix: string;
  first: number;
  cut: number;
  masterKey: string;
  trust?: string;
  stateDir?: string;
  seconds: number;
  /** Print box events: every kind (true) or the listed kinds. */
  events?: boolean | string[];
  keys?: string[];
  keyGap: number;
  exitOn?: BootState;
  exitOnScene?: string;
  timeout?: number;
  interface?: string;
  traceRate?: number;
  procs: 'auto' | number;
  light?: boolean;
  app?: string;
  reportInterval?: number;
  rate?: number;
  seed: number;
  engine: 'box' | 'shared';
  summaryEvery: number;
  /** [issue 19.5] Hold arriving full boxes while the process's loop utilisation is over this (0..1]. */
  pace?: number;
}

/** The hard open-files limit of this process (each box holds at least one socket). */
export function openFilesLimit(): number {
  try {
    return parseOpenFilesLimit(readFileSync('/proc/self/limits', 'utf8')) ?? 1024;
  } catch {
    return 1024; // not Linux: the common default
  }
}

export function procsFor(f: Pick<FleetFlags, 'procs' | 'count' | 'light'>): number {
  if (f.procs !== 'auto') return Math.min(f.procs, f.count);
  return planProcs({ boxes: f.count, cores: availableParallelism(), openFiles: openFilesLimit(), light: f.light === true });
}

async function run(f: FleetFlags): Promise<void> {
  if (f.light === true && f.headend === undefined) throw new UserError('--light boxes need a head-end', 'give --headend mqtt://host:port');
  if (f.light === true && f.pace !== undefined) throw new UserError('--pace holds arriving full boxes: light boxes have no boot to pace', 'drop --pace, or run full boxes');
  if (f.light === true && (f.keys !== undefined || f.exitOnScene !== undefined)) throw new UserError('--light boxes run no app: --keys and --exit-on-scene do not apply', 'drop them, or run full boxes');
  if (f.light !== true && brokersOf(f).length > 1) throw new UserError('several --headend brokers spread --light boxes only', 'give full boxes one mqtt://host:port');
  const mix = parseMix(f.mix);
  const procs = procsFor(f);
  if (procs > 1) return runProcs(f, procs);
  return runHere(f, mix);
}

/** `--headend` as a list: the listeners of one broker (or the brokers of one cluster) light boxes spread over. */
function brokersOf(f: Pick<FleetFlags, 'headend'>): string[] {
  return f.headend === undefined ? [] : f.headend.split(',').filter((u) => u.length > 0);
}

/** A box's broker of several: by a hash of its id, so it dials the same one on every reconnect. */
function brokerFor(urls: string[], boxId: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < boxId.length; i++) h = Math.imul(h ^ boxId.charCodeAt(i), 0x01000193);
  return urls[(h >>> 0) % urls.length] as string;
}

function passwordOf(f: FleetFlags): (id: string) => string {
  return (id) => {
    const p = boxPassword(id, undefined, f.masterKey);
    if (p === undefined) throw new UserError(`no broker secret for box ${id}`, 'give --master-key <file> (npx weft headend up writes .weft/master.key) or WEFT_BOX_PASSWORD');
    return p;
  };
}

/** The boxes of this process (all of them, or a child's slice). */
async function runHere(f: FleetFlags, mix: Record<string, number>): Promise<void> {
  const stopped = untilStopped(f.seconds); // a signal while the fleet starts ends it too
  let press = (_key: string): void => {};
  const script = runScript({ keys: f.keys ?? [], gapMs: f.keyGap, ...(f.exitOn === undefined ? {} : { exitOn: f.exitOn }), ...(f.exitOnScene === undefined ? {} : { exitOnScene: f.exitOnScene }), ...(f.timeout === undefined ? {} : { timeoutS: f.timeout }), count: f.count, press: (k) => press(k) });
  const printed = eventFilter(f.events);
  const onEvent = (box: string, e: unknown): void => {
    const ev = e as { kind?: string; to?: BootState; scene?: { screen?: unknown } | null };
    if (ev.kind === 'state' && ev.to !== undefined) script.onState(ev.to, box);
    if (ev.kind === 'scene') script.onScene(ev.scene?.screen, box);
    if (printed(ev.kind)) console.log(JSON.stringify({ box, ...(e as object) }));
  };
  const random = seededRandom(f.seed + f.first);
  const at = f.rate === undefined ? undefined : arrivals(f.count, f.rate, random);
  const startAt = at === undefined ? undefined : (i: number): number => at[i] ?? 0;
  const reportEveryMs = f.reportInterval === undefined ? undefined : Math.round(f.reportInterval * 1000);
  const headend = f.headend === undefined ? undefined : { url: f.headend, password: passwordOf(f) };
  const trusted = (): ReturnType<typeof loadTrusted> => loadTrusted(f.trust, process.cwd());
  let requests = (): ReturnType<typeof fleetRequests> | undefined => undefined; // [13.8] full boxes keep a ledger
  let gate = (): Pick<ChildSummary, 'held' | 'capacityPerS'> => ({}); // [19.5] the arrival gate, with --pace
  let fleet: { watch: FleetWatch; states(): Partial<Record<string, number>>; settled?(ms: number): Promise<void>; stop(): Promise<void>; boxes: readonly unknown[] } | undefined;
  type Running = NonNullable<typeof fleet>;
  const started = Date.now();
  const loop = monitorEventLoopDelay({ resolution: 20 }); // [19.5] the lag its boxes' deadlines saw, per line
  const tail = (w: FleetWatch): Pick<ChildSummary, 'slow' | 'slowPhaseMs' | 'verdicts' | 'loopMaxMs'> => {
    const loopMaxMs = Math.round(loop.max / 1e6);
    loop.reset();
    return { slow: w.slow, slowPhaseMs: roundAll(w.slowPhaseMs), verdicts: { ...w.verdicts }, loopMaxMs };
  };
  const summary = (fl: Running): ChildSummary & { s: number } => ({ event: 'fleet', s: Math.round((Date.now() - started) / 1000), boxes: fl.boxes.length, states: fl.states() as Record<string, number>, rssMb: Math.round(process.memoryUsage().rss / 1e6), cpuMs: cpuMs(), channel: { ...fl.watch.channel }, booted: fl.watch.takeBooted().map((ms) => Math.round(ms)), requests: requests(), phaseMs: roundAll(fl.watch.phaseMs), startSpanMs: Math.round(fl.watch.startSpanMs()), ...gate(), ...tail(fl.watch) });
  let timer: NodeJS.Timeout | undefined;
  const begin = (): void => {
    if (timer !== undefined) return; // the summary lines, from when there is a fleet to sum
    loop.enable();
    timer = setInterval(() => void (fleet === undefined || console.log(JSON.stringify(summary(fleet)))), f.summaryEvery * 1000);
  };
  if (f.light === true && headend !== undefined) {
    const app = f.app === undefined ? await appOnAir(udpTuner(f.carousel), await trusted(), 120_000) : parseApp(f.app); // no carousel, no keys with --app
    fleet = startLightFleet({ count: f.count, mix, headend, app, prefix: f.prefix, first: f.first, ...(startAt === undefined ? {} : { startAt }), ...(reportEveryMs === undefined ? {} : { reportEveryMs }), random, onEvent }, (boxId, password) => mqttDialer({ url: brokerFor(brokersOf(f), boxId), boxId, password }));
  } else {
    const full = await startFleet({
      count: f.count,
      mix,
      tuner: udpTuner(f.carousel, f.interface === undefined ? {} : { interface: f.interface }),
      trusted: await trusted(),
      ...(headend === undefined ? {} : { headend }),
      prefix: f.prefix,
      first: f.first,
      cut: f.cut,
      ...(f.engine === 'shared' ? { engine: await loadEngine({ maxMemoryBytes: 2 ** 31 }) } : {}),
      ...(startAt === undefined ? {} : { startAt }),
      ...(f.pace === undefined ? {} : { pace: { maxUtilisation: f.pace } }),
      ...(f.stateDir === undefined ? {} : { stateDir: f.stateDir }),
      box: { loader: { traceRate: f.traceRate ?? envTraceRate(), ...(reportEveryMs === undefined ? {} : { reportEveryMs }) } },
      onEvent,
      // [19.5] Summaries while the boxes arrive, not only once the last has started.
      onStart: (full) => {
        press = (k) => {
          for (const b of full.boxes) void b.box.pressKey(k).catch(() => undefined);
        };
        fleet = full;
        requests = () => fleetRequests(full.boxes.map((b) => b.box));
        gate = () => (full.pacer === undefined ? {} : { held: full.pacer.takeHeld().map((ms) => Math.round(ms)), capacityPerS: full.pacer.stats().capacityPerS });
        begin();
      },
    });
    fleet = full;
  }
  begin();
  const code = await untilDone(stopped, script);
  if (f.exitOn !== undefined) await fleet.settled?.(10_000); // a box counted as it announced the state has entered it (D122)
  clearInterval(timer);
  console.log(JSON.stringify(summary(fleet))); // the last word of a child: its final counts
  loop.disable();
  const states = fleet.states(); // as they were when the run ended, not after the boxes stopped
  const fates = requests(); // [13.8] what became of every request
  await fleet.stop();
  console.log(JSON.stringify({ event: 'stopped', states, requests: fates }));
  process.exitCode = code;
}

function roundAll(o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Math.round(v)]));
}

function cpuMs(): number {
  const c = process.cpuUsage();
  return Math.round((c.user + c.system) / 1000);
}

function parseApp(spec: string): { app: string; version: string } {
  const m = /^([A-Za-z0-9_][A-Za-z0-9_.-]{0,63})@([0-9A-Za-z.+-]{1,64})$/.exec(spec);
  if (m === null) throw new UserError(`--app: "${spec}" is not <app>@<version>`, 'e.g. --app guide@1.0.0, or leave it out to take the app on the carousel');
  return { app: m[1] as string, version: m[2] as string };
}

function parseProcs(v: string): 'auto' | number {
  if (v === 'auto') return 'auto';
  return intOption(1, 256)(v);
}

export function registerFleet(program: Command): void {
  const fleet = program.command('fleet').description('fleets of emulated set-top boxes, in one process or spread over several');
  fleet
    .command('run')
    .description('run N emulated boxes with a mix of device profiles')
    .requiredOption('--count <n>', 'how many boxes', intOption(1, 100_000))
    .option('--mix <spec>', 'profile weights, e.g. legacy-sd:2,hd-dvr:1', 'legacy-sd:1,hd-dvr:1,modern-4k:1,broadcast-only:1')
    .option('--headend <url>', "the head-end's MQTT broker, mqtt://host:port (none: carousel only); for --light boxes a comma-separated list of a broker's listeners, each box on one by a hash of its id")
    .option('--carousel <url>', 'where the carousel arrives: udp://group:port or udp://host:port', DEFAULT_CAROUSEL_URL)
    .option('--prefix <name>', 'box ids are <prefix>-<n>', 'box')
    .option('--first <n>', 'number of the first box', intOption(0, 10_000_000), 1)
    .option('--cut <n>', 'boxes (with a return channel) whose return channel is cut', intOption(0), 0)
    .option('--procs <n|auto>', 'spread the boxes over this many processes; auto: by cores, boxes and the open-files limit', parseProcs, 1)
    .option('--light', 'light boxes: the return channel, reports and a session only (no carousel app, no QuickJS), for connection-scale tests')
    .option('--app <name@version>', 'with --light: the app to open sessions for (default: the one on the carousel)')
    .option('--report-interval <s>', "resource reports this often instead of the head-end's interval (5 s)", numberOption(0.05))
    .option('--rate <per-s>', 'boxes start as jittered (Poisson) arrivals at this rate instead of every 20 ms', numberOption(0.001))
    .option('--seed <n>', 'seed of the arrivals and of light boxes\' jitter', intOption(0), 1)
    .option('--engine <box|shared>', 'full boxes: a QuickJS engine each (the profile\'s memory cap) or one per process (big fleets)', parseEngine, 'box')
    .option('--pace <0..1>', 'full boxes: hold an arriving box while this process\'s event loop is busier than this share (its boot then counts from its start; the hold is reported apart)', paceOption)
    .option('--summary-every <s>', 'seconds between summary lines', numberOption(0.1), 2)
    .option('--master-key <file>', "the head-end's box master key (development)", '.weft/master.key')
    .option('--trust <file>', 'trusted signing keys, JSON (default: .weft/keys/*.pub.json)')
    .option('--state-dir <dir>', 'keep each box\'s device storage under here')
    .option('--events [kinds]', 'print box events as JSON lines: every kind, or only the comma-separated kinds given (e.g. probation,module,session)', parseEventKinds)
    .option('--seconds <n>', 'stop after this many seconds (0: until Ctrl-C)', numberOption(0), 0)
    .option('--keys <list>', 'remote keys every box presses once it runs, e.g. "n,e,w,s"', parseKeys)
    .option('--key-gap <ms>', 'time between scripted keys', intOption(1, 60_000), 300)
    .option('--exit-on <state>', 'exit 0 when every box has reached this state (up, degraded, ...)', parseState)
    .option('--exit-on-scene <screen>', 'exit 0 when a module shows a scene with this `screen` (every box, in a fleet)')
    .option('--timeout <s>', 'with --exit-on: exit 3 when not every box got there in time', numberOption(0))
    .option('--interface <ip>', 'local interface address to join a multicast carousel on (default: the system\'s choice)', ipOption('the address of a local interface'))
    .option('--trace-rate <0..1>', "share of the modules' requests that start a W3C trace (default: WEFT_TRACE_RATE, else 0: off)", rateOption)
    .action(async (f: FleetFlags) => run(f));
}

function paceOption(v: string): number {
  const n = Number(v);
  if (!(n > 0 && n <= 1)) throw new UserError(`--pace: "${v}" is not a share in (0, 1]`, 'e.g. --pace 0.6: hold arriving boxes while the process\'s loop is over 60% busy');
  return n;
}

function parseEngine(v: string): 'box' | 'shared' {
  if (v === 'box' || v === 'shared') return v;
  throw new UserError(`--engine: "${v}" is neither box nor shared`, 'box: one engine per box (default); shared: one per process');
}
