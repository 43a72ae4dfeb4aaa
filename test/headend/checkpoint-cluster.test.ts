// Durable portion state across a node death, in the deterministic head-end tier [issue 13.2]:
// three nodes on an in-memory network, one manual clock, the in-thread portion host (its fake
// modules count requests and snapshot the count). The dying node's registry is cut with it, so
// nothing it held in memory reaches the registry after its death.
import test from 'ava';
import { ManualClock, SessionOps, checkOpenReply, type OpenReply } from '../../runtime/index.ts';
import type { Durability } from '../../runtime/app/index.ts';
import type { Registry } from '../../headend/registry/registry.ts';
import { signedApp } from '../_helpers/apps.ts';
import { memoryNode, memoryRegistry, type MemoryNode } from '../_helpers/headend.ts';
import { MemoryNet } from '../_helpers/memory-net.ts';
import { nodeSource } from '../../headend/console/node-source.ts';
import { ConsoleMetrics } from '../../headend/console/metrics.ts';
import { lowEndReport as report, here, memoryBox, clockStepper } from '../_helpers/memory-tier.ts';

const INTERVAL = 1000;
const CHECKPOINT_MS = 1000;

/** A registry that dies with its node: after kill() every call rejects, as from a process that is gone. */
function killable(inner: Registry): { registry: Registry; kill(): void } {
  let dead = false;
  const registry = new Proxy(inner, {
    get(target, key, receiver) {
      const v = Reflect.get(target, key, receiver) as unknown;
      if (typeof v !== 'function' || key === 'close' || key === 'watch') return typeof v === 'function' ? v.bind(target) : v;
      return (...args: unknown[]) => (dead ? Promise.reject(new Error('node is dead')) : (v as (...a: unknown[]) => unknown).apply(target, args));
    },
  });
  return { registry, kill: () => void (dead = true) };
}

async function cluster(durability: Durability | undefined) {
  const { pub, trusted } = await signedApp('tally', [
    { name: 'ui', kind: 'client', source: `weft.on('message', () => {});` },
    { name: 'counter', kind: 'server', source: `weft.on('request', () => ({}));`, ...(durability === undefined ? {} : { durability }) },
  ]);
  const clock = new ManualClock();
  const net = new MemoryNet();
  const shared = memoryRegistry(clock);
  const n2Registry = killable(shared);
  const nodes: MemoryNode[] = [];
  for (const id of ['n1', 'n2', 'n3']) {
    const registry = id === 'n2' ? n2Registry.registry : shared;
    nodes.push(await memoryNode({ id, net, clock, registry, apps: [pub], trusted, intervalMs: INTERVAL, ...(id === 'n2' ? { policy: here('n2') } : {}) }));
  }
  for (const n of nodes) await n.refreshPeers();
  const { box, transport: boxT } = memoryBox(net, clock);
  const advance = clockStepper(clock, INTERVAL);
  const [n1, n2, n3] = nodes as [MemoryNode, MemoryNode, MemoryNode];
  const open = async (): Promise<OpenReply> =>
    checkOpenReply(await box.request({ vaddr: 'weft://headend/n2/sessions', udp: n2.udpAddress }, { app: 'tally', version: '1.0.0', boxId: 'b1', report: report('b1') }, { op: SessionOps.open }));
  const inc = async (s: OpenReply, via: MemoryNode): Promise<number> => ((await box.request({ vaddr: s.dasp, udp: via.udpAddress }, { inc: 1 })) as { n: number }).n;
  /** n2 dies without a word: no UDP, no heartbeats, no registry; then wait until a survivor re-placed its sessions. */
  const killN2 = async (): Promise<void> => {
    net.cut(n2.udpAddress);
    n2.statistics.stop();
    n2.timing.stop();
    n2Registry.kill();
    for (let i = 0; i < 40 && n1.sessions.counters.replaced + n3.sessions.counters.replaced === 0; i++) await advance(INTERVAL / 4);
    await advance(INTERVAL);
  };
  const close = async (): Promise<void> => {
    for (const n of nodes) await n.close();
    await boxT.close();
    await shared.close();
  };
  return { clock, registry: shared, n1, n2, n3, open, inc, killN2, advance, close };
}

