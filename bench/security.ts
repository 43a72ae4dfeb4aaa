// bench/security (issue 12): the attacks of the trust issue against a live embedded head-end
// (aedes, the MAC on node UDP, the quotas) and a box's carousel receiver, in one run, each
// counted. Prints {"bench":"security",...}: every *_accepted must be 0. The two figures that
// need processes of their own come from their benches, run beside this one as child processes:
// connect_hold_rss_mb (bench/connect-hold) and neighbour_spin_p99_ms (bench/sandbox-isolation).
// `npm run bench -- security [--sessions 1000]`
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { promisify } from 'node:util';
import { CarouselReceiver, encodeDdb, encodeDii, encodeDsi } from '../carousel/index.ts';
import { startHeadend, type RunningHeadend } from '../headend/main.ts';
import { carouselQuotaFor } from '../loader/acquire.ts';
import { RollbackFloor } from '../loader/index.ts';
import { profile } from '../devices/index.ts';
import { Channel, SESSIONS_VADDR, STATS_VADDR, SessionOps, type Envelope } from '../runtime/index.ts';
import { connectMqttTransport } from '../transport/mqtt.ts';
import { createUdpTransport } from '../transport/index.ts';
import { result, table } from './_report.ts';
// @ts-expect-error build.mjs is plain JavaScript without types
import { build } from '../build.mjs';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const run = promisify(execFile);
const MB = 1024 * 1024;
const argSessions = process.argv.indexOf('--sessions');
const SESSIONS = argSessions > 0 ? Number(process.argv[argSessions + 1]) : 1000;

function rssMb(): number {
  gc();
  return process.memoryUsage().rss / MB;
}

async function boxChannel(h: RunningHeadend, id: string): Promise<{ ch: Channel; close: () => Promise<void> }> {
  const t = await connectMqttTransport({ role: 'box', url: h.brokerUrl, id, password: h.boxSecret(id), log: () => {}, deadPath: { initialRttMs: 1000 } });
  const ch = new Channel({ self: { vaddr: `weft://box/${id}/inbox` }, write: (e: Envelope) => t.send(e), timeoutMs: 5000 });
  t.onEnvelope((e) => ch.receive(e));
  return { ch, close: () => t.close() };
}

const report = (boxId: string) => ({ boxId, profile: 'legacy-sd', freeMemoryBytes: 1 << 20, appMemoryBytes: 4 << 20, cpuClass: 'low' as const, cpuLoad: 0, storageFreeBytes: 0, sandboxBytes: 0, twoWayUp: true, at: 0 });
const accepted = (p: Promise<unknown>): Promise<number> => p.then(() => 1, () => 0);

/** A box driving node control and statistics, and opening a session in another box's name. */
async function boxAttacks(h: RunningHeadend): Promise<{ foreign: number; forged: number }> {
  const a = await boxChannel(h, 'attacker');
  const control = { vaddr: h.node.vaddr('control') };
  let foreign = 0;
  foreign += await accepted(a.ch.request(control, { app: 'guide', session: 'x1', modules: ['epg'] }, { op: 'portion.start' }));
  foreign += await accepted(a.ch.request(control, { session: 'someone-else' }, { op: 'portion.stop' }));
  foreign += await accepted(a.ch.request({ vaddr: h.node.vaddr('stats') }, { node: 'evil', udp: { host: '127.0.0.1', port: 9 } }, { op: 'timing.beat' }));
  await a.ch.send({ vaddr: STATS_VADDR }, { node: 'evil' }, { op: 'stats.node', kind: 'stat' });
  if (h.node.peers().includes('evil')) foreign++;
  const forged = await accepted(a.ch.request({ vaddr: SESSIONS_VADDR }, { app: 'guide', version: '1.0.0', boxId: 'victim', report: report('victim') }, { op: SessionOps.open }));
  await a.close();
  return { foreign, forged };
}

/** A stranger on the node's UDP port: a request without the MAC, and how many bytes come back. */
async function udpAttacks(h: RunningHeadend): Promise<{ accepted: number; amplification: number }> {
  let out = 0;
  let back = 0;
  const stranger = await createUdpTransport({ host: '127.0.0.1', port: 0, dropFilter: (dir, d) => ((dir === 'out' ? (out += d.length) : (back += d.length)), false) });
  const before = h.node.counters.dispatched;
  const ch = new Channel({ self: stranger.address, write: (e: Envelope) => stranger.send(e), timeoutMs: 1500 });
  stranger.onEnvelope((e) => ch.receive(e));
  let ok = 0;
  for (let i = 0; i < 20; i++) ok += await accepted(ch.request({ vaddr: h.node.vaddr('control'), udp: h.node.udpAddress }, {}, { op: 'replica.start' }));
  await stranger.close();
  return { accepted: ok + (h.node.counters.dispatched > before ? 1 : 0), amplification: out === 0 ? 0 : back / out };
}

