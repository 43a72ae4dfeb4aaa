// bench/scale [issue 19, builds 5-6]: a fleet that emulates a city against one head-end node.
//   full:  --boxes full boxes (QuickJS apps, carousel, shaped return paths) spread over processes
//          by `weft fleet run --procs auto`, arriving as a Poisson process at --share (0.6) of the
//          head-end's setup capacity measured first; boot p95 (a box's start to `up`), dead-path
//          verdicts (all false: no path is cut; beside them the ones a late CONNACK undid), idle
//          fleet CPU per box per second.
//   light: --light boxes (channel, reports every --report-interval s, session) held by the node on
//          embedded aedes and on mosquitto: head-end memory per box, one full box's request p99
//          loaded / unloaded, then a broker restart: the reconnect storm's settle time against its
//          jitter window (the transport's 10 s) and its dead-path verdicts. On mosquitto the node is
//          a client too: the storm settles when every box is up and the node's own link is back.
// Usage: npm run bench -- scale [--boxes 5000] [--light 18000] [--idle-s 20] [--brokers aedes,mosquitto]
//        [--phases full,light,storm] [--procs auto] [--admission on|off] [--connect-gate on|off] [--pace 0.6]
//        [--full-rate 0] [--prof-dir <dir>] [--storm-prof <dir>] [--held-prof <dir>] [--hold-s 0[,60]] [--pin] [--listen-backlog N]. Develop with small sizes (--boxes 200 --light 1000).
//        --brokers aedes-thread: aedes in a worker thread of the node's process (broker-thread.ts), beside
//        aedes on the node's loop (the default embedding) for the A/B.
import { randomBytes } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHeadend, type RunningHeadend } from '../headend/main.ts';
import { headendCredentials } from '../headend/broker/broker-auth.ts';
import { startAedesBroker, type EmbeddedBroker } from '../headend/broker/broker-aedes.ts';
import { startAedesBrokerThread, type ThreadBroker } from '../headend/broker/broker-thread.ts';
import { mosquittoBroker, nodeLinkWatch, type Broker } from './_scale-brokers.ts';
import { freeTcpPort, freeUdpPort } from '../test/_helpers/ports.ts';
import { which } from '../test/_helpers/env.ts';
import { pinSelf, probe, rssOf, settle, startFleetCli, type RunningFleet } from './_scale-fleet.ts';
import type { FleetLine } from '../cli/fleet-procs.ts';
import { result, table } from './_report.ts';
import { profile, runStorm } from './_scale-storm.ts';
import { heldWindow } from './_scale-held.ts';
// @ts-expect-error build.mjs is plain JavaScript without types
import { build } from '../build.mjs';

const flag = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? dflt : (process.argv[i + 1] ?? dflt);
};
const FULL = Number(flag('boxes', '5000'));
const LIGHT = Number(flag('light', '18000'));
const IDLE_S = Number(flag('idle-s', '20'));
/** Each portion thread's instances and QuickJS engine memory (its last load report), for the progress lines. */
const threadFill = (h: { node: { portions: { threadStats(): { instances: number; sandbox?: { engineBytes: number } }[] } } }): string =>
  h.node.portions.threadStats().map((t) => `${t.instances}/${Math.round((t.sandbox?.engineBytes ?? 0) / 2 ** 20)}`).join(' ');
