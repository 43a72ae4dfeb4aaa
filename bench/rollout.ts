// Staged rollout and rollback over broadcast (issue 15): one embedded head-end (`weft headend up`,
// its carousel on a loopback port), ROLLOUT_BOXES emulated boxes in ROLLOUT_PROCS fleet processes
// (a mix of profiles, some with the return channel cut, a quarter broadcast-only), a good version
// and a bad one whose ui faults on start on hd-dvr boxes. Measures publish-to-every-box, the bad
// version's reach (its first wave only), and rollback-to-every-box including the cut boxes, and
// prints them beside the budget (carousel cycles + probation + re-pairing at the measured setup
// rate of ~1.8 s per 1,000 sessions), with each part of the publish time (bench/_rollout-parts.ts),
// the fleet's and the head-end's CPU seconds during it, and the requests lost across both
// upgrades: the first fleet process (no cut boxes, at most ROLLOUT_KEYED_MAX = 100 of them)
// presses a key every KEY_GAP_MS on every box,
// each a search its server portion may answer, and its boxes' ledgers span their version switches.
// Run: npm run bench -- rollout [--boxes N] [--procs N]
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { dumpCycle, freeUdpPort } from '../carousel/index.ts';
import { cohort01, decodeManifest, encodeManifest, importSigningKey, sha256Hex, signManifest, utf8 } from '../runtime/app/index.ts';
import { rolloutModuleSet } from '../headend/releases/rollout-carousel.ts';
import { assignProfiles, parseMix } from '../devices/fleet.ts';
import { PROFILES } from '../devices/profiles.ts';
import type { Release } from '../headend/releases/index.ts';
import { call, readBuiltApp } from '../cli/app.ts';
import { BOX_EVENT_KINDS } from '../cli/fleet-events.ts';
import { collectLifeProfiles, lifeProfArgs } from './_lifeprof-parent.ts';
import { result, table } from './_report.ts';
import { cpuSecondsOf, newMarks, noteEvent, requestWindow, waveParts, type BoxMarks } from './_rollout-parts.ts';

const ROOT = new URL('../', import.meta.url).pathname;
const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
};
const BOXES = Number(arg('boxes') ?? process.env.ROLLOUT_BOXES ?? 1000);
const PROCS = Number(arg('procs') ?? process.env.ROLLOUT_PROCS ?? 4);
if (!(Number.isInteger(BOXES) && BOXES >= 4 && Number.isInteger(PROCS) && PROCS >= 2 && PROCS <= 64)) throw new RangeError('rollout bench: --boxes >= 4, --procs 2..64');
/** Seconds between the first fleet's key presses; ROLLOUT_KEY_GAP_MS=0: no keys (requests_lost then counts only the boxes' own requests). */
const KEY_GAP_MS = Number(process.env.ROLLOUT_KEY_GAP_MS ?? 2000);
const CUT = Number(process.env.ROLLOUT_CUT ?? 0.05); // of the boxes with a return channel
const PROBATION_S = Number(process.env.ROLLOUT_PROBATION_S ?? 5);
const FIRST_WAVE = 10; // percent
const BITRATE = 2_000_000;
const LIMIT_MS = Number(process.env.ROLLOUT_LIMIT_S ?? 600) * 1000;
const BAD_PROFILE = 'hd-dvr';
const TOKEN = 'rollout-bench-token-0123456789';
const run = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), 'weft-bench-rollout-'));
const children: ChildProcess[] = [];
/** ROLLOUT_PROF_DIR=<dir>: the head-end and every fleet write a whole-life CPU profile there (bench/_lifeprof.mjs). */
const PROF_DIR = process.env.ROLLOUT_PROF_DIR ?? '';
const PROF_ARGS = lifeProfArgs(PROF_DIR);
process.on('exit', () => {
  if (PROF_DIR !== '') collectLifeProfiles(children);
  for (const c of children) c.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

type Line = Record<string, unknown>;
const waiters = new Set<() => void>();
const headLines: Line[] = [];

function spawnLines(args: string[], onLine: (l: Line) => void, nice = 0): ChildProcess {
  const cmd = [process.execPath, ...PROF_ARGS, 'cli/bin.mjs', ...args];
  const child = nice === 0 ? spawn(cmd[0] as string, cmd.slice(1), { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] }) : spawn('nice', ['-n', String(nice), ...cmd], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  let buf = '';
  child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const text = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        onLine(JSON.parse(text) as Line);
      } catch {
        continue;
      }
      for (const w of [...waiters]) w();
    }
  });
  return child;
}