test('sync: every acknowledged increment is in the registry when its reply arrives; after the node dies the counter is N [issue 13.2]', async (t) => {
  const c = await cluster('sync');
  try {
    await c.advance(2 * INTERVAL);
    const s = await c.open();
    t.is(s.node, 'n2');
    const N = 20;
    for (let i = 1; i <= N; i++) {
      t.is(await c.inc(s, c.n2), i);
      // No time passed: the reply waited for the write, not for a timer.
      t.deepEqual((await c.registry.getCheckpoint(s.dasp))?.state, Uint8Array.of(i), `checkpoint at reply ${i}`);
    }
    t.is(c.n2.checkpoints.stats().written, N);
    // The node's stats reach the console and /metrics.
    const source = nodeSource(c.n2);
    t.like(source.snapshot().counters, { checkpoint_written: N, checkpoint_bytes: N, checkpoint_deferred: 0, checkpoint_refused: 0, checkpoint_restored: 0, checkpoint_lost_window_ms: 0 });
    t.regex(await new ConsoleMetrics(() => source.snapshot()).scrape(), new RegExp(`weft_checkpoint_written_total ${N}\n`));
    await c.killN2();
    const rec = await c.registry.lookup(s.dasp);
    t.true(rec !== undefined && rec.node !== 'n2', `re-placed on ${rec?.node}`);
    t.is(await c.inc(s, c.n1), N + 1, 'restored at N: nothing acknowledged was lost');
    const survivor = rec?.node === 'n1' ? c.n1 : c.n3;
    t.is(survivor.checkpoints.stats().restored, 1);
    t.is(c.n1.checkpoints.stats().lostWindowMs + c.n3.checkpoints.stats().lostWindowMs, 0, 'a sync module has no loss window');
  } finally {
    await c.close();
  }
});

test('interval (the default): the counter comes back >= N - the updates of the last checkpointMs, and the loss window is counted [issue 13.2]', async (t) => {
  const c = await cluster(undefined);
  try {
    await c.advance(2 * INTERVAL);
    const s = await c.open();
    for (let i = 1; i <= 10; i++) t.is(await c.inc(s, c.n2), i);
    t.is(await c.registry.getCheckpoint(s.dasp), undefined, 'interval: replies do not wait for a write');
    await c.advance(CHECKPOINT_MS);
    t.deepEqual((await c.registry.getCheckpoint(s.dasp))?.state, Uint8Array.of(10), 'checkpointed within checkpointMs of the change');
    const written = c.n2.checkpoints.stats().written;
    await c.advance(CHECKPOINT_MS);
    t.is(c.n2.checkpoints.stats().written, written, 'no change, no write (an idle portion costs nothing)');
    // Five more acknowledged increments inside the last checkpointMs, then the node dies.
    const recent = 5;
    for (let i = 11; i <= 10 + recent; i++) t.is(await c.inc(s, c.n2), i);
    t.true(c.n2.checkpoints.stats().windowMs >= 0);
    const N = 10 + recent;
    await c.killN2();
    const after = (await c.inc(s, c.n1)) - 1;
    t.true(after >= N - recent && after <= N, `restored ${after} of ${N}`);
    t.is(after, 10, 'exactly the last checkpoint');
    const stats = [c.n1, c.n3].map((n) => n.checkpoints.stats());
    t.is(stats[0]!.restored + stats[1]!.restored, 1);
    const window = stats[0]!.lostWindowMs + stats[1]!.lostWindowMs;
    t.true(window > 0 && window <= CHECKPOINT_MS + 2 * INTERVAL, `loss window counted: ${window} ms`);
  } finally {
    await c.close();
  }
});

test('the migration path writes a checkpoint: the target dying before its first round loses nothing [issue 13.2]', async (t) => {
  const c = await cluster(undefined);
  try {
    await c.advance(2 * INTERVAL);
    const s = await c.open();
    for (let i = 1; i <= 7; i++) await c.inc(s, c.n2);
    t.is(await c.registry.getCheckpoint(s.dasp), undefined);
    const iid = c.n2.table.hosted.get(s.dasp)?.iids[0] as string;
    t.deepEqual(await c.n2.movePortion(iid, 'n3'), { ok: true, value: 'n3' });
    const ck = await c.registry.getCheckpoint(s.dasp);
    t.deepEqual(ck?.state, Uint8Array.of(7), 'written on migration, before any round');
    t.is(ck?.node, 'n2');
    t.is(await c.inc(s, c.n3), 8, 'the state moved with it');
    // The moved portion's new owner writes at the new epoch; the old instance is gone from n2's books.
    await c.advance(CHECKPOINT_MS);
    const next = await c.registry.getCheckpoint(s.dasp);
    t.is(next?.node, 'n3');
    t.true((next?.epoch ?? 0) > (ck?.epoch ?? 0), 'a later epoch: the registry fences n2 from now on');
  } finally {
    await c.close();
  }
});
