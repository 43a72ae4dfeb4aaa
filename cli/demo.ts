// `weft demo` — what `npm start` runs: builds the example apps, starts the embedded head-end
// (aedes, SQLite, one node, the carousel, services) and a small fleet of emulated boxes of
// different profiles, then prints a live summary until Ctrl-C (or --seconds) and shuts down.
import type { Command } from 'commander';
import { numberOption } from './user-error.ts';
import { createLogger, lineLog } from '../headend/log.ts';

/** Where the demo keeps its head-end's log (JSON lines), so the summary stays readable. */
const LOG_FILE = join('.weft', 'demo-headend.log');
import { mkdir } from 'node:fs/promises';
import { freeUdpPort } from '../carousel/index.ts';
import { join } from 'node:path';
import { startHeadend, type RunningHeadend } from '../headend/main.ts';
import { nodeSource, startConsole, type RunningConsole } from '../headend/console/index.ts';
import { TunerFanout, startEmulatedBox, type EmulatedBox } from '../devices/index.ts';
import { udpTuner } from '../loader/index.ts';
import { loadTrusted } from '../loader/main.ts';
import { loadEngine } from '../sandbox/index.ts';
import { fleetSettled, renderSummary, summaryObject, type BoxRow } from './demo-summary.ts';
// @ts-expect-error build.mjs is plain JavaScript without types
import { build } from '../build.mjs';

interface DemoFlags {
  seconds: number;
  console: string;
  json?: boolean;
  untilSettled?: boolean;
}

/** The fleet: one box per behaviour the demo shows. */
/** `expect`: the state and search placement (as the summary words it) the box settles in. */
const FLEET = [
  { id: 'stb-legacy', profile: 'legacy-sd', note: 'little memory: search stays on the head-end', expect: ['up', 'head-end'] },
  { id: 'stb-4k', profile: 'modern-4k', note: 'room to spare: search runs on the box', expect: ['up', 'on box'] },
  { id: 'stb-dvr', profile: 'hd-dvr', note: 'HD DVR: search on the box, cached modules', expect: ['up', 'on box'] },
  { id: 'stb-cut', profile: 'hd-dvr', note: 'return channel cut: runs on the fallback tiers', cut: true, expect: ['degraded', 'fallback'] },
  { id: 'stb-bcast', profile: 'broadcast-only', note: 'no return channel at all: carousel only', expect: ['degraded', 'fallback'] },
] as const;

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('the embedded head-end and a small fleet of emulated boxes running the guide app, with a live summary')
    .option('--seconds <n>', 'stop after this many seconds (0: run until Ctrl-C)', numberOption(0), 0)
    .option('--console <port>', 'serve the operator console on this loopback port (0: any free port, off: none)', '0')
    .option('--json', 'print one JSON object per line (start, ready, a summary every 5 s and at the end, stopped) instead of the text summary')
    .option('--until-settled', 'stop as soon as every box shows its behaviour (and the node counts their sessions), --seconds being the cap')
    .action(async (f: DemoFlags) => runDemo(f.seconds, f.console, f.json === true, f.untilSettled === true));
}