const SHARE = Number(flag('share', '0.6'));
const REPORT_S = Number(flag('report-interval', '60'));
const PROCS = flag('procs', 'auto');
/** Longest wait for every light (full) box to be up, s (default: the arrivals' span + 180 (240) s); a cut run still records what it held. */
const MAX_S = Number(flag('max-s', '0'));
const BROKERS = flag('brokers', 'aedes,mosquitto').split(',');
/** [issue 19.6] `off`: the node never answers QUOTA (setups), for the A/B against admission (the default, `on`). */
const ADMISSION = flag('admission', 'on');
if (ADMISSION !== 'on' && ADMISSION !== 'off') throw new Error(`--admission must be on or off, got ${ADMISSION}`);
/** [issue 19.6] `off`: embedded aedes never answers CONNACK 3 (broker-connect-gate.ts), for the A/B against the gate (the default, `on`). */
const GATE = flag('connect-gate', 'on');
if (GATE !== 'on' && GATE !== 'off') throw new Error(`--connect-gate must be on or off, got ${GATE}`);
/** [19.6] The embedded broker's listen backlog (default: the broker's LISTEN_BACKLOG); `--listen-backlog 511`, Node's default, for the A/B. */
const BACKLOG = flag('listen-backlog', '');
/** [wave 15] mosquitto's listeners for the light boxes (each listens with a fixed backlog of 100; the boxes spread over them by id). */
const LISTENERS = Number(flag('listeners', '1'));
if (!(Number.isInteger(LISTENERS) && LISTENERS >= 1 && LISTENERS <= 64)) throw new Error(`--listeners must be an integer in 1..64, got ${LISTENERS}`);
const gateOption = { ...(GATE === 'off' ? { connectGate: 'off' as const } : {}), ...(BACKLOG === '' ? {} : { listenBacklog: Number(BACKLOG) }) };
/** The full fleet's process writes a CPU profile here on exit (with --procs 1), to see what a boot costs it. */
const PROF_DIR = flag('prof-dir', '');
/** [19.6] The bench process (node, embedded aedes) writes a CPU profile of the storm alone here. */
const STORM_PROF = flag('storm-prof', '');
/** [19.6] ... and of the held phase alone (all light boxes up, the loaded probe's requests). */
const HELD_PROF = flag('held-prof', '');
/**
 * [wave 16] `--pin`: the node's process (its threads, and the broker and probe it starts) on CPU 0 and
 * the light fleet on the others, so the loaded probe reads what holding the fleet costs the node,
 * not the emulator's CPU beside it (in the field the boxes bring their own). Both probes run pinned.
 */
const PIN = process.argv.includes('--pin');
/** [wave 16] When the loaded probe runs: seconds after the last light box is up, one probe each, in order (the last one is the row's). */
const HOLDS = flag('hold-s', '0').split(',').map(Number);
if (!HOLDS.every((x, i) => Number.isFinite(x) && x >= 0 && (i === 0 || x > (HOLDS[i - 1] as number)))) throw new Error(`--hold-s must be rising seconds >= 0 (e.g. 0,60), got ${flag('hold-s', '0')}`);
const PHASES = new Set(flag('phases', 'full,light,storm').split(','));
/** [issue 19.5] Arrivals are paced by the fleet as well as by the head-end: each fleet process holds
 *  an arriving full box while its event loop is busier than this share (`weft fleet run --pace`),
 *  so a box's boot counts from its start and never includes the fleet's own queue for its CPU; the
 *  holds and the fleet's boot capacity are reported beside the head-end's. `--pace 0`: no gate. */
const PACE = Number(flag('pace', '0.6'));
/** A fixed cap on full-box arrivals per second on top of both (0: none). Wave 5 used 20. */
const FLEET_BOOTS_PER_S = Number(flag('full-rate', '0'));
const STORM_WINDOW_S = 10; // transport/reconnect.ts DEFAULT_BACKOFF.windowMs: the first reconnect is spread over it
const NODE = 'node-1';
/** The setup capacity probe: 20 boxes arriving at a time, 300 measured (bench/_scale-probe.ts). */
const CAPACITY = ['--clients', '20', '--n', '300', '--prefix', 'cap'];

