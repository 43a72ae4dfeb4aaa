// bench/balance part (c), live placement against the simulator [c13-c16, c41, c43; D16], the
// multi-process part of the bench: three node PROCESSES (bench/_balance-node.ts, startHeadend as
// `weft headend node` runs it) on one MQTT broker (aedes, here) and one SQLite registry file;
// boxes connect over MQTT and every session.open enters at n1 (a shared broker without shared
// subscriptions: every node hears each box, only the leader n1 answers the `*` sessions
// endpoint). n1's seeded balancer records each (view, request, choice) to a file; the figures
// come from bench/_balance-compare.ts.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Channel, SESSIONS_VADDR, SessionOps, checkOpenReply, type Envelope, type ResourceReport } from '../runtime/index.ts';
import { encodeManifest, generateSigningKey, sha256Hex, signManifest, trustedKey, trustedKeyToJson, utf8 } from '../runtime/app/index.ts';
import { connectMqttTransport, type MqttTransport } from '../transport/mqtt.ts';
import { derivedBoxSecret, derivedCredentials } from '../headend/broker/broker-auth.ts';
import { startAedesBroker } from '../headend/broker/broker-aedes.ts';
import { compareLive, type Comparison, type Decision } from './_balance-compare.ts';

const NODE = new URL('./_balance-node.ts', import.meta.url).pathname;
const SEED = 2026;
const IDS = ['n1', 'n2', 'n3'];
const BOXES = 30;
// The default report and heartbeat interval: at 200 ms a node starved for 500 ms on a loaded machine
// was declared dead and its sessions placed again elsewhere (two instances of each).
const INTERVAL_MS = 1000;

export interface PlacementFigures extends Comparison {
  hosted: Record<string, number>;
  /** Sessions per node as the open replies named the host (a cross-check of `hosted`). */
  replied: Record<string, number>;
  /** Decisions recorded at n1, and by the other nodes (0: every open entered at n1). */
  decisions: number;
  elsewhere: number;
}

/** The app: one server module; a signed folder as `npm run build` writes it, and its trusted key. */
async function writeApp(dir: string): Promise<{ apps: string; keys: string }> {
  const { key } = await generateSigningKey();
  const bytes = utf8(`weft.on('request', (b) => b);`);
  const manifest = { app: 'place', version: '1.0.0', modules: [{ name: 'svc', kind: 'server' as const, tier: 'boot' as const, file: 'svc.js', sha256: await sha256Hex(bytes), size: bytes.length, uses: [], needs: {} }] };
  const manifestBytes = encodeManifest(manifest);
  const apps = join(dir, 'apps');
  const keys = join(dir, 'keys');
  await mkdir(join(apps, 'place'), { recursive: true });
  await mkdir(keys, { recursive: true });
  await writeFile(join(apps, 'place', 'manifest.json'), manifestBytes);
  await writeFile(join(apps, 'place', 'manifest.sig'), await signManifest(manifestBytes, key));
  await writeFile(join(apps, 'place', 'svc.js'), bytes);
  await writeFile(join(keys, 'bench.pub.json'), JSON.stringify(trustedKeyToJson(await trustedKey(key.publicKey))));
  return { apps, keys };
}