/** Resolve when `pred` holds (checked after every line any child prints); reject after the limit. */
function until(pred: () => boolean, what: string, want?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (!pred()) return;
      waiters.delete(check);
      clearTimeout(timer);
      resolve(performance.now());
    };
    const timer = setTimeout(() => {
      waiters.delete(check);
      const off = want === undefined ? [] : [...boxes.entries()].filter(([, b]) => b.running !== want || b.committed !== want).slice(0, 6);
      reject(new Error(`rollout bench: no ${what} within ${LIMIT_MS / 1000} s; e.g. ${JSON.stringify(off.map(([id, b]) => ({ id, ...b, tried: [...b.tried], cut: cutBoxes.has(id) })))}`));
    }, LIMIT_MS);
    waiters.add(check);
    check();
  });
}

// ---- every box's version, from its probation events ------------------------------------------
interface BoxView {
  profile?: string;
  running?: string;
  committed?: string;
  tried: Set<string>;
}
const boxes = new Map<string, BoxView>();
/** Boxes running and committed on each version, kept as lines arrive: the waits ask after every
 *  line, and a scan of every box per line cost the bench's reader a core at 1,000 boxes. */
const settled = new Map<string, number>();
const settledOn = (b: BoxView): string | undefined => (b.running !== undefined && b.running === b.committed ? b.running : undefined);
/** Change a box's view through `f`, keeping `settled` in step. */
function change(b: BoxView, f: () => void): void {
  const before = settledOn(b);
  f();
  const after = settledOn(b);
  if (before === after) return;
  if (before !== undefined) settled.set(before, (settled.get(before) ?? 0) - 1);
  if (after !== undefined) settled.set(after, (settled.get(after) ?? 0) + 1);
}
const onVersion = (v: string): number => settled.get(v) ?? 0;
/** Every probation event with the time it arrived, for the breakdown of publish_to_all_s. */
const probationMarks: { at: number; version: string; outcome: string }[] = [];
const headAt: { at: number; msg: string }[] = [];
const cutBoxes = new Set<string>();
/** Each fleet process's latest request fates (sent, ok, retried, failed, overdue: loader/request-ledger.ts), and how many summaries it printed. */
const fates = new Map<number, { n: number; requests: Record<string, number>; cpuMs: number; up: number }>();
/** ROLLOUT_TRACE=<file>: every fleet summary and the run's marks (baseline, publish ...), one JSON line each with its time (ms): where requests failed, by phase. */
const TRACE = process.env.ROLLOUT_TRACE;
const trace = (o: Record<string, unknown>): void => {
  if (TRACE !== undefined) appendFileSync(TRACE, `${JSON.stringify({ t: Math.round(performance.now()), ...o })}\n`);
};
function onFleetLine(p: number, l: Line): void {
  if (l.event === 'fleet') trace({ p, ...l, booted: undefined });
  if (l.event !== 'fleet' || l.requests === null || typeof l.requests !== 'object') return;
  fates.set(p, { n: (fates.get(p)?.n ?? 0) + 1, requests: l.requests as Record<string, number>, cpuMs: typeof l.cpuMs === 'number' ? l.cpuMs : NaN, up: Number((l.states as Record<string, unknown> | undefined)?.up ?? 0) });
}
const fleetCpuS = (): number => [...fates.values()].reduce((a, f) => a + f.cpuMs, 0) / 1000;
/** The key-pressing fleet's request counts now (cumulative over every box's life, across versions). */
const keyed = (): Record<string, number> => ({ ...(fates.get(0)?.requests ?? {}) });
const marks = new Map<string, BoxMarks>();
/** Each box's last module fault (its detail), and every revert of a version with that fault: why a good version went back. */
const lastFault = new Map<string, string>();
const revertLog: { box: string; version: string; reason: string; fault: string | undefined; keyed: boolean }[] = [];
function onBoxLine(l: Line): void {
  const id = typeof l.box === 'string' ? l.box : undefined;
  if (id === undefined) return;
  const b = boxes.get(id) ?? { tried: new Set<string>() };
  boxes.set(id, b);
  if (l.kind === 'module' && l.action === 'fault') lastFault.set(id, `${String(l.module)}: ${String(l.detail)}`.slice(0, 160));
  if (l.kind === 'probation' && l.outcome === 'reverted') {
    const r = { box: id, version: String(l.version), reason: String(l.reason), fault: lastFault.get(id), keyed: id.startsWith('f0-') };
    revertLog.push(r);
    // A good version going back is the bench's failure to explain: said at once (bounded), not only in the last table.
    if (r.version === '1.0.1' && revertLog.filter((x) => x.version === '1.0.1').length <= 20) console.error(`rollout bench: ${id} (${b.profile ?? '?'}) reverted 1.0.1: ${r.reason}; last fault: ${r.fault ?? 'none'}`);
  }
  if (process.env.ROLLOUT_DEBUG === id && l.kind !== 'scene') console.error(JSON.stringify(l).slice(0, 300));
  if (l.kind === 'probation' && l.outcome === 'probation' && typeof l.version === 'string') change(b, () => (b.running = l.version as string));
  const m = marks.get(id) ?? newMarks();
  marks.set(id, m);
  noteEvent(m, l, performance.now(), b.running);
  if (l.kind !== 'probation' || typeof l.version !== 'string') return;
  probationMarks.push({ at: performance.now(), version: l.version, outcome: String(l.outcome) });
  const version = l.version;
  change(b, () => {
    if (l.outcome === 'probation') {
      b.running = version;
      b.tried.add(version);
    } else if (l.outcome === 'committed') b.running = b.committed = version;
    else if (l.outcome === 'reverted' && b.running === version) b.running = b.committed;
  });
}

