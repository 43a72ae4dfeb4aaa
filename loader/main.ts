// The box's composition root, and the firmware's entry (dist/firmware/box.mjs): reads the device
// profile and trusted keys, builds the real adapters (UDP tuner, MQTT dialer, folder storage,
// QuickJS) and runs one Box, printing its events as JSON lines. No emulation here (devices/ has it).
//
//   node box.mjs --device <profile id | file.json> [--headend mqtt://host:port] [--carousel udp://host:port]
//                [--id <box id>] [--password <secret>] [--trust <keys.json>] [--state-dir <dir>]
//                [--app <id>] [--exit-on <state | first-module>] [--cpu-scale <n>] [--quiet]

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { isIP } from 'node:net';
import { type DeviceProfile, checkProfile, checkSampleRate } from '../runtime/index.ts';
import { type TrustedKey, trustedKeyFromJson } from '../runtime/app/index.ts';
import { DEFAULT_CAROUSEL_URL } from '../carousel/index.ts';
import { DEFAULT_LIMITS, loadEngine } from '../sandbox/index.ts';
import { BOOT_STATES } from './boot-table.ts';
import { Box } from './box.ts';
import type { BoxEvent } from './box-events.ts';
import { DEAD_PATH_MARGIN_MS, mqttDialer } from './dialer-mqtt.ts';
import { MemoryStorage } from './module-cache.ts';
import { engineMemoryFor } from './options.ts';
import { memoryBreakdown } from './memory.ts';
import { residentBytes } from './rss.ts';
import { FolderStorage } from './storage-fs.ts';
import { udpTuner } from './tuner-udp.ts';

// The firmware's folder, read when needed (not at load): a startup snapshot of the firmware is
// evaluated where it was built and run from wherever the firmware is (loader/snapshot-entry.ts).
const here = (): string => dirname(fileURLToPath(import.meta.url));
// The flags are listed under it in HELP (every error names --help): the firmware is short of bytes.
const USAGE = 'usage: box --device <profile id | file.json> [flags below]';

/** `--help`: the same flags and meanings as `weft box run`, for a box that has only the firmware. */
export const HELP = `${USAGE}

  --device <id|file>   profile id (profiles.json here) or a profile JSON file
  --headend <url>      the head-end's MQTT broker, mqtt://host:port (none: carousel only)
  --carousel <url>     the carousel: udp://group:port (multicast) or udp://host:port
  --id <box id>        box id, the broker username (default: WEFT_BOX_ID, else box-<pid>)
  --password <secret>  broker secret (default: WEFT_BOX_PASSWORD; "-..." as --password=<secret>)
  --trust <keys.json>  trusted signing keys (default: trusted-keys.json here)
  --state-dir <dir>    keep device storage here, so a restart warm-boots
  --app <id>           the app to run when the carousel carries several
  --exit-on <state>    exit 0 on reaching this state (up, degraded, ...) or first-module
  --cpu-scale <n>      emulated n (1-100) times slower than the device: time limits x n
  --interface <ip>     local address to join a multicast carousel on
  --trace-rate <0..1>  share of module requests that start a W3C trace (WEFT_TRACE_RATE, 0: off)
  --quiet              print only refusals, errors and tuner failures
  --help               this text

Prints its events as JSON lines; SIGINT or SIGTERM stops it in any state.`;

export interface BoxArgs {
  device: string;
  headend: string | undefined;
  carousel: string;
  id: string;
  password: string | undefined;
  trust: string | undefined;
  stateDir: string | undefined;
  app: string | undefined;
  exitOn: string | undefined;
  quiet: boolean;
  cpuScale: number;
  interface: string | undefined;
  traceRate: number;
}

/** What parseBoxArgs returns for --help. */
export const HELP_ASKED = 'help' as const;