const dir = await mkdtemp(join(tmpdir(), 'weft-bench-scale-'));
await build({ out: join(dir, 'dist'), keys: join(dir, 'keys'), quiet: true, firmware: false });
const MASTER = randomBytes(24).toString('base64url');
const NODE_KEY = randomBytes(24).toString('base64url');
const masterFile = join(dir, 'master.key');
await writeFile(masterFile, `${MASTER}\n`);
const { readdir, readFile } = await import('node:fs/promises');
const pubs = (await readdir(join(dir, 'keys'))).filter((f) => f.endsWith('.pub.json'));
const trustFile = join(dir, 'trusted.json');
await writeFile(trustFile, JSON.stringify(await Promise.all(pubs.map(async (f) => JSON.parse(await readFile(join(dir, 'keys', f), 'utf8')) as unknown))));
const creds = headendCredentials({ boxKey: MASTER, node: NODE, nodeKey: NODE_KEY });
/** [issue 19.6] Opens the node answered QUOTA (setups) because it was past its setup capacity. */
const refusedSetups = (h: RunningHeadend): number => {
  const a = h.node.sessions.admission.stats;
  return a.refusedBehind + a.refusedCeiling;
};

/** aedes in a worker thread of the node's process (broker-thread.ts): its own event loop. */
async function aedesThread(): Promise<Broker> {
  const port = await freeTcpPort();
  const start = (): Promise<ThreadBroker> => startAedesBrokerThread({ keys: { boxKey: MASTER, node: NODE, nodeKey: NODE_KEY }, port });
  let b: ThreadBroker = await start();
  return {
    url: b.url,
    heap: () => b.heapUsedBytes,
    pid: undefined, // in this process
    restart: async () => {
      await b.close(); // every connection drops at once
      b = await start();
    },
    stop: () => b.close(),
  };
}

/** aedes as the node embeds it by default: on the node's own event loop. */
async function aedes(): Promise<Broker> {
  const port = await freeTcpPort();
  let b: EmbeddedBroker = await startAedesBroker({ credentials: creds.store, port, log: () => {}, ...gateOption });
  let busy0 = 0; // CONNACK 3 of the brokers before a restart
  return {
    url: b.url,
    pid: undefined, // in this process
    refusals: () => {
      const st = b.stats();
      const g = b.gateStats();
      return `preauth cut ${st.preauthConnections}, connect timeouts ${st.connectTimeout}, penalized ${st.penalized}, client errors ${st.clientErrors}, unauthenticated held ${st.preauthHeldConnections}, CONNACK 3 (gate ${GATE}) ${st.busy}, CONNECT sojourn max ${g === undefined ? '-' : Math.round(g.maxSojournMs)} ms`;
    },
    busy: () => busy0 + b.stats().busy,
    sample: () => {
      const st = b.stats();
      const g = b.gateStats();
      return { connected: st.connections, admitted: g?.admitted ?? 0, 'CONNACK 3': st.busy, 'preauth cut': st.preauthConnections, 'connect timeouts': st.connectTimeout, 'preauth held': st.preauthHeldConnections, 'sojourn max ms': Math.round(g?.maxSojournMs ?? 0) };
    },
    restart: async () => {
      busy0 += b.stats().busy;
      await b.close(); // every connection drops at once
      b = await startAedesBroker({ credentials: creds.store, port, log: () => {}, ...gateOption });
    },
    stop: () => b.close(),
  };
}

async function headend(broker: Broker, log: (line: string) => void = () => {}): Promise<{ h: RunningHeadend; carousel: number }> {
  const carousel = await freeUdpPort();
  const h = await startHeadend({
    node: NODE,
    broker: broker.url,
    password: creds.nodePassword,
    clusterKey: randomBytes(32),
    registry: `sqlite:${join(dir, `registry-${Date.now()}.db`)}`,
    apps: join(dir, 'dist', 'apps'),
    keys: join(dir, 'keys'),
    masterKey: MASTER,
    carousel: `127.0.0.1:${carousel}`,
    spareThreads: 2,
    ...(ADMISSION === 'off' ? { quotas: { setups: { maxInFlight: 1_000_000, minInFlight: 1_000_000 } } } : {}),
    log,
  });
  return { h, carousel };
}