// ---- versions of the built guide ------------------------------------------------------------
async function version(v: string, badOn?: string): Promise<string> {
  const dir = join(work, `guide-${v}`);
  cpSync(join(work, 'apps', 'guide'), dir, { recursive: true });
  const m = decodeManifest(readFileSync(join(dir, 'manifest.json')));
  if (badOn !== undefined) {
    const ui = m.modules.find((x) => x.name === 'ui');
    if (ui === undefined) throw new Error('the guide has no ui module');
    const bytes = utf8(`${readFileSync(join(dir, ui.file), 'utf8')}\nweft.on('start', () => { const d = weft.device && weft.device.info(); if (d && d.profile === ${JSON.stringify(badOn)}) throw new Error('bad build'); });\n`);
    writeFileSync(join(dir, ui.file), bytes);
    Object.assign(ui, { sha256: await sha256Hex(bytes), size: bytes.length });
  }
  const bytes = encodeManifest({ ...m, version: v });
  writeFileSync(join(dir, 'manifest.json'), bytes);
  writeFileSync(join(dir, 'manifest.sig'), await signManifest(bytes, await devKey()));
  return dir;
}
const devKey = async () => importSigningKey(JSON.parse(readFileSync(join(work, 'keys', 'dev.jwk.json'), 'utf8')));

/** Seconds of one carousel cycle while a rollout runs (live + candidate + directive) at BITRATE. */
async function cycleS(live: string, cand: string): Promise<number> {
  const rel = (dir: string): Release => {
    const m = decodeManifest(readFileSync(join(dir, 'manifest.json')));
    const sources = Object.fromEntries(m.modules.map((x) => [x.name, new Uint8Array(readFileSync(join(dir, x.file)))]));
    return { app: 'guide', version: m.version, manifestBytes: new Uint8Array(readFileSync(join(dir, 'manifest.json'))), signature: new Uint8Array(readFileSync(join(dir, 'manifest.sig'))), sources, state: 'live', publishedBy: 'b', publishedAt: 0, plan: JSON.stringify({ waves: [{ percent: 10, probationS: 1, errorBudget: 0 }], quorum: 1, stallS: 1, wave: 0 }), rev: 1 };
  };
  const key = await devKey();
  const { set } = await rolloutModuleSet({ live: rel(live), candidate: { ...rel(cand), state: 'rolling' } }, 1, (b) => signManifest(b, key));
  return (dumpCycle(set, { bitrate: BITRATE }).length * 8) / BITRATE;
}

