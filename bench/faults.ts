// bench/faults (issue 13): failures as a cable plant has them, against live processes, each
// outcome counted. A `weft headend up` (embedded broker, SQLite) and fleets of emulated boxes in
// child processes (bench/_faults-fleet.ts, devices/fleet.ts) that keep asking the head-end:
//   1. head-end kill -9 + restart with --boxes (200) boxes: how many reach a working session
//      (an answered request sent after the restart) and how fast; every request's fate.
//   2. a silent cut of an idle up box (the in-process ReturnPath of devices/return-path.ts drops
//      every packet, no reset): time to its dead-link verdict.
//   3. mosquitto kill -9 + restart under a `weft headend node` and --broker-boxes (100) boxes.
//   4. node death: two nodes on mosquitto + Redis, sessions holding counters (guide/search's query
//      count) on the node killed; updates lost = acknowledged queries minus the count read after
//      re-placement.
//   5. a --boot (500) box fleet booting at once on a healthy head-end: dead-path verdicts (all false),
//      and of those the ones undone: the dial's connection came up after all (a late CONNACK adopted).
// Baseline beside the restart: the same fleet's requests before the kill (nothing lost, nothing failed).
// `npm run bench -- faults [--boxes 200] [--boot 500] [--broker-boxes 100] [--sessions 100] [--quick]`

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeTcpPort, freeUdpPort } from '../test/_helpers/ports.ts';
import { type Json, JsonChild, MosquittoProcess, ROOT, startFleetProcess, startHeadendProcess } from './_faults-procs.ts';
import { nodeDeath } from './_faults-node-death.ts';
import { result, table } from './_report.ts';

const opt = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? dflt : Number(process.argv[i + 1]);
};
const QUICK = process.argv.includes('--quick');
const BOXES = opt('boxes', QUICK ? 40 : 200);
const BOOT = opt('boot', QUICK ? 60 : 500);
const BROKER_BOXES = opt('broker-boxes', QUICK ? 30 : 100);
const SESSIONS = opt('sessions', QUICK ? 20 : 100);
// --only boot|restart|broker|node: one scenario while developing (the others print null).
const ONLY = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
const runs = (name: string): boolean => ONLY === undefined || ONLY === name;

const work = mkdtempSync(join(tmpdir(), 'weft-faults-'));
const children: { stop: () => Promise<void> }[] = [];
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

function log(msg: string): void {
  console.log(`[faults ${new Date().toISOString().slice(11, 19)}] ${msg}`);
}

/** Ask a fleet for summaries until `pred` holds on one (or `ms` passes): the last summary. */
async function pollFleet(f: JsonChild, pred: (s: Json) => boolean, ms: number): Promise<Json> {
  const until = performance.now() + ms;
  let last: Json = {};
  while (performance.now() < until) {
    f.send('summary');
    last = await f.next((j) => j.event === 'summary', 30_000, 'summary');
    if (pred(last)) return last;
    await new Promise((r) => setTimeout(r, 1000));
  }
  return last;
}

const upCount = (s: Json): number => ((s.states as Record<string, number> | undefined)?.up ?? 0);
const recoveredOf = (s: Json): { n: number; p99_s: number } => (s.recovered as { n: number; p99_s: number } | null) ?? { n: 0, p99_s: NaN };

interface Fates {
  asked: number;
  ok: number;
  failed: Record<string, number>;
  late: number;
  lost: number;
}
const fateOf = (s: Json): Fates => s.fate as Fates;
const ledgerOf = (s: Json): { sent: number; ok: number; retried: number; failed: number; overdue: number } => s.ledger as never;
const failedSum = (f: Fates): number => Object.values(f.failed).reduce((a, b) => a + b, 0);

async function stopFleet(f: JsonChild): Promise<Json> {
  f.send('stop');
  const fin = await f.next((j) => j.event === 'final', 60_000, 'final');
  await f.stop();
  return fin;
}

