// `weft box run`: one emulated set-top box in this process (devices/emulator.ts): the loader on
// the hardware a device profile describes, tuned to a carousel, dialing the head-end's broker.
// Prints the box's events (states, screens, dials, refusals) as JSON lines until Ctrl-C.
import { existsSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { intOption, numberOption, UserError } from './user-error.ts';
import { envTraceRate, ipOption, rateOption } from './net-options.ts';
import { keysFromTerminal, parseKeys, parseState, runScript, type Script } from './box-script.ts';
import type { BootState } from '../loader/index.ts';
import { derivedBoxSecret } from '../headend/broker/broker-auth.ts';
import { registerBoxSecret } from './box-secret.ts';
import { profile, startEmulatedBox } from '../devices/index.ts';
import { loadTrusted } from '../loader/main.ts';
import { udpTuner } from '../loader/index.ts';
import { DEFAULT_CAROUSEL_URL } from '../carousel/index.ts';

interface Flags {
  device: string;
  headend?: string;
  carousel: string;
  id: string;
  password?: string;
  masterKey: string;
  trust?: string;
  stateDir?: string;
  cutReturn?: boolean;
  seconds: number;
  keys?: string[];
  keyGap: number;
  exitOn?: BootState;
  exitOnScene?: string;
  timeout?: number;
  interface?: string;
  traceRate?: number;
}

/** The box's broker secret: --password, WEFT_BOX_PASSWORD, or derived from the head-end's master key (development). */
export function boxPassword(id: string, password: string | undefined, masterKeyFile: string): string | undefined {
  if (password !== undefined) return password;
  if (process.env.WEFT_BOX_PASSWORD !== undefined) return process.env.WEFT_BOX_PASSWORD;
  if (!existsSync(masterKeyFile)) return undefined;
  return derivedBoxSecret(readFileSync(masterKeyFile, 'utf8').trim(), id);
}

/** Wait for `stopped` (Ctrl-C or --seconds, from untilStopped) or the script's end; the process's exit code. */
export async function untilDone(stopped: Promise<void>, script: Script | undefined): Promise<number> {
  const code = await Promise.race([stopped.then(() => 0), ...(script === undefined ? [] : [script.done])]);
  script?.stop();
  return code;
}

/** Run until Ctrl-C, or for `seconds` when > 0. */
export function untilStopped(seconds: number): Promise<void> {
  return new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    if (seconds > 0) setTimeout(resolve, seconds * 1000).unref();
  });
}

/** The profile named by --device, or a one-line error that lists the known ones. */
export function checkProfile(id: string): void {
  try {
    profile(id);
  } catch (e) {
    throw new UserError((e as Error).message, 'pick one with --device');
  }
}

async function run(f: Flags): Promise<void> {
  checkProfile(f.device);
  const password = boxPassword(f.id, f.password, f.masterKey);
  if (f.headend !== undefined && password === undefined) throw new UserError(`no broker secret for box ${f.id}`, 'give --password=<secret>, WEFT_BOX_PASSWORD, or --master-key <file> (npx weft headend up writes .weft/master.key)');
  const print = (o: Record<string, unknown>): void => console.log(JSON.stringify({ box: f.id, ...o }));
  const stopped = untilStopped(f.seconds); // a signal while the box starts (or tunes) ends it too
  let press = (_key: string): void => {};
  const script = runScript({ keys: f.keys ?? [], gapMs: f.keyGap, ...(f.exitOn === undefined ? {} : { exitOn: f.exitOn }), ...(f.exitOnScene === undefined ? {} : { exitOnScene: f.exitOnScene }), ...(f.timeout === undefined ? {} : { timeoutS: f.timeout }), count: 1, press: (k) => press(k) });
  let quit = (): void => {};
  const quitting = new Promise<void>((r) => (quit = r));
  const emu = await startEmulatedBox({
    profile: f.device,
    boxId: f.id,
    tuner: udpTuner(f.carousel, f.interface === undefined ? {} : { interface: f.interface }),
    trusted: await loadTrusted(f.trust, process.cwd()),
    ...(f.headend === undefined || password === undefined ? {} : { headend: { url: f.headend, password } }),
    ...(f.stateDir === undefined ? {} : { stateDir: f.stateDir }),
    cutReturn: f.cutReturn === true,
    loader: { traceRate: f.traceRate ?? envTraceRate() },
    onEvent: (e) => {
      print({ ...e });
      if (e.kind === 'state') script.onState(e.to);
      if (e.kind === 'scene') script.onScene((e.scene as { screen?: unknown } | null)?.screen);
    },
  });
  press = (k) => void emu.box.pressKey(k).catch((err: Error) => print({ kind: 'error', message: `key ${k}: ${err.message}` }));
  const endTerminal = keysFromTerminal(press, quit);
  const code = await Promise.race([untilDone(stopped, script), quitting.then(() => 0)]);
  script.stop();
  endTerminal();
  await emu.stop();
  print({ kind: 'stopped', report: emu.box.report() });
  process.exitCode = code;
}

export function registerBox(program: Command): void {
  const box = program.command('box').description('emulated set-top boxes');
  box
    .command('run')
    .description('run one emulated box with a device profile (legacy-sd, hd-dvr, modern-4k, broadcast-only)')
    .requiredOption('--device <profile>', 'device profile id')
    .option('--headend <url>', "the head-end's MQTT broker, mqtt://host:port (none: carousel only)")
    .option('--carousel <url>', 'where the carousel arrives: udp://group:port (multicast) or udp://host:port (loopback: shared by the boxes of this host)', DEFAULT_CAROUSEL_URL)
    .option('--id <boxId>', 'box id (its broker username)', 'box-1')
    .option('--password <secret>', 'broker secret of this box (default: WEFT_BOX_PASSWORD, or derived from --master-key)')
    .option('--master-key <file>', "the head-end's box master key (development)", '.weft/master.key')
    .option('--trust <file>', 'trusted signing keys, JSON (default: .weft/keys/*.pub.json)')
    .option('--state-dir <dir>', 'keep device storage here, so a restart warm-boots')
    .option('--cut-return', 'cut the return channel (a dead path): the box falls back to the carousel tiers')
    .option('--seconds <n>', 'stop after this many seconds (0: until Ctrl-C)', numberOption(0), 0)
    .option('--keys <list>', 'remote keys to press once the box runs, e.g. "n,e,w,s,down,ok" (a terminal on stdin works as a remote too)', parseKeys)
    .option('--key-gap <ms>', 'time between scripted keys', intOption(1, 60_000), 300)
    .option('--exit-on <state>', 'exit 0 when the box reaches this state (up, degraded, ...)', parseState)
    .option('--exit-on-scene <screen>', 'exit 0 when a module shows a scene with this `screen` (every box, in a fleet)')
    .option('--timeout <s>', 'with --exit-on: exit 3 when the state is not reached in time', numberOption(0))
    .option('--interface <ip>', 'local interface address to join a multicast carousel on (default: the system\'s choice)', ipOption('the address of a local interface'))
    .option('--trace-rate <0..1>', "share of the modules' requests that start a W3C trace (default: WEFT_TRACE_RATE, else 0: off)", rateOption)
    .action(async (f: Flags) => run(f));
  registerBoxSecret(box);
}