/**
 * Publish a built version and promote it with a plan, through the head-end's admin API from this
 * process (the calls `weft app publish|promote` make). Two `weft app` processes per version cost
 * seconds of start-up CPU on a busy machine, inside the measured window: at 1,000 boxes the
 * key-pressing fleet stalled 4-9 s while they started (wave 7). The CLI is tested by test/cli.
 */
async function publishPromote(dir: string, v: string, plan: string): Promise<void> {
  const o = { headend: String(ready.console), token: TOKEN };
  await call(o, 'POST', 'api/apps', readBuiltApp(dir));
  await call(o, 'POST', `api/apps/guide/${v}/promote`, { plan: JSON.parse(readFileSync(plan, 'utf8')) as unknown });
}

// ---- the run ----------------------------------------------------------------------------------
await run(process.execPath, ['build.mjs', '--out', join(work, 'dist'), '--keys', join(work, 'keys'), '--no-firmware', '--quiet'], { cwd: ROOT });
cpSync(join(work, 'dist', 'apps', 'guide'), join(work, 'apps', 'guide'), { recursive: true });
const port = await freeUdpPort();
const head = spawnLines(['headend', 'up', '--broker-port', '0', '--registry', `sqlite:${join(work, 'registry.db')}`, '--apps', join(work, 'apps'), '--keys', join(work, 'keys'), '--carousel', `127.0.0.1:${port}`, '--console-token', TOKEN, '--log-level', 'info'], (l) => {
  headLines.push(l);
  if (typeof l.msg === 'string' && l.msg.startsWith('rollout:')) headAt.push({ at: performance.now(), msg: l.msg });
});
await until(() => headLines.some((l) => l.event === 'ready'), 'head-end ready line');
const ready = headLines.find((l) => l.event === 'ready') as Line;
// The key-pressing process holds at most KEYED_MAX boxes: 200 pressing keys in one process (a key
// every 2 s each, their search on the box) lagged that process 25 s at load ~20, so its boxes
// took no version in 240 s; the others share the rest.
// ROLLOUT_NICE=N (0..19): the fleets without keys run at niceness N, so their emulation yields to the
// boxes whose requests are counted (a real box has its own CPU; wave 11 in PERFORMANCE.md). Default 0.
const FLEET_NICE = Number(process.env.ROLLOUT_NICE ?? 0);
if (!(Number.isInteger(FLEET_NICE) && FLEET_NICE >= 0 && FLEET_NICE <= 19)) throw new RangeError('rollout bench: ROLLOUT_NICE is a niceness 0..19');
const KEYED_MAX = Number(process.env.ROLLOUT_KEYED_MAX ?? 100);
// Only the kinds read here (bench/_rollout-parts.ts, onBoxLine); ROLLOUT_DEBUG shows one box's every event.
const EVENTS = process.env.ROLLOUT_DEBUG === undefined ? 'probation,module,session' : BOX_EVENT_KINDS.join(',');
const keyedN = Math.min(Math.ceil(BOXES / PROCS), KEYED_MAX);
const per = Math.ceil((BOXES - keyedN) / (PROCS - 1));
const MIX = 'hd-dvr:1,modern-4k:1,legacy-sd:1,broadcast-only:1';
const KEYED_MIX = 'hd-dvr:1,modern-4k:1,legacy-sd:1';
// Process 0 presses the keys and has no cut box (its request counts are the upgrades' alone); the others carry the cut ones.
const cutPer = Math.round((BOXES * 0.75 * CUT) / (PROCS - 1));
// A letter then back, over and over: each key is one search of a one-letter (or empty) query (apps/guide/ui.ts).
const keys = Array.from({ length: KEY_GAP_MS > 0 ? Math.ceil((3 * LIMIT_MS) / KEY_GAP_MS) : 0 }, (_, i) => (i % 2 === 0 ? 'abcdefghijklmnopqrstuvwxyz'[(i / 2) % 26] : 'back')).join(',');
for (let p = 0; p < PROCS; p++) {
  const count = p === 0 ? keyedN : Math.min(per, BOXES - keyedN - (p - 1) * per);
  const cutN = p === 0 ? 0 : Math.min(cutPer, Math.floor(count * 0.75));
  let cut = cutN;
  // The fleet's own assignment (devices/fleet.ts): profiles in the mix's order, the first `cut` two-way boxes cut.
  // The key-pressing fleet has no broadcast-only box either: without a return channel its requests are not the upgrades'.
  const mix = p === 0 ? KEYED_MIX : MIX;
  for (const [i, profile] of assignProfiles(count, parseMix(mix)).entries()) {
    const id = `f${p}-${i + 1}`;
    boxes.set(id, { profile, tried: new Set() });
    const twoWay = PROFILES.find((x) => x.id === profile)?.channels.twoWay === true;
    if (!twoWay || cut-- > 0) cutBoxes.add(id);
  }
  spawnLines(['fleet', 'run', '--count', String(count), '--prefix', `f${p}`, '--headend', String(ready.broker), '--carousel', `udp://127.0.0.1:${port}`, '--trust', join(work, 'keys', 'dev.pub.json'), '--cut', String(cutN), '--mix', mix, '--events', EVENTS, '--summary-every', '1', ...(p === 0 && KEY_GAP_MS > 0 ? ['--keys', keys, '--key-gap', String(KEY_GAP_MS)] : [])], (l) => (onFleetLine(p, l), onBoxLine(l)), p === 0 ? 0 : FLEET_NICE);
}
await until(() => onVersion('1.0.0') === BOXES, `${BOXES} boxes on 1.0.0`, '1.0.0');
// Pacing: the baseline and the publish start from a settled fleet, every box with a return channel
// `up` (a session). A box commits its first version when its modules run, before its session: at
// 1,000 boxes the baseline began while 3 of 4 fleet processes were still opening sessions, and
// the key-pressing process, stalled by the machine's load, lost requests the upgrades never saw.
// 99%: one box between sessions (a reconnect) does not hold the run.
const twoWayUncut = [...boxes.keys()].filter((id) => !cutBoxes.has(id)).length;
await until(() => fates.size === PROCS && [...fates.values()].reduce((a, f) => a + f.up, 0) >= Math.ceil(0.99 * twoWayUncut), `${twoWayUncut} boxes up`);
// A same-run baseline: the key-pressing fleet's requests over 20 summaries (1 s apart) with no upgrade
// running, so a loss during the upgrades can be told from what the loaded fleet loses anyway.
const base0 = keyed();
trace({ mark: 'baseline' });
const baseN = fates.get(0)?.n ?? 0;
await until(() => (fates.get(0)?.n ?? 0) >= baseN + 20, 'a 20 s baseline of requests');
const base1 = keyed();
const good = await version('1.0.1');
const bad = await version('1.0.2', BAD_PROFILE);
const cycle = await cycleS(join(work, 'apps', 'guide'), good);
const planFile = (name: string, probationS: number, budget: number): string => {
  const f = join(work, name);
  writeFileSync(f, JSON.stringify({ waves: [{ percent: FIRST_WAVE, probationS, errorBudget: budget }, { percent: 100, probationS, errorBudget: budget }], quorum: 0.8, stallS: 600 }));
  return f;
};