const common = (url: string, carousel: number): string[] => ['--headend', url, '--carousel', `udp://127.0.0.1:${carousel}`, '--trust', trustFile, '--master-key', masterFile, '--procs', PROCS === 'auto' ? 'auto' : PROCS, '--summary-every', '1'];
const probeArgs = (url: string, mode: string, extra: string[] = []): string[] => ['--url', url, '--master', MASTER, '--mode', mode, ...extra];
const out: Record<string, number | null> = {};
const rows: { case: string; [k: string]: string | number }[] = [];
/** Each case as it is measured, so a run cut short still shows what it measured. */
const row = (r: { case: string; [k: string]: string | number }): void => {
  rows.push(r);
  console.log(`measured: ${JSON.stringify(r)}`);
};

/** [issue 19.5] Each second in which a dead-path verdict came (one that no late CONNACK undid): the
 *  verdicts by kind and phase, the fleet's and the head-end's longest loop delay that second. */
function verdictLog(fleet: RunningFleet, t0: number): { log: string[]; stop: () => void } {
  const second = monitorEventLoopDelay({ resolution: 10 }); // this process: the node and aedes
  second.enable();
  const log: string[] = [];
  let prev: Record<string, number> = {};
  const stop = fleet.onLine((l) => {
    const v = l.verdicts ?? {};
    const fresh = Object.entries(v).filter(([k, n]) => !k.startsWith('undone@') && n > (prev[k] ?? 0)).map(([k, n]) => `${k} +${n - (prev[k] ?? 0)}`);
    if (fresh.length > 0 && log.length < 80) log.push(`+${Math.round((performance.now() - t0) / 1000)} s, ${l.states.up ?? 0} up: ${fresh.join(', ')}; fleet loop max ${l.loopMaxMs ?? '-'} ms, head-end loop max ${Math.round(second.max / 1e6)} ms`);
    prev = { ...v };
    second.reset();
  });
  return { log, stop: () => (stop(), second.disable()) };
}

/** Wait for every full box to be up (or for `waitS`: a cut run records what it held), printing progress every 30 s. */
async function fullUp(fleet: RunningFleet, waitS: number, t0: number, broker: Broker, h: RunningHeadend): Promise<{ line: FleetLine }> {
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const progress = setInterval(() => {
    const l = fleet.last();
    if (l !== undefined) console.log(`full +${Math.round((performance.now() - t0) / 1000)} s: ${JSON.stringify(l.states)} boot p95 ${l.boot.p95} ms held p95 ${l.held?.p95 ?? '-'} ms capacity ${l.capacityPerS?.toFixed(1) ?? '-'}/s cpu ${l.cpuMs} ms; mean ms by state ${JSON.stringify(l.phases ?? {})}; over 3 s ${JSON.stringify(l.slow ?? {})}; verdicts ${JSON.stringify(l.verdicts ?? {})}; head-end loop p99 ${(loop.percentile(99) / 1e6).toFixed(0)} ms max ${(loop.max / 1e6).toFixed(0)} ms, QUOTA ${refusedSetups(h)}, setups in flight ${h.node.sessions.admission.stats.inFlight}; broker: ${broker.refusals?.() ?? '-'}`);
    loop.reset();
  }, 30_000);
  const line = await fleet
    .until((l) => (l.states.up ?? 0) === FULL, waitS * 1000, `${FULL} boxes up`)
    .finally(() => (clearInterval(progress), loop.disable()))
    .catch((e: unknown) => {
      const l = fleet.last();
      if (l === undefined) throw e;
      console.log(`full: ${(e as Error).message.split(' (last')[0]}: ${l.states.up ?? 0} up`);
      return l;
    });
  return { line };
}

