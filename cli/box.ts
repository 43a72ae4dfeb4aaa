// `weft box run`: one emulated set-top box in this process (devices/emulator.ts): the loader on
// the hardware a device profile describes, tuned to a carousel, dialing the head-end's broker.
// Prints the box's events (states, screens, dials, refusals) as JSON lines until Ctrl-C.
import { existsSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { derivedBoxSecret } from '../headend/broker/broker-auth.ts';
import { registerBoxSecret } from './box-secret.ts';
import { startEmulatedBox } from '../devices/index.ts';
import { loadTrusted } from '../loader/main.ts';
import { udpTuner } from '../loader/index.ts';

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
  seconds: string;
}

/** The box's broker secret: --password, WEFT_BOX_PASSWORD, or derived from the head-end's master key (development). */
export function boxPassword(id: string, password: string | undefined, masterKeyFile: string): string | undefined {
  if (password !== undefined) return password;
  if (process.env.WEFT_BOX_PASSWORD !== undefined) return process.env.WEFT_BOX_PASSWORD;
  if (!existsSync(masterKeyFile)) return undefined;
  return derivedBoxSecret(readFileSync(masterKeyFile, 'utf8').trim(), id);
}

/** Run until Ctrl-C, or for `seconds` when > 0. */
export function untilStopped(seconds: number): Promise<void> {
  return new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    if (seconds > 0) setTimeout(resolve, seconds * 1000).unref();
  });
}

async function run(f: Flags): Promise<void> {
  const password = boxPassword(f.id, f.password, f.masterKey);
  if (f.headend !== undefined && password === undefined) throw new Error(`no broker secret for ${f.id}: give --password, WEFT_BOX_PASSWORD or --master-key`);
  const print = (o: Record<string, unknown>): void => console.log(JSON.stringify({ box: f.id, ...o }));
  const emu = await startEmulatedBox({
    profile: f.device,
    boxId: f.id,
    tuner: udpTuner(f.carousel),
    trusted: await loadTrusted(f.trust, process.cwd()),
    ...(f.headend === undefined || password === undefined ? {} : { headend: { url: f.headend, password } }),
    ...(f.stateDir === undefined ? {} : { stateDir: f.stateDir }),
    cutReturn: f.cutReturn === true,
    onEvent: (e) => print({ ...e }),
  });
  await untilStopped(Number(f.seconds));
  await emu.stop();
  print({ kind: 'stopped', report: emu.box.report() });
}

export function registerBox(program: Command): void {
  const box = program.command('box').description('emulated set-top boxes');
  box
    .command('run')
    .description('run one emulated box with a device profile (legacy-sd, hd-dvr, modern-4k, broadcast-only)')
    .requiredOption('--device <profile>', 'device profile id')
    .option('--headend <url>', "the head-end's MQTT broker, mqtt://host:port (none: carousel only)")
    .option('--carousel <url>', 'where the carousel arrives: udp://group:port (multicast) or udp://host:port', 'udp://127.0.0.1:5500')
    .option('--id <boxId>', 'box id (its broker username)', 'box-1')
    .option('--password <secret>', 'broker secret of this box (default: WEFT_BOX_PASSWORD, or derived from --master-key)')
    .option('--master-key <file>', "the head-end's box master key (development)", '.weft/master.key')
    .option('--trust <file>', 'trusted signing keys, JSON (default: .weft/keys/*.pub.json)')
    .option('--state-dir <dir>', 'keep device storage here, so a restart warm-boots')
    .option('--cut-return', 'cut the return channel (a dead path): the box falls back to the carousel tiers')
    .option('--seconds <n>', 'stop after this many seconds (0: until Ctrl-C)', '0')
    .action(async (f: Flags) => run(f));
  registerBoxSecret(box);
}