// Publish the good version: waves of 10% then 100%.
// t0 is when the head-end answered the promote (it put the plan on air as it took it).
const tCli = performance.now();
await publishPromote(good, '1.0.1', planFile('good.json', PROBATION_S, 0.05));
const t0 = performance.now();
const cpu0 = { fleet: fleetCpuS(), head: await cpuSecondsOf(head.pid) };
const req0 = keyed();
trace({ mark: 'publish' });
const t1 = await until(() => onVersion('1.0.1') === BOXES, `${BOXES} boxes on 1.0.1`, '1.0.1');
await until(() => headLines.some((l) => typeof l.msg === 'string' && /guide 1\.0\.1 is live/.test(l.msg)), '1.0.1 live');
const publishS = (t1 - t0) / 1000;
const cpu1 = { fleet: fleetCpuS(), head: await cpuSecondsOf(head.pid) };
const reqPublish = keyed();
trace({ mark: 'published' });
const waveOfBox = (id: string): number | undefined => (cohort01(id, 'guide') * 100 < FIRST_WAVE ? 0 : 1);
const decidedAt = headAt.filter((h) => h.msg.includes('1.0.1') && /promoted|is live/.test(h.msg)).map((h) => h.at);
// The head-end counts the boxes it hears from: the quorum's box is found among those with a return channel.
const parts = waveParts('1.0.1', marks, waveOfBox, [t0, decidedAt[0] ?? NaN], decidedAt, 0.8, (id) => !cutBoxes.has(id));
table('publish 1.0.1, per wave: median / p95 seconds of each part (the quorum is 80%)', parts.map((p) => ({ ...p })));
// Where the time went: the head-end's decisions, and when boxes took and committed the version.
const since = (at: number): number => Math.round((at - t0) / 100) / 10;
const m1 = probationMarks.filter((m) => m.version === '1.0.1');
const first = (o: string): number => since(m1.find((m) => m.outcome === o)?.at ?? t0);
const lastOf = (o: string): number => since(m1.filter((m) => m.outcome === o).at(-1)?.at ?? t0);
table('publish 1.0.1: seconds after the head-end took the plan', [
  { what: 'publish + promote (admin API calls)', s: -since(tCli) },
  ...headAt.filter((h) => h.msg.includes('1.0.1')).map((h) => ({ what: h.msg.slice(0, 60), s: since(h.at) })),
  { what: 'first box on probation', s: first('probation') },
  { what: 'first box committed', s: first('committed') },
  { what: 'last box on probation', s: lastOf('probation') },
  { what: 'last box committed', s: lastOf('committed') },
]);