// ---- set-up: the built guide, signed with a key made here -----------------------------------
log(`building the apps into ${work}`);
execFileSync(process.execPath, ['build.mjs', '--out', join(work, 'dist'), '--keys', join(work, 'keys'), '--no-firmware', '--quiet'], { cwd: ROOT, stdio: 'inherit' });
mkdirSync(join(work, '.weft'), { recursive: true });
const MASTER = randomBytes(24).toString('base64url');
writeFileSync(join(work, '.weft', 'master.key'), `${MASTER}\n`, { mode: 0o600 });
const NODE_PW = randomBytes(18).toString('base64url');
const CLUSTER_KEY = join(work, '.weft', 'cluster.key');
writeFileSync(CLUSTER_KEY, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600 });

// ---- 1 + 2: head-end kill -9 and restart; a silent cut -------------------------------------
async function headendRestart(): Promise<{ recovered: number; p99: number; readyS: number; fin: Json; warm: Json; cutS: number | null; cutVerdict: string }> {
  const port = await freeTcpPort();
  const carousel = `127.0.0.1:${await freeUdpPort()}`;
  const spec = { work, node: 'node-1', registry: `sqlite:${join(work, 'registry.db')}`, broker: { embeddedPort: port }, carousel };
  let he = await startHeadendProcess(spec);
  children.push(he);
  log(`head-end up on ${port}; starting ${BOXES} boxes`);
  const fleet = await startFleetProcess({ work, url: `mqtt://127.0.0.1:${port}`, count: BOXES, prefix: 'hr', carousel: `udp://${carousel}`, askEveryMs: 1000, deadlineMs: 3000 });
  children.push(fleet);
  const up = await pollFleet(fleet, (s) => upCount(s) === BOXES, 180_000);
  log(`${upCount(up)} of ${BOXES} up; a few seconds of requests before the kill`);
  await new Promise((r) => setTimeout(r, 4000));
  fleet.send('summary');
  const warm = await fleet.next((j) => j.event === 'summary', 30_000, 'summary');
  he.kill9();
  await new Promise((r) => he.child.once('exit', r));
  const restartAt = performance.now();
  fleet.send('mark');
  he = await startHeadendProcess(spec);
  children.push(he);
  const readyS = (performance.now() - restartAt) / 1000;
  log(`head-end restarted (ready after ${readyS.toFixed(1)} s); waiting for every box to be served again`);
  const rec = await pollFleet(fleet, (s) => recoveredOf(s).n === BOXES, 60_000);
  const r = recoveredOf(rec);
  log(`${r.n} of ${BOXES} served again, p99 ${r.p99_s} s after the restart; states ${JSON.stringify(rec.states)}; phases ${JSON.stringify(rec.phases)}`);
  // 2. a silent cut of an idle up box: box 0 stops asking first, so it is idle when cut.
  await new Promise((res) => setTimeout(res, 2000));
  fleet.send('cut 0');
  let cutS: number | null = null;
  let cutVerdict = 'none';
  try {
    const c = await fleet.next((j) => j.event === 'cut-detected', 60_000, 'the cut detected');
    cutS = c.s as number;
    cutVerdict = c.verdict as string;
  } catch (e) {
    log(`silent cut: ${(e as Error).message.slice(0, 200)}`);
  }
  const fin = await stopFleet(fleet);
  log(`head-end restart: overdue requests by stage ${JSON.stringify(fin.overdueAt)}`);
  await he.stop();
  return { recovered: r.n, p99: r.p99_s, readyS, fin, warm, cutS, cutVerdict };
}