async function runDemo(seconds: number, consolePort: string, json: boolean, untilSettled: boolean): Promise<void> {
  const text = (s: string): void => void process.stdout.write(s);
  // --json: each line an object; the text lines become {event, message}.
  const out = (s: string): void => (json ? text(`${JSON.stringify({ event: 'demo', message: s.trim() })}\n`) : text(s));
  out('weft demo: building the example apps ...\n');
  await build({ quiet: true, firmware: false });
  await mkdir('.weft', { recursive: true });
  const carouselPort = await freeUdpPort();
  const logger = createLogger({ component: 'headend', file: LOG_FILE });
  const headend: RunningHeadend = await startHeadend({
    registry: `sqlite:${join('.weft', 'demo-registry.db')}`,
    brokerPort: 0,
    carousel: `127.0.0.1:${carouselPort}`,
    intervalMs: 1000,
    log: lineLog(logger, 'warn'),
  });
  const engine = await loadEngine();
  const trusted = await loadTrusted(undefined, process.cwd());
  // One carousel listener for the whole fleet, as boxes on one cable segment share the stream.
  const fan = new TunerFanout(udpTuner(`udp://127.0.0.1:${carouselPort}`));
  const boxes: { id: string; profile: string; note: string; e: EmulatedBox }[] = [];
  for (const b of FLEET) {
    const e = await startEmulatedBox({
      profile: b.profile,
      boxId: b.id,
      engine,
      tuner: fan.tuner(),
      trusted,
      headend: { url: headend.brokerUrl, password: headend.boxSecret(b.id) },
      cutReturn: 'cut' in b && b.cut,
    });
    boxes.push({ id: b.id, profile: b.profile, note: b.note, e });
  }
  let consoleServer: RunningConsole | undefined;
  const rows = (): BoxRow[] =>
    boxes.map(({ id, profile, note, e }) => ({ id, profile, note, state: e.box.state, session: e.box.session, search: e.box.where('search'), screen: e.box.screen('ui') }));
  if (consolePort !== 'off') consoleServer = await startConsole({ port: Number(consolePort), source: nodeSource(headend.node, { extra: () => ({ boxes: rows() }) }) });
  if (json) text(`${JSON.stringify({ event: 'ready', node: headend.node.id, broker: headend.brokerUrl, carousel: `udp://127.0.0.1:${carouselPort}`, boxes: boxes.length, ...(consoleServer === undefined ? {} : { console: consoleServer.url, consoleToken: consoleServer.token }), log: LOG_FILE })}\n`);
  else out(`weft demo: head-end ${headend.node.id} (broker ${headend.brokerUrl}), carousel udp://127.0.0.1:${carouselPort}, ${boxes.length} boxes${consoleServer === undefined ? '' : `, console ${consoleServer.url} (operator token ${consoleServer.token})`}; head-end log in ${LOG_FILE}\n`);

  let stop = false;
  const halt = (): void => {
    stop = true;
  };
  process.once('SIGINT', halt);
  process.once('SIGTERM', halt);
  const tty = process.stdout.isTTY === true;
  const started = Date.now();
  // What the viewers type on their remotes: a query, then backspace and the next one.
  const keys = [...'news', 'back', 'back', 'back', 'back', ...'film', 'down', 'back', 'back', 'back', 'back', ...'cup', 'back', 'back', 'back'];
  let tick = 0;
  while (!stop && (seconds === 0 || Date.now() - started < seconds * 1000)) {
    await new Promise((r) => setTimeout(r, 1000));
    tick++;
    // The viewers press remote keys now and then: the guide's ui module reacts on screen.
    for (const b of boxes) if (b.e.box.state === 'up' || b.e.box.state === 'degraded') await b.e.box.pressKey(keys[tick % keys.length] as string).catch(() => undefined);
    const settled = untilSettled && fleetSettled(headend.node, rows(), FLEET);
    if (settled) stop = true;
    const due = settled || tick % 5 === 0 || (seconds > 0 && Date.now() - started >= seconds * 1000 - 1000);
    if (json) {
      if (due) text(`${JSON.stringify(summaryObject(headend.node, rows(), (Date.now() - started) / 1000))}\n`);
      continue;
    }
    const summary = renderSummary(headend.node, rows(), (Date.now() - started) / 1000, { ...(consoleServer === undefined ? {} : { consoleUrl: `${consoleServer.url} (token ${consoleServer.token})` }), ...(tty ? { width: process.stdout.columns } : {}) });
    if (tty) text(`\x1b[H\x1b[2J${summary}`);
    else if (due) text(`${summary}\n`);
  }
  out('weft demo: stopping ...\n');
  for (const b of boxes) await b.e.stop();
  await consoleServer?.close();
  await headend.close();
  out('weft demo: stopped cleanly\n');
}