// The bad version: it must stop at its first wave, and every box must come back.
await publishPromote(bad, '1.0.2', planFile('bad.json', 60, 0.05));
const tHalt = await until(() => headLines.some((l) => typeof l.msg === 'string' && /guide 1\.0\.2 halted/.test(l.msg)), '1.0.2 halted');
const tBack = await until(() => onVersion('1.0.1') === BOXES, `${BOXES} boxes back on 1.0.1`, '1.0.1');
const rollbackS = (tBack - tHalt) / 1000;
trace({ mark: 'back', tHalt: Math.round(tHalt), tBack: Math.round(tBack) });
// The rollback's parts: the halt's directive on air -> each box that tried 1.0.2 ran 1.0.1 again (its `reverted`).
const reverts = probationMarks.filter((m) => m.version === '1.0.2' && m.outcome === 'reverted' && m.at >= tHalt).map((m) => m.at - tHalt);
table('rollback: seconds after the halt', [
  { what: 'first box reverted', s: reverts.length === 0 ? NaN : Math.min(...reverts) / 1000 },
  { what: 'median box reverted', s: reverts.length === 0 ? NaN : (reverts.sort((x, y) => x - y)[Math.floor(reverts.length / 2)] as number) / 1000 },
  { what: 'last box reverted', s: reverts.length === 0 ? NaN : Math.max(...reverts) / 1000 },
  { what: 'every box committed on 1.0.1', s: rollbackS },
]);
const hit = [...boxes.values()].filter((b) => b.tried.has('1.0.2')).length;
const wave = [...boxes.keys()].filter((id) => cohort01(id, 'guide') * 100 < FIRST_WAVE).length;
const cutIds = [...cutBoxes];
const cutOk = cutIds.filter((id) => boxes.get(id)?.running === '1.0.1').length;
const stranded = [...boxes.values()].filter((b) => b.running !== '1.0.1').length;
// [issue 15.6] A box's request ledger spans its version switches: a fresh summary from every
// fleet process first, so the requests of the last seconds are counted.
const seen = new Map([...fates].map(([p, f]) => [p, f.n]));
// Six more summaries (1 s apart): a request lost at the end is ended by its ledger (deadline + grace) by then.
await until(() => [...fates].every(([p, f]) => f.n > (seen.get(p) ?? 0) + 6), 'six request summaries from every fleet process');
const reqEnd = keyed();
trace({ mark: 'end' });
const delta = (a: Record<string, number>, b: Record<string, number>, k: string): number => (b[k] ?? 0) - (a[k] ?? 0);
// An overdue request is also counted failed (loader/request-ledger.ts): failed is every request whose caller got no answer.
const win = requestWindow(req0, reqEnd);
const lost = win.failed;
const pairing = headLines.filter((l) => l.event === 'stats').at(-1)?.pairing as { switched?: number; switchFailed?: number; mismatched?: number } | undefined;
const repairS = (1.8 * BOXES) / 1000;
const budgetPublish = 2 * cycle + 2 * PROBATION_S + repairS;
const budgetRollback = 2 * cycle + repairS;

