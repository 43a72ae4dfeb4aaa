// bench/balance part (c), live placement against the simulator [c13-c16, c41, c43; DECISIONS D16]:
// three head-end nodes (in one process: real UDP, worker threads, one SQLite registry), every
// session.open entering at n1, 300 sessions. n1's balancer records each (view, request) it saw;
// - live_spread: max/min sessions hosted per node (equal capacities: 1 is perfect);
// - live_vs_sim_decisions: the recorded pairs replayed through the simulator's policy (a fresh
//   seeded Weft balancer): the fraction of decisions that differ;
// - live_vs_sim_counts: the same trace (opens and report rounds) through sim/replay.ts: the
//   largest relative difference in sessions hosted per node.

import { Channel, SESSIONS_VADDR, SessionOps, checkOpenReply, type Envelope, type ResourceReport, type Result } from '../runtime/index.ts';
import { encodeManifest, generateSigningKey, sha256Hex, signManifest, trustedKey, trustedKeyToJson, utf8 } from '../runtime/app/index.ts';
import { createUdpTransport } from '../transport/index.ts';
import { AppCatalog } from '../headend/app-catalog.ts';
import { HeadendNode } from '../headend/node.ts';
import { SqliteRegistry } from '../headend/registry/registry-sqlite.ts';
import { WorkerPool } from '../headend/portions/worker-pool.ts';
import { Balancer, SeededRandom, type ClusterView, type NoCapacity, type Placement, type PlaceRequest, type PlacementPolicy } from '../policy/index.ts';
import { replayTrace, type TraceEvent } from '../sim/index.ts';

const ENTRY = new URL('../headend/portions/portion-worker.ts', import.meta.url);
const SEED = 2026;
const CAPACITY = 4;

interface Decision {
  view: ClusterView;
  req: PlaceRequest;
  node: string | undefined;
}

/** Weft's balancer, recording what it saw and chose. */
class Recording implements PlacementPolicy {
  readonly name = 'weft';
  readonly log: Decision[] = [];
  readonly #inner = new Balancer({ random: new SeededRandom(SEED).uniform() });
  place(view: ClusterView, req: PlaceRequest): Result<Placement, NoCapacity> {
    const r = this.#inner.place(view, req);
    this.log.push({ view: structuredClone(view) as ClusterView, req: { ...req }, node: r.ok ? r.value.node : undefined });
    return r;
  }
}

async function app() {
  const { key } = await generateSigningKey();
  const bytes = utf8(`weft.on('request', (b) => b);`);
  const manifest = { app: 'place', version: '1.0.0', modules: [{ name: 'svc', kind: 'server' as const, tier: 'boot' as const, file: 'svc.js', sha256: await sha256Hex(bytes), size: bytes.length, uses: [], needs: {} }] };
  const manifestBytes = encodeManifest(manifest);
  return { pub: { manifest, manifestBytes, signature: await signManifest(manifestBytes, key), sources: { svc: bytes } }, trusted: [trustedKeyToJson(await trustedKey(key.publicKey))] };
}

const report = (boxId: string): ResourceReport => ({ boxId, profile: 'legacy-sd', freeMemoryBytes: 1 << 20, appMemoryBytes: 4 << 20, cpuClass: 'low', cpuLoad: 0, storageFreeBytes: 0, sandboxBytes: 0, twoWayUp: true, at: Date.now() });

export interface PlacementFigures {
  liveSpread: number;
  liveVsSimDecisions: number;
  liveVsSimCounts: number;
  hosted: Record<string, number>;
  sim: Record<string, number>;
}

export async function runPlacement(sessions: number): Promise<PlacementFigures> {
  const { pub, trusted } = await app();
  const registry = new SqliteRegistry({ path: ':memory:' });
  const ids = ['n1', 'n2', 'n3'];
  const recording = new Recording();
  const nodes: HeadendNode[] = [];
  const closers: (() => Promise<void>)[] = [];
  for (const id of ids) {
    const udp = await createUdpTransport({ host: '127.0.0.1', port: 0 });
    const catalog = new AppCatalog();
    catalog.add(pub);
    const pool = new WorkerPool({ entry: ENTRY, spare: 1, max: 4 });
    await pool.warm();
    const policy = id === 'n1' ? recording : new Balancer({ random: new SeededRandom(SEED + ids.indexOf(id)).uniform() });
    const node = new HeadendNode({ id, udp, registry, catalog, pool, trusted, policy, capacity: CAPACITY, intervalMs: 200, replicas: { scale: false } });
    await node.start();
    nodes.push(node);
    closers.push(() => node.close(), () => pool.close(), () => udp.close());
  }
  for (const n of nodes) await n.refreshPeers();
  const boxT = await createUdpTransport({ host: '127.0.0.1', port: 0 });
  const box = new Channel({ self: { vaddr: 'weft://box/bench/inbox', udp: boxT.address.udp as { host: string; port: number } }, write: (e: Envelope) => boxT.send(e), timeoutMs: 60_000 });
  boxT.onEnvelope((e) => box.receive(e));
  const n1 = nodes[0] as HeadendNode;
  try {
    // Wait (on reports, not a time) until n1 sees all three nodes.
    while (n1.statistics.clusterView().nodes.length < ids.length) await new Promise((r) => setTimeout(r, 50));
    for (let i = 0; i < sessions; i++) {
      checkOpenReply(await box.request({ vaddr: SESSIONS_VADDR, udp: n1.udpAddress }, { app: 'place', version: '1.0.0', boxId: `b${i}`, report: report(`b${i}`) }, { op: SessionOps.open }));
    }
    const hosted = Object.fromEntries(nodes.map((n) => [n.id, n.sessions.count]));
    return { ...compare(recording.log, hosted, ids), hosted };
  } finally {
    await boxT.close();
    for (const c of closers) await c();
    await registry.close();
  }
}

function compare(log: readonly Decision[], hosted: Record<string, number>, ids: string[]): Omit<PlacementFigures, 'hosted'> {
  const counts = Object.values(hosted);
  const liveSpread = Math.max(...counts) / Math.max(1, Math.min(...counts));
  // (1) the recorded pairs through the simulator's policy object, seeded alike.
  const sim = new Balancer({ random: new SeededRandom(SEED).uniform() });
  let differ = 0;
  for (const d of log) {
    const r = sim.place(d.view, d.req);
    if ((r.ok ? r.value.node : undefined) !== d.node) differ++;
  }
  // (2) the trace through the simulator's bookkeeping: a report round wherever the view changed.
  const trace: TraceEvent[] = [];
  let lastAt = '';
  log.forEach((d, i) => {
    const at = d.view.nodes.map((n) => n.at).join(',');
    if (at !== lastAt) trace.push({ kind: 'report', at: d.view.now });
    lastAt = at;
    trace.push({ kind: 'open', session: `s${i}`, app: d.req.app, cost: d.req.cost ?? 1 });
  });
  const replay = replayTrace(ids.map((node) => ({ node, capacity: CAPACITY })), trace, new Balancer({ random: new SeededRandom(SEED).uniform() }));
  let worst = 0;
  for (const id of ids) worst = Math.max(worst, Math.abs((hosted[id] ?? 0) - (replay.hosted[id] ?? 0)) / Math.max(1, replay.hosted[id] ?? 0));
  return { liveSpread, liveVsSimDecisions: log.length === 0 ? 1 : differ / log.length, liveVsSimCounts: worst, sim: { ...replay.hosted } };
}