export function parseBoxArgs(argv: string[], env: Record<string, string | undefined> = process.env): BoxArgs | typeof HELP_ASKED {
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    options: {
      device: { type: 'string' },
      headend: { type: 'string' },
      carousel: { type: 'string' },
      id: { type: 'string' },
      password: { type: 'string' },
      trust: { type: 'string' },
      'state-dir': { type: 'string' },
      app: { type: 'string' },
      'exit-on': { type: 'string' },
      quiet: { type: 'boolean' },
      'cpu-scale': { type: 'string' },
      interface: { type: 'string' },
      'trace-rate': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (v.help === true) return HELP_ASKED;
  if (v.device === undefined) throw new Error('--device is required');
  const exitOn = v['exit-on'];
  if (exitOn !== undefined && exitOn !== 'first-module' && !(BOOT_STATES as readonly string[]).includes(exitOn)) {
    throw new Error(`--exit-on must be first-module or a boot state (${BOOT_STATES.join(', ')})`);
  }
  const cpuScale = Number(v['cpu-scale'] ?? 1);
  if (!(cpuScale >= 1 && cpuScale <= 100)) throw new Error('--cpu-scale must be a number in 1..100');
  if (v.interface !== undefined && isIP(v.interface) === 0) throw new Error(`--interface must be an IP address of a local interface, got "${v.interface}"`);
  const rate = v['trace-rate'] ?? env.WEFT_TRACE_RATE ?? '0';
  const traceRate = checkSampleRate(rate.trim() === '' ? NaN : Number(rate), '--trace-rate');
  return {
    cpuScale,
    device: v.device,
    headend: v.headend,
    carousel: v.carousel ?? DEFAULT_CAROUSEL_URL,
    id: v.id ?? env.WEFT_BOX_ID ?? `box-${process.pid}`,
    password: v.password ?? env.WEFT_BOX_PASSWORD,
    trust: v.trust,
    stateDir: v['state-dir'],
    app: v.app,
    exitOn,
    quiet: v.quiet === true,
    interface: v.interface,
    traceRate,
  };
}

/** A profile by id from profiles.json beside this file, or a profile (or list) in a JSON file. */
export function loadProfile(device: string, dir = here()): DeviceProfile {
  const fromFile = device.endsWith('.json');
  const file = fromFile ? resolve(device) : join(dir, 'profiles.json');
  if (!existsSync(file)) throw new Error(fromFile ? `no device file ${file}` : `no profiles.json beside the loader; give --device <file.json>`);
  const data = JSON.parse(readFileSync(file, 'utf8')) as unknown;
  const list = Array.isArray(data) ? data : [data];
  const hit = fromFile && list.length === 1 ? list[0] : list.find((p) => (p as { id?: unknown }).id === device);
  if (hit === undefined) throw new Error(`unknown device profile "${device}" (known: ${list.map((p) => (p as { id?: string }).id).join(', ')})`);
  return checkProfile(hit);
}

/** Trusted keys: --trust <file>, else trusted-keys.json beside this file, else .weft/keys/*.pub.json. */
export async function loadTrusted(trust: string | undefined, dir = here()): Promise<TrustedKey[]> {
  const files: string[] = [];
  const beside = join(dir, 'trusted-keys.json');
  if (trust !== undefined) files.push(resolve(trust));
  else if (existsSync(beside)) files.push(beside);
  else if (existsSync('.weft/keys')) for (const f of readdirSync('.weft/keys')) if (f.endsWith('.pub.json')) files.push(join('.weft/keys', f));
  const keys: TrustedKey[] = [];
  for (const f of files) {
    const data = JSON.parse(readFileSync(f, 'utf8')) as unknown;
    for (const k of Array.isArray(data) ? data : [data]) keys.push(await trustedKeyFromJson(k));
  }
  if (keys.length === 0) throw new Error('no trusted keys: give --trust <keys.json> (the box runs only signed apps)');
  return keys;
}

/** A failure as one line on stderr, no stack (`box: <its message's first line><tail>`). */
const say = (e: unknown, tail = ''): void => void process.stderr.write(`box: ${String((e as Error)?.message ?? e).split('\n')[0]}${tail}\n`);

/** CPU time of this process so far, ms (under an emulator: the emulator's, which is the boot's cost there). */
const cpuMs = (): number => {
  const u = process.cpuUsage();
  return Math.round((u.user + u.system) / 1000);
};

export async function main(argv: string[]): Promise<number> {
  // [issue 18.6] QuickJS's wasm compiles on V8's worker from the first moment: the arguments, the
  // profile and the keys are read beside it (they were read before it began: ~0.13 s under qemu).
  // A failed compile, or no file here (a run from source): the engine compiles its own, as before.
  let wasm: Promise<unknown> | undefined;
  try {
    wasm = (globalThis as unknown as { WebAssembly: { compile(b: Uint8Array): Promise<unknown> } }).WebAssembly.compile(readFileSync(join(here(), 'emscripten-module.wasm'))).catch(() => undefined);
  } catch {}
  let a: BoxArgs;
  let profile: DeviceProfile;
  let trusted: TrustedKey[];
  try {
    const parsed = parseBoxArgs(argv);
    if (parsed === HELP_ASKED) {
      process.stdout.write(`${HELP}\n`);
      return 0;
    }
    a = parsed;
    profile = loadProfile(a.device);
    trusted = await loadTrusted(a.trust);
  } catch (e) {
    say(e, '; box --help lists the flags');
    return 2;
  }
  // The same line shape as the head-end's pino logs (level, time), from a few bytes of code: the firmware must shrink.
  const print = (o: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify({ level: o.kind === 'log' ? o.level : o.kind === 'error' || o.kind === 'refused' ? 'warn' : 'info', time: Date.now(), box: a.id, t: Math.round(performance.now()), ...o })}\n`);
  let done: (code: number) => void = () => {};
  const finished = new Promise<number>((r) => (done = r));
  const onEvent = (e: BoxEvent): void => {
    if (!a.quiet || e.kind === 'refused' || e.kind === 'error' || (e.kind === 'tuner' && !e.ok)) print({ ...e });
    if (a.exitOn === 'first-module' && e.kind === 'module' && e.action === 'started') setImmediate(() => done(0));
    // Announced is not entered: the exit line's state is the one asked for once its action ran.
    if (e.kind === 'state' && e.to === a.exitOn) void box.settled(10_000).then(() => done(0), () => done(0));
  };
  // Signals end the box in any state, including while it loads or tunes [issue 13].
  process.once('SIGINT', () => done(0));
  process.once('SIGTERM', () => done(0));
  // [issue 18.6] Not awaited: the box tunes and acquires the boot tier while QuickJS compiles.
  const engine = loadEngine({ maxMemoryBytes: engineMemoryFor(profile), wasmModule: wasm });
  const box = new Box({
    boxId: a.id,
    profile,
    engine,
    tuner: udpTuner(a.carousel, a.interface === undefined ? {} : { interface: a.interface }),
    traceRate: a.traceRate,
    trusted,
    storage: a.stateDir === undefined ? new MemoryStorage(profile.storageBytes) : new FolderStorage(a.stateDir, profile.storageBytes),
    ...(a.headend === undefined ? {} : { dialer: mqttDialer({ url: a.headend, boxId: a.id, ...(a.password === undefined ? {} : { password: a.password }), ...emulatedDeadPath(a.cpuScale) }) }),
    ...(a.app === undefined ? {} : { app: a.app }),
    // Under an emulator the guest's work takes n times the device's time: so do its deadlines.
    ...(a.cpuScale === 1 ? {} : { limits: { deadlineMs: DEFAULT_LIMITS.deadlineMs * a.cpuScale, startDeadlineMs: DEFAULT_LIMITS.startDeadlineMs * a.cpuScale, watchdogGraceMs: DEFAULT_LIMITS.watchdogGraceMs * a.cpuScale } }),
    onEvent,
  });
  // [issue 18.6] The engine loads while the box tunes (the box awaits it before its first module). A
  // failed load ends the firmware as it did when it was awaited before the box (one line, exit 1).
  engine.catch((e: unknown) => {
    say(e);
    done(1);
  });
  const started = box.start();
  started.catch(() => undefined); // raced below; a signal may end the box first
  await Promise.race([started, finished]);
  const code = await finished;
  if (a.exitOn !== undefined) print({ kind: 'exit', state: box.state, running: box.running(), rssMb: Math.round(residentBytes() / 1e5) / 10, cpuMs: cpuMs(), mem: memoryBreakdown((await engine.catch(() => undefined))?.memoryBytes() ?? 0) });
  await box.stop();
  return code;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  // No top-level await: the same module is bundled as CommonJS for the startup snapshot.
  void main(process.argv.slice(2))
    .catch((e: unknown) => {
      say(e);
      return 1;
    })
    .then((code) => (process.exitCode = code));
}

/**
 * An emulated box (`--cpu-scale N`) spends N times the CPU on each CONNECT and reply it handles:
 * the dead-path margin (the local work beside the RTT) stretches by N, so a qemu box is not
 * judged dead by its own slowness; the RTT part is the network's and stays.
 */
export function emulatedDeadPath(cpuScale: number): { deadPath?: { marginMs: number } } {
  return cpuScale === 1 ? {} : { deadPath: { marginMs: Math.round(DEAD_PATH_MARGIN_MS * cpuScale) } };
}