const goodReverts = revertLog.filter((r) => r.version === '1.0.1');
if (goodReverts.length > 0) table('reverts of the good 1.0.1 (the first 10)', goodReverts.slice(0, 10).map((r) => ({ ...r, fault: r.fault ?? "none", keyed: String(r.keyed) })));
table('rollout', [
  { part: 'publish -> every box', measured_s: publishS, budget_s: budgetPublish, carousel_cycle_s: cycle, probation_s: 2 * PROBATION_S, repair_s: repairS },
  { part: 'halt -> every box back', measured_s: rollbackS, budget_s: budgetRollback, carousel_cycle_s: cycle, probation_s: 0, repair_s: repairS },
]);
result('rollout', {
  boxes: BOXES,
  publish_to_all_s: publishS,
  publish_vs_carousel_cycles: publishS / cycle,
  bad_boxes_hit: hit,
  bad_wave_budget: wave,
  rollback_all_s: rollbackS,
  rollback_cut_boxes_ok: cutIds.length === 0 ? null : cutOk / cutIds.length,
  // Requests of the key-pressing fleet from the publish to every box back on 1.0.1: failed or never answered.
  requests_lost: lost,
  requests_sent: delta(req0, reqEnd, 'sent'),
  baseline_requests_sent: (base1.sent ?? 0) - (base0.sent ?? 0),
  baseline_requests_failed: (base1.failed ?? 0) - (base0.failed ?? 0),
  requests_sent_publish: delta(req0, reqPublish, 'sent'),
  requests_sent_rollback: delta(reqPublish, reqEnd, 'sent'),
  requests_failed: delta(req0, reqEnd, 'failed'),
  requests_failed_publish: delta(req0, reqPublish, 'failed'),
  requests_failed_rollback: delta(reqPublish, reqEnd, 'failed'),
  requests_overdue: delta(req0, reqEnd, 'overdue'),
  // Sent and not ended when the publish began and at the end, from the cumulative counts (never below 0).
  requests_in_flight_start: win.inFlightStart,
  requests_in_flight: win.inFlight,
  fleet_cpu_s_publish: cpu1.fleet - cpu0.fleet,
  headend_cpu_s_publish: cpu1.head - cpu0.head,
  wave1_report_decide_s: parts[0]?.report_decide_s ?? null,
  wave2_report_decide_s: parts[1]?.report_decide_s ?? null,
  sessions_switched: pairing?.switched ?? null,
  switches_failed: pairing?.switchFailed ?? null,
  opens_mismatched: pairing?.mismatched ?? null,
  stranded,
  good_reverted: goodReverts.length,
  good_reverted_keyed: goodReverts.filter((r) => r.keyed).length,
  carousel_cycle_s: cycle,
  fleet_nice: FLEET_NICE,
  probation_s: PROBATION_S,
  repair_s: repairS,
  budget_publish_s: budgetPublish,
  budget_rollback_s: budgetRollback,
});
process.exit(0);