async function fullPhase(): Promise<void> {
  const broker = await aedes();
  const { h, carousel } = await headend(broker);
  try {
    const cap = await probe(probeArgs(broker.url, 'capacity', CAPACITY));
    const rate = FLEET_BOOTS_PER_S > 0 ? Math.min(SHARE * (cap.perS ?? 0), FLEET_BOOTS_PER_S) : SHARE * (cap.perS ?? 0);
    console.log(`head-end setup capacity ${cap.perS?.toFixed(0)}/s (p99 ${cap.p99?.toFixed(1)} ms): ${FULL} full boxes arrive at ${rate.toFixed(0)}/s at most${PACE > 0 ? `, held while a fleet process's loop is over ${PACE} busy` : ''}`);
    const pace = PACE > 0 ? ['--pace', String(PACE)] : [];
    const t0 = performance.now();
    const fleet = startFleetCli(['--count', String(FULL), '--mix', 'legacy-sd:1,hd-dvr:1,modern-4k:1', '--engine', 'shared', '--rate', String(rate), ...pace, '--report-interval', String(REPORT_S), ...common(broker.url, carousel)], PROF_DIR === '' ? undefined : PROF_DIR);
    const verdicts = verdictLog(fleet, t0);
    try {
      const up = await fullUp(fleet, MAX_S > 0 ? MAX_S : FULL / rate + 240, t0, broker, h);
      const c0 = up.line.cpuMs;
      const i0 = performance.now();
      const idle = await fleet.until((l) => performance.now() - i0 >= IDLE_S * 1000 && l.cpuMs > c0, (IDLE_S + 30) * 1000, 'the idle window');
      const idleMs = ((idle.cpuMs - c0) / FULL / ((performance.now() - i0) / 1000));
      out.full_boxes = (idle.states.up ?? 0);
      // [issue 19.5] both paces: the head-end's (the offered rate) and the fleet's (its gate).
      out.arrival_rate_offered_per_s = rate;
      out.arrival_rate_per_s = up.line.startedPerS ?? null; // first to last start inside the fleet (its processes' own start-up excluded)
      out.fleet_boot_capacity_per_s = up.line.capacityPerS ?? null;
      out.fleet_held_p95_s = up.line.held?.p95 === undefined || up.line.held.p95 === null ? null : up.line.held.p95 / 1000;
      out.fleet_cpu_ms_per_boot = up.line.cpuMs / FULL;
      console.log(`full: mean ms a booted box spent in each state: ${JSON.stringify(up.line.phases ?? {})}; the ${up.line.slow?.n ?? 0} over 3 s: ${JSON.stringify(up.line.slow?.phases ?? {})}`);
      out.full_boots_over_3s = up.line.slow?.n ?? 0;
      out.full_connack_busy = broker.busy?.() ?? null;
      out.full_boot_p95_s = (idle.boot.p95 ?? NaN) / 1000;
      // [13.4] verdicts that stayed wrong (a late CONNACK adopted undoes its connection's), and every verdict beside it.
      out.false_dead_paths = idle.channel.deadPaths - idle.channel.deadPathsUndone + idle.channel.deadLinks;
      console.log(`full: verdicts by kind and phase ${JSON.stringify(idle.verdicts ?? {})}; the seconds they came in (first 80):\n  ${verdicts.log.join('\n  ') || 'none'}`);
      out.dead_verdicts = idle.channel.deadPaths + idle.channel.deadLinks;
      out.dial_late_adopted = idle.channel.lateAdopted;
      out.dial_late_busy = idle.channel.lateBusy; // [19] verdicts undone by a late CONNACK 3 are in the undone count
      out.idle_cpu_ms_per_box_s = idleMs;
      out.setup_capacity_per_s = cap.perS ?? null;
      out.full_procs = idle.procs;
      out.full_setups_refused = refusedSetups(h);
      row({ case: `${FULL} full boxes, ${idle.procs} processes, arrivals ${rate.toFixed(0)}/s offered, ${(out.arrival_rate_per_s ?? NaN).toFixed(1)}/s taken (pace ${PACE || 'off'})`, 'fleet boots/s': out.fleet_boot_capacity_per_s ?? NaN, 'held p95 s': out.fleet_held_p95_s ?? NaN, 'fleet cpu ms/boot': out.fleet_cpu_ms_per_boot, up: idle.states.up ?? 0, 'boot p50 s': (idle.boot.p50 ?? NaN) / 1000, 'boot p95 s': (idle.boot.p95 ?? NaN) / 1000, 'dial dead paths': idle.channel.deadPaths, 'undone (late CONNACK)': idle.channel.deadPathsUndone, 'link dead paths': idle.channel.deadLinks, 'idle ms/box/s': idleMs, 'fleet rss MB': idle.rssMb, 'QUOTA setups': refusedSetups(h) });
    } finally {
      verdicts.stop();
      await fleet.stop();
    }
  } finally {
    await h.close();
    await broker.stop();
  }
}

async function lightPhase(kind: string): Promise<void> {
  if (PIN) pinSelf();
  const ids = Array.from({ length: LIGHT }, (_, i) => `light-${i + 1}`);
  const program = which('mosquitto');
  if (kind === 'mosquitto' && program === undefined) return void console.log('mosquitto is not installed: light boxes on aedes only');
  const link = nodeLinkWatch(); // [wave 14] on mosquitto the node is a client too: its link drops in the storm
  const mosquittoIds = [...ids, 'probe-1', ...Array.from({ length: 400 }, (_, i) => `cap-${i + 1}`)];
  const broker = kind === 'mosquitto' ? await mosquittoBroker(program as string, { ids: mosquittoIds, master: MASTER, node: NODE, nodePassword: creds.nodePassword, link, listeners: LISTENERS }) : kind === 'aedes-thread' ? await aedesThread() : await aedes();
  const { h, carousel } = await headend(broker, link.log);
  try {
    const cap = await probe(probeArgs(broker.url, 'capacity', CAPACITY));
    const unloaded = await probe(probeArgs(broker.url, 'request', ['--n', '500']));
    await settle();
    const rss0 = process.memoryUsage().rss + (broker.pid === undefined ? 0 : rssOf(broker.pid));
    const rate = SHARE * (cap.perS ?? 0); // sessions arrive below the node's setup capacity, as the full boxes do
    console.log(`${kind}: setup capacity ${cap.perS?.toFixed(0)}/s: ${LIGHT} light boxes arrive at ${rate.toFixed(0)}/s`);
    const loop = monitorEventLoopDelay({ resolution: 10 });
    const heap0 = process.memoryUsage();
    const broker0 = broker.heap?.() ?? 0;
    loop.enable();
    const fleet = startFleetCli(['--count', String(LIGHT), '--light', '--app', 'guide@1.0.0', '--prefix', 'light', '--mix', 'legacy-sd:1,hd-dvr:1,modern-4k:1', '--rate', String(rate), '--report-interval', String(REPORT_S), ...common((broker.urls ?? [broker.url]).join(','), carousel)], undefined, PIN ? `1-${cpus().length - 1}` : undefined);
    try {
      // A fleet that does not get every box up in time is a result too (recorded, the next broker runs).
      // Progress every 30 s, so a long run shows where it stands.
      const t0 = performance.now();
      const progress = setInterval(() => {
        const l = fleet.last();
        if (l !== undefined) console.log(`${kind} +${Math.round((performance.now() - t0) / 1000)} s: ${JSON.stringify(l.states)} dead paths ${l.channel.deadPaths} (undone ${l.channel.deadPathsUndone}) links ${l.channel.deadLinks}; sessions ${h.node.sessions.count} (late opens ended ${h.node.sessions.lateOpens.ended}, unconfirmed ended ${h.node.sessions.lateOpens.unconfirmed.ended}, QUOTA setups ${refusedSetups(h)}, setups in flight ${h.node.sessions.admission.stats.inFlight}); threads (instances/engine MB) ${threadFill(h)}; rss ${Math.round(process.memoryUsage().rss / 2 ** 20)} MB; loop p99 ${(loop.percentile(99) / 1e6).toFixed(0)} ms max ${(loop.max / 1e6).toFixed(0)} ms${broker.refusals === undefined ? '' : `; broker: ${broker.refusals()}`}`);
      }, 30_000);
      const waitS = MAX_S > 0 ? MAX_S : LIGHT / rate + 180;
      const up = await fleet.until((l) => (l.states.up ?? 0) === LIGHT, waitS * 1000, `${LIGHT} light boxes up`).finally(() => clearInterval(progress)).catch((e: unknown) => {
        const l = fleet.last();
        if (l === undefined) throw e;
        console.log(`${kind}: ${(e as Error).message.split(' (last')[0]}: ${l.states.up ?? 0} up`);
        return l;
      });
      loop.disable();
      await settle();
      const heap1 = process.memoryUsage();
      // Where the node's memory went (this process: the node, aedes when embedded, the worker threads).
      const perBox = (bytes: number): number => Math.round((10 * bytes) / 1024 / LIGHT) / 10;
      out[`kb_per_light_box_node_heap_${kind}`] = perBox(heap1.heapUsed - heap0.heapUsed);
      if (broker.heap !== undefined) out[`kb_per_light_box_broker_heap_${kind}`] = perBox(broker.heap() - broker0);
      console.log(`${kind}: head-end loop delay during arrivals p99 ${(loop.percentile(99) / 1e6).toFixed(0)} ms, max ${(loop.max / 1e6).toFixed(0)} ms; per box: node heap ${perBox(heap1.heapUsed - heap0.heapUsed)} kB, broker thread heap ${broker.heap === undefined ? '-' : perBox(broker.heap() - broker0)} kB, external ${perBox(heap1.external - heap0.external)} kB, rss ${perBox(heap1.rss - heap0.rss)} kB (the rest: portion instances in worker threads, sockets)`);
      const rss1 = process.memoryUsage().rss + (broker.pid === undefined ? 0 : rssOf(broker.pid));
      let loaded: { p99?: number } = {};
      for (const [i, holdS] of HOLDS.entries()) {
        loaded = await heldProbe(kind, broker.url, fleet, broker.pid, holdS, holdS - (HOLDS[i - 1] ?? 0));
        if (HOLDS.length > 1) out[`request_p99_ratio_loaded_${kind}_after_${holdS}s`] = (loaded.p99 ?? NaN) / (unloaded.p99 ?? NaN);
      }
      const kb = (rss1 - rss0) / 1024 / LIGHT;
      const ratio = (loaded.p99 ?? NaN) / (unloaded.p99 ?? NaN);
      out[`light_boxes_held_${kind}`] = up.states.up ?? 0;
      out[`setups_refused_${kind}`] = refusedSetups(h);
      if (broker.busy !== undefined) out[`connack_busy_${kind}`] = broker.busy();
      out[`kb_per_light_box_headend_${kind}`] = kb;
      out[`request_p99_ratio_loaded_${kind}`] = ratio;
      out[`light_boot_p95_s_${kind}`] = (up.boot.p95 ?? NaN) / 1000;
      // [13.4] as for full boxes: verdicts a late CONNACK undid are not false dead paths.
      out[`light_false_dead_paths_${kind}`] = up.channel.deadPaths - up.channel.deadPathsUndone + up.channel.deadLinks;
      row({ case: `${LIGHT} light boxes on ${kind}, ${up.procs} processes, arrivals ${rate.toFixed(0)}/s`, up: up.states.up ?? 0, 'boot p95 s': (up.boot.p95 ?? NaN) / 1000, 'kB/box head-end': kb, 'sessions': h.node.sessions.count, 'late opens ended': h.node.sessions.lateOpens.ended, 'unconfirmed ended': h.node.sessions.lateOpens.unconfirmed.ended, 'QUOTA setups': refusedSetups(h), 'p99 unloaded ms': unloaded.p99 ?? NaN, 'p99 loaded ms': loaded.p99 ?? NaN, ratio, 'dial dead paths': up.channel.deadPaths, 'undone (late CONNACK)': up.channel.deadPathsUndone, 'link dead paths': up.channel.deadLinks, 'CONNACK 3': broker.busy?.() ?? '-' });
      if (PHASES.has('storm') && broker.restart !== undefined && (up.states.up ?? 0) === LIGHT) await storm(kind, broker, fleet);
    } finally {
      await fleet.stop();
    }
  } finally {
    await h.close();
    await broker.stop();
  }
}

/** [19.6] The loaded probe (bench/_scale-held.ts), with its node's CPU profile with --held-prof. */
async function heldProbe(kind: string, url: string, fleet: RunningFleet, brokerPid: number | undefined, holdS: number, waitS: number): Promise<{ p99?: number }> {
  const w = await heldWindow({ kind, waitS, brokerPid, fleet, log: (line) => console.log(line) }, async () => {
    const stopProfile = await profile(HELD_PROF, `held-${kind}`);
    try {
      return await probe(probeArgs(url, 'request', ['--n', '500'])).catch((e: unknown) => (console.log(`${kind}: loaded probe: ${(e as Error).message}`), { p99: NaN }));
    } finally {
      await stopProfile();
    }
  });
  const at = holdS === 0 ? '' : `_after_${holdS}s`;
  out[`held_loop_p99_ms_${kind}${at}`] = w.loopP99Ms;
  out[`held_loop_max_ms_${kind}${at}`] = w.loopMaxMs;
  for (const [k, v] of Object.entries(w.cores)) out[`held_cores_${k}_${kind}${at}`] = Math.round(v * 100) / 100;
  return w;
}

async function storm(kind: string, broker: Broker, fleet: RunningFleet): Promise<void> {
  const r = await runStorm(LIGHT, broker, fleet, STORM_WINDOW_S + 120, (line) => console.log(`storm ${kind} ${line}`), STORM_PROF);
  out[`storm_settle_s_${kind}`] = r.settleS;
  out[`storm_dead_verdicts_${kind}`] = r.deadVerdicts;
  out[`storm_false_dead_paths_${kind}`] = r.falseDeadPaths;
  out[`storm_node_back_s_${kind}`] = Number.isNaN(r.nodeBackS) ? null : r.nodeBackS;
  row({ case: `reconnect storm of ${LIGHT} after an ${kind} restart (window ${STORM_WINDOW_S} s)`, up: LIGHT, 'settle s': r.settleS, 'goal s': STORM_WINDOW_S + 5, 'dead paths': r.deadVerdicts, 'undone (late CONNACK)': r.undone, 'CONNACK 3': r.busy, 'node back s': Number.isNaN(r.nodeBackS) ? '-' : r.nodeBackS });
}

try {
  if (PHASES.has('full')) await fullPhase();
  if (PHASES.has('light')) for (const b of BROKERS) await lightPhase(b);
} finally {
  table('scale: a fleet that emulates a city against one head-end node', rows);
  await rm(dir, { recursive: true, force: true });
}
const pick = (k: string): number | null => out[`${k}_aedes`] ?? out[`${k}_mosquitto`] ?? null;
result('scale', {
  full_boxes: out.full_boxes ?? null,
  full_boot_p95_s: out.full_boot_p95_s ?? null,
  false_dead_paths: out.false_dead_paths ?? null,
  dead_verdicts: out.dead_verdicts ?? null,
  dial_late_adopted: out.dial_late_adopted ?? null,
  idle_cpu_ms_per_box_s: out.idle_cpu_ms_per_box_s ?? null,
  light_boxes_held: pick('light_boxes_held'),
  kb_per_light_box_headend: pick('kb_per_light_box_headend'),
  request_p99_ratio_loaded: pick('request_p99_ratio_loaded'),
  storm_settle_s: pick('storm_settle_s'),
  storm_false_dead_paths: pick('storm_false_dead_paths'),
  ...out,
});