/** A node process and the JSON lines it printed; `when` waits for a line (or the process's end). */
class NodeProcess {
  readonly lines: Record<string, unknown>[] = [];
  #waiters: { test: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void; reject: (e: Error) => void }[] = [];
  #err = '';
  #exited = false;
  constructor(readonly child: ChildProcess) {
    child.stderr?.on('data', (d: Buffer) => (this.#err = (this.#err + d.toString()).slice(-4000)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (text) => {
      let l: Record<string, unknown>;
      try {
        l = JSON.parse(text) as Record<string, unknown>;
      } catch {
        return;
      }
      this.lines.push(l);
      this.#waiters = this.#waiters.filter((w) => (w.test(l) ? (w.resolve(l), false) : true));
    });
    // 'close', not 'exit': every line the process printed has been read by then.
    child.once('close', (code) => {
      this.#exited = true;
      for (const w of this.#waiters) w.reject(new Error(`node exited (${code}) before the line it was waited for: ${this.#err}`));
      this.#waiters = [];
    });
  }
  when(event: string): Promise<Record<string, unknown>> {
    const test = (l: Record<string, unknown>) => l.event === event;
    const seen = this.lines.find(test);
    if (seen !== undefined) return Promise.resolve(seen);
    if (this.#exited) return Promise.reject(new Error(`node exited: ${this.#err}`));
    return new Promise((resolve, reject) => this.#waiters.push({ test, resolve, reject }));
  }
  async stop(): Promise<void> {
    if (this.#exited) return;
    const gone = new Promise((r) => this.child.once('close', r));
    this.child.kill('SIGTERM');
    await gone;
  }
}

const report = (boxId: string): ResourceReport => ({ boxId, profile: 'legacy-sd', freeMemoryBytes: 1 << 20, appMemoryBytes: 4 << 20, cpuClass: 'low', cpuLoad: 0, storageFreeBytes: 0, sandboxBytes: 0, twoWayUp: true, at: Date.now() });

/** Open `sessions` sessions from BOXES boxes over MQTT, one at a time; gives the node of each reply. */
async function openAll(url: string, masterKey: string, sessions: number): Promise<string[]> {
  const boxes: { tr: MqttTransport; ch: Channel }[] = [];
  try {
    for (let b = 0; b < BOXES; b++) {
      const id = `stb-${b}`;
      const tr = await connectMqttTransport({ role: 'box', url, id, password: derivedBoxSecret(masterKey, id), log: () => {} });
      const ch = new Channel({ self: { vaddr: `weft://box/${id}/inbox` }, write: (e: Envelope) => tr.send(e), timeoutMs: 30_000 });
      tr.onEnvelope((e) => ch.receive(e));
      boxes.push({ tr, ch });
    }
    const nodes: string[] = [];
    for (let i = 0; i < sessions; i++) {
      const id = `stb-${i % BOXES}`;
      const { ch } = boxes[i % BOXES] as { ch: Channel };
      const r = checkOpenReply(await ch.request({ vaddr: SESSIONS_VADDR }, { app: 'place', version: '1.0.0', boxId: id, report: report(id) }, { op: SessionOps.open }));
      nodes.push(r.node);
    }
    return nodes;
  } finally {
    for (const b of boxes) await b.tr.close().catch(() => undefined);
  }
}

async function readLog(file: string): Promise<Decision[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Decision);
}

export async function runPlacement(sessions: number): Promise<PlacementFigures> {
  const dir = await mkdtemp(join(tmpdir(), 'weft-balance-'));
  const { apps, keys } = await writeApp(dir);
  const masterKey = randomBytes(24).toString('base64url');
  const passwords = Object.fromEntries(IDS.map((id) => [id, randomBytes(12).toString('base64url')]));
  const broker = await startAedesBroker({ credentials: derivedCredentials(masterKey, IDS.map((id) => ({ id, password: passwords[id] as string }))), port: 0, log: () => {} });
  const env = { ...process.env, WEFT_CLUSTER_KEY: randomBytes(24).toString('base64url'), WEFT_BENCH_MASTER_KEY: masterKey };
  const procs: NodeProcess[] = [];
  try {
    for (const [i, id] of IDS.entries()) {
      const args = ['--node', id, '--broker', broker.url, '--password', passwords[id] as string, '--registry', `sqlite:${join(dir, 'registry.db')}`, '--apps', apps, '--keys', keys, '--interval', String(INTERVAL_MS), '--seed', String(SEED + i), '--record', join(dir, `${id}.jsonl`), '--expect', String(IDS.length)];
      const p = new NodeProcess(spawn(process.execPath, ['--import', 'tsx', NODE, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env }));
      procs.push(p);
      await p.when('ready');
    }
    // Every node must see every other before the first open (each says so; no timed wait).
    await Promise.all(procs.map((p) => p.when('cluster')));
    const replies = await openAll(broker.url, masterKey, sessions);
    await Promise.all(procs.map((p) => p.stop()));
    const hosted: Record<string, number> = {};
    for (const [i, id] of IDS.entries()) hosted[id] = Number((await (procs[i] as NodeProcess).when('hosted')).sessions);
    const replied: Record<string, number> = Object.fromEntries(IDS.map((id) => [id, replies.filter((n) => n === id).length]));
    const log = await readLog(join(dir, 'n1.jsonl'));
    let elsewhere = 0;
    for (const id of IDS.slice(1)) elsewhere += (await readLog(join(dir, `${id}.jsonl`))).length;
    return { ...compareLive(log, hosted, SEED), hosted, replied, decisions: log.length, elsewhere };
  } finally {
    for (const p of procs) await p.stop();
    await broker.close();
    await rm(dir, { recursive: true, force: true });
  }
}