// ---- 3: mosquitto kill -9 and restart --------------------------------------------------------
async function brokerRestart(): Promise<{ recovered: number; p99: number; fin: Json } | undefined> {
  if (!['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].some((p) => existsSync(p))) return undefined;
  const dir = join(work, 'mosquitto');
  mkdirSync(dir, { recursive: true });
  const port = await freeTcpPort();
  const m = await MosquittoProcess.start(dir, port, [{ id: 'node-1', password: NODE_PW }], [{ prefix: 'mb', count: BROKER_BOXES }], MASTER);
  children.push(m);
  const carousel = `127.0.0.1:${await freeUdpPort()}`;
  const he = await startHeadendProcess({ work, node: 'node-1', registry: `sqlite:${join(work, 'registry-b.db')}`, broker: { url: m.url, password: NODE_PW }, carousel, clusterKeyFile: CLUSTER_KEY });
  children.push(he);
  const fleet = await startFleetProcess({ work, url: m.url, count: BROKER_BOXES, prefix: 'mb', carousel: `udp://${carousel}`, askEveryMs: 1000, deadlineMs: 3000 });
  children.push(fleet);
  const up = await pollFleet(fleet, (s) => upCount(s) === BROKER_BOXES, 180_000);
  log(`mosquitto: ${upCount(up)} of ${BROKER_BOXES} up; kill -9 and restart of the broker`);
  await new Promise((r) => setTimeout(r, 3000));
  m.kill9();
  await m.restart();
  fleet.send('mark');
  const rec = await pollFleet(fleet, (s) => recoveredOf(s).n === BROKER_BOXES, 60_000);
  const r = recoveredOf(rec);
  log(`mosquitto: ${r.n} of ${BROKER_BOXES} served again, p99 ${r.p99_s} s after the restart; phases ${JSON.stringify(rec.phases)}`);
  const fin = await stopFleet(fleet);
  log(`mosquitto: overdue requests by stage ${JSON.stringify(fin.overdueAt)}`);
  await he.stop();
  await m.stop();
  return { recovered: r.n, p99: r.p99_s, fin };
}

// ---- 5: a big fleet booting at once: false dead paths ------------------------------------------
// Several fleet processes of at most 125 boxes (one QuickJS engine each: 500 boxes on one engine
// ran it out of memory) started together, sharing the unicast carousel as boxes on one host do.
async function bootStorm(): Promise<{ up: number; deadPaths: number; deadLinks: number; undone: number; lateAdopted: number }> {
  const port = await freeTcpPort();
  const carousel = `127.0.0.1:${await freeUdpPort()}`;
  const he = await startHeadendProcess({ work, node: 'node-1', registry: `sqlite:${join(work, 'registry-boot.db')}`, broker: { embeddedPort: port }, carousel });
  children.push(he);
  const parts = Math.ceil(BOOT / 125);
  log(`boot storm: ${BOOT} boxes in ${parts} fleet processes`);
  const fleets = await Promise.all(
    Array.from({ length: parts }, (_, k) => startFleetProcess({ work, url: `mqtt://127.0.0.1:${port}`, count: Math.min(125, BOOT - k * 125), prefix: `bt${k}`, carousel: `udp://${carousel}`, askEveryMs: 0 })),
  );
  children.push(...fleets);
  const until = performance.now() + 240_000;
  let up = 0;
  while (performance.now() < until) {
    up = 0;
    for (const f of fleets) up += upCount(await pollFleet(f, () => true, 1));
    if (up === BOOT) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  let deadPaths = 0;
  let deadLinks = 0;
  let undone = 0;
  let lateAdopted = 0;
  for (const f of fleets) {
    const fin = await stopFleet(f);
    const d = fin.falseDeadPaths as { dial: number; link: number; undone?: number; lateAdopted?: number };
    deadPaths += d.dial;
    deadLinks += d.link;
    undone += d.undone ?? 0;
    lateAdopted += d.lateAdopted ?? 0;
    if (d.dial + d.link > 0) log(`boot (${f.name}): the first dead-path verdicts: ${JSON.stringify(fin.verdicts)}`);
  }
  await he.stop();
  return { up, deadPaths, deadLinks, undone, lateAdopted };
}

let exitCode = 0;
const row = (run: string, f: Fates | undefined): Record<string, string | number>[] =>
  f === undefined ? [] : [{ run, asked: f.asked, ok: f.ok, failed: failedSum(f), 'late (>1 s)': f.late, lost: f.lost, codes: JSON.stringify(f.failed) }];
try {
  const a = runs('restart') ? await headendRestart() : undefined;
  const b = runs('broker') ? await brokerRestart() : undefined;
  const nd = runs('node') ? await nodeDeath({ work, master: MASTER, nodePassword: NODE_PW, clusterKeyFile: CLUSTER_KEY, sessions: SESSIONS, children, log }) : undefined;
  const c = runs('boot') ? await bootStorm() : undefined;
  const fa = a === undefined ? undefined : fateOf(a.fin);
  const fb = b === undefined ? undefined : fateOf(b.fin);
  const la = a === undefined ? undefined : ledgerOf(a.fin);
  const lb = b === undefined ? undefined : ledgerOf(b.fin);
  table('request fates (bench-side: every request the fleets sent; late = heard more than 1 s past its deadline; lost = never heard)', [
    ...row('before the kill (baseline)', a === undefined ? undefined : fateOf(a.warm)),
    ...row(`head-end kill -9 + restart, ${BOXES} boxes (whole run)`, fa),
    ...row(`mosquitto kill -9 + restart, ${BROKER_BOXES} boxes (whole run)`, fb),
  ]);
  table("the boxes' own ledgers (stats.box requests)", [...(la === undefined ? [] : [{ run: 'head-end restart', ...la }]), ...(lb === undefined ? [] : [{ run: 'mosquitto restart', ...lb }])]);
  table('recovery and verdicts', [
    { what: `boxes served again after the head-end restart (of ${BOXES})`, value: a?.recovered ?? NaN },
    { what: 'head-end restart: ready after, s (process start to serving)', value: a?.readyS ?? NaN },
    { what: 'head-end restart recovery p99 from kill + respawn, s', value: a?.p99 ?? NaN },
    { what: 'head-end restart recovery p99 from ready, s', value: a === undefined ? NaN : a.p99 - a.readyS },
    { what: `boxes served again after the broker restart (of ${BROKER_BOXES})`, value: b?.recovered ?? NaN },
    { what: 'broker restart recovery p99, s', value: b?.p99 ?? NaN },
    { what: `silent cut of an idle box: detected after, s (${a?.cutVerdict ?? '-'}, in-process ReturnPath)`, value: a?.cutS ?? NaN },
    { what: `node death: acknowledged updates lost (${nd?.sessions ?? 0} sessions on the dead node)`, value: nd?.lost ?? NaN },
    { what: `boot of ${BOOT} boxes: up`, value: c?.up ?? NaN },
    { what: 'boot: false dead-path verdicts, dial timeouts', value: c?.deadPaths ?? NaN },
    { what: 'boot: of those, undone (the connection came up: its late CONNACK adopted)', value: c?.undone ?? NaN },
    { what: 'boot: dials adopted late (dial_late_adopted)', value: c?.lateAdopted ?? NaN },
    { what: 'boot: false dead paths, link verdicts', value: c?.deadLinks ?? NaN },
  ]);
  const lost = a === undefined && b === undefined ? null : (fa?.lost ?? 0) + (la?.overdue ?? 0) + (fb?.lost ?? 0) + (lb?.overdue ?? 0);
  result('faults', {
    restart_recovered: a === undefined ? null : a.recovered / BOXES,
    // From the restarted head-end serving: its own start-up time is in the table above.
    restart_recovery_p99_s: a === undefined ? null : a.p99 - a.readyS,
    requests_lost: lost,
    node_death_updates_lost: nd?.lost ?? null,
    checkpoint_ms: nd?.checkpointMs ?? null,
    // [13.4] verdicts that stayed wrong (the box went on as if the path were dead); every verdict beside it.
    false_dead_paths_500: c === undefined ? null : c.deadPaths - c.undone + c.deadLinks,
    dead_verdicts_500: c === undefined ? null : c.deadPaths + c.deadLinks,
    dial_late_adopted_500: c?.lateAdopted ?? null,
    silent_cut_detect_s: a?.cutS ?? null,
    broker_restart_recovery_p99_s: b?.p99 ?? null,
  });
} catch (e) {
  console.error(`faults bench failed: ${(e as Error).stack ?? String(e)}`);
  exitCode = 1;
} finally {
  for (const c of children.reverse()) await c.stop().catch(() => undefined);
}
process.exit(exitCode);