/** One box opening `n` sessions: what the head-end holds afterwards. */
async function sessionFlood(h: RunningHeadend, n: number): Promise<{ rssMb: number; opened: number }> {
  const box = await boxChannel(h, 'flooder');
  const before = rssMb();
  let opened = 0;
  for (let i = 0; i < n; i += 50) {
    const batch = Array.from({ length: Math.min(50, n - i) }, () => accepted(box.ch.request({ vaddr: SESSIONS_VADDR }, { app: 'guide', version: '1.0.0', boxId: 'flooder', report: report('flooder') }, { op: SessionOps.open, timeoutMs: 10_000 })));
    opened += (await Promise.all(batch)).reduce((s, x) => s + x, 0);
  }
  const grown = rssMb() - before;
  await box.close();
  return { rssMb: grown, opened };
}

/** A DII announcing 60 modules of 266 MB, then 72 MiB of blocks, at a legacy-sd box's receiver. */
function carouselBomb(): { rssMb: number; quotaMb: number; heldMb: number } {
  const quota = carouselQuotaFor(profile('legacy-sd'));
  const sha = new Uint8Array(32).fill(7);
  const dsi = encodeDsi({ transactionId: 0x80000000, groups: [{ groupId: 0x80000002, size: 60 * 266_000_000, tier: 'boot' }], appId: 'x', appVersion: '1' });
  const modules = Array.from({ length: 60 }, (_, i) => ({ id: i + 1, size: 266_000_000, version: 0, info: { name: `m${i}.js`, kind: 'client' as const, tier: 'boot' as const, sha256: sha, appId: 'x', appVersion: '1' } }));
  const dii = encodeDii({ transactionId: 0x80000002, downloadId: 1, blockSize: 4066, modules });
  // The attacker's 72 MiB of blocks exist before the baseline (they are the network's bytes, not
  // the box's): what is measured is what the receiver keeps of them.
  const per = Math.ceil((72 * MB) / 4066 / 60);
  const blocks: Uint8Array[] = [];
  for (let n = 0; n < per; n++) for (let id = 1; id <= 60; id++) blocks.push(encodeDdb({ downloadId: 1, moduleId: id, version: 0, block: n, data: new Uint8Array(4066).fill(n & 0xff) }, 0xffff));
  const before = rssMb();
  const rx = new CarouselReceiver({ maxHeldBytes: quota });
  rx.pushSection(dsi);
  rx.pushSection(dii);
  for (const b of blocks) rx.pushSection(b);
  const grown = rssMb() - before;
  blocks.length = 0;
  return { rssMb: grown, quotaMb: quota / MB, heldMb: rx.stats().heldBytes / MB };
}

/** A box that verified 1.0.1 offered replays of every older version (the end-to-end replay over a
 *  real carousel and warm boot is test/loader/rollback.test.ts): how many would it run? */
function rollbacks(): number {
  const floor = new RollbackFloor();
  floor.raise('guide', '1.0.1');
  return ['1.0.0', '0.9.9', '1.0.1-rc.1', '0.0.1'].filter((v) => floor.check('guide', v).ok).length;
}

/** The last JSON line a bench printed. */
async function childBench(args: string[]): Promise<Record<string, unknown>> {
  const r = await run(process.execPath, ['--import', 'tsx', new URL('./run.ts', import.meta.url).pathname, ...args], { maxBuffer: 16 * MB });
  const line = r.stdout.trim().split('\n').reverse().find((l) => l.startsWith('{'));
  return line === undefined ? {} : (JSON.parse(line) as Record<string, unknown>);
}

const work = mkdtempSync(join(tmpdir(), 'weft-bench-security-'));
try {
  await build({ out: join(work, 'dist'), keys: join(work, 'keys'), quiet: true, firmware: false });
  const h = await startHeadend({ registry: 'memory', brokerPort: 0, carousel: 'off', apps: join(work, 'dist', 'apps'), keys: join(work, 'keys'), masterKey: randomBytes(24).toString('hex'), nodeKey: randomBytes(24).toString('hex'), log: () => {} });
  const box = await boxAttacks(h);
  const udp = await udpAttacks(h);
  const flood = await sessionFlood(h, SESSIONS);
  await h.close();
  const bomb = carouselBomb();
  const bombCheck = carouselBomb(); // a second run: the first pays for code and pools warming up
  const hold = await childBench(['connect-hold']);
  const spin = await childBench(['sandbox-isolation', '--spins', '8']);
  const fields = {
    foreign_control_accepted: box.foreign,
    forged_identity_accepted: box.forged,
    udp_unauthenticated_accepted: udp.accepted,
    udp_amplification: Math.round(udp.amplification * 1000) / 1000,
    session_quota_rss_mb: Math.round(flood.rssMb * 10) / 10,
    sessions_opened_of: `${flood.opened}/${SESSIONS}`,
    carousel_bomb_rss_mb: Math.round(Math.min(bomb.rssMb, bombCheck.rssMb) * 10) / 10,
    carousel_bomb_held_mb: bombCheck.heldMb,
    carousel_quota_mb: bomb.quotaMb,
    connect_hold_rss_mb: (hold.connect_hold_rss_mb as number | undefined) ?? null,
    neighbour_spin_p99_ms: (spin.neighbour_spin_p99_ms as number | undefined) ?? null,
    rollback_accepted: rollbacks(),
  };
  table('attacks on a live embedded head-end and a legacy-sd box receiver', Object.entries(fields).map(([field, value]) => ({ field, value: String(value) })));
  result('security', fields as Record<string, number | string | null>);
} finally {
  rmSync(work, { recursive: true, force: true });
}
