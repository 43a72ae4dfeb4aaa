// App-wide modules (issue 16 build 1) on the deterministic tier: three nodes on an in-memory
// network, one manual clock, an in-thread portion host whose `tally` adds `votes` to its count.
// One instance cluster-wide (a registry claim), reached by sessions on every node through their
// own session's view; retried and forwarded requests count once; the owner's death re-places it
// from its checkpoint with nothing acknowledged lost; a replica forwards to the one writer.
import test from 'ava';
import { ManualClock, SessionOps, checkOpenReply, type Envelope, type OpenReply } from '../../runtime/index.ts';
import { MemoryCheckpoints, appWideInstanceId, decodeCheckpoint, type SharedCheckpoints } from '../../headend/portions/shared-app.ts';
import { appWideTag } from '../../headend/portions/shared-versions.ts';
import { signedApp, type ModuleSpec } from '../_helpers/apps.ts';
import { memoryNode, memoryRegistry, type MemoryNode } from '../_helpers/headend.ts';
import type { FakeModule } from '../_helpers/in-thread-pool.ts';
import { MemoryNet } from '../_helpers/memory-net.ts';
import { lowEndReport as report, here, memoryBox, clockStepper } from '../_helpers/memory-tier.ts';

const INTERVAL = 1000;
const POLL: ModuleSpec[] = [
  { name: 'ui', kind: 'client', source: `weft.on('key', () => {});` },
  { name: 'ballot', kind: 'server', source: `weft.on('request', (b) => b);` },
  { name: 'tally', kind: 'server', scope: 'app', critical: { guard: 'queue' }, source: `weft.on('request', (b) => b);` },
];
const tally: FakeModule = (body, _env, state) => {
  state.n += (body as { votes?: number } | undefined)?.votes ?? 0;
  return { total: state.n };
};

async function cluster(checkpoints: SharedCheckpoints = new MemoryCheckpoints()) {
  const { pub, trusted } = await signedApp('poll', POLL);
  const clock = new ManualClock();
  const net = new MemoryNet();
  const registry = memoryRegistry(clock);
  const nodes: MemoryNode[] = [];
  for (const id of ['n1', 'n2', 'n3']) {
    nodes.push(await memoryNode({ id, net, clock, registry, apps: [pub], trusted, intervalMs: INTERVAL, policy: here(id), modules: { tally }, appWide: { checkpoints } }));
  }
  for (const n of nodes) await n.refreshPeers();
  const raw: Envelope[] = [];
  const { box, transport: boxT } = memoryBox(net, clock, { tap: (e) => void raw.push(e) });
  const advance = clockStepper(clock, INTERVAL);
  const open = async (n: MemoryNode, boxId: string): Promise<OpenReply> =>
    checkOpenReply(await box.request({ vaddr: `weft://headend/${n.id}/sessions`, udp: n.udpAddress }, { app: 'poll', version: '1.0.0', boxId, report: report(boxId) }, { op: SessionOps.open }));
  const close = async (): Promise<void> => {
    for (const n of nodes) await n.close();
    await boxT.close();
    await registry.close();
  };
  return { pub, clock, net, registry, checkpoints: checkpoints as MemoryCheckpoints, nodes: nodes as [MemoryNode, MemoryNode, MemoryNode], box, boxT, raw, advance, open, close };
}

type C = Awaited<ReturnType<typeof cluster>>;
const wideInstances = (c: C): string[] => c.nodes.flatMap((n) => [...n.pool.instances.values()].filter((p) => p.session === '*').map(() => n.id));
const view = (s: OpenReply): string => `weft://poll/${s.session}/tally`;
const vote = async (c: C, n: MemoryNode, s: OpenReply, body: Record<string, unknown>): Promise<number> =>
  ((await c.box.request({ vaddr: view(s), udp: n.udpAddress }, body)) as { total: number }).total;

test('one app-wide instance in the cluster, reached by sessions on every node through their own session [issue 16]', async (t) => {
  const c = await cluster();
  try {
    await c.advance(2 * INTERVAL);
    const sessions = [];
    for (const n of c.nodes) sessions.push(await c.open(n, `b-${n.id}`));
    t.deepEqual(sessions.map((s) => s.node), ['n1', 'n2', 'n3'], 'each session runs its own ballot where it was opened');
    t.false(sessions[0]?.modules.some((m) => m.module === 'tally'), 'the app-wide module is no session\'s');
    t.deepEqual(wideInstances(c), ['n1'], 'the first claim won; the others found a live owner');
    t.is((await c.registry.lookup('weft://poll/*/tally'))?.node, 'n1');
    let total = 0;
    for (const [i, s] of sessions.entries()) {
      const n = c.nodes[(i + 1) % 3] as MemoryNode; // enter anywhere
      total = await vote(c, n, s, { votes: 2 });
    }
    t.is(total, 6, 'every session counted into the one instance');
    t.is(await vote(c, c.nodes[2], sessions[2] as OpenReply, { votes: 0 }), 6);
  } finally {
    await c.close();
  }
});

test('a duplicate request (same envelope, or the same body rid retried) counts once and gets the first reply', async (t) => {
  const c = await cluster();
  const [n1, n2] = c.nodes;
  try {
    await c.advance(2 * INTERVAL);
    const s = await c.open(n2, 'b-dup');
    // The same envelope twice (a replay after a reconnect, a forward that raced its original).
    const env: Envelope = { v: 1, kind: 'req', id: 4242, src: { vaddr: 'weft://box/b/raw', udp: c.boxT.address.udp }, dst: { vaddr: view(s), udp: n2.udpAddress }, deadline: c.clock.now() + 5000, body: { votes: 3 } };
    await c.boxT.send(env);
    await c.advance(10);
    await c.boxT.send({ ...env, dst: { vaddr: view(s), udp: n1.udpAddress } });
    await c.advance(10);
    const replies = c.raw.filter((e) => e.corr === 4242);
    t.is(replies.length, 2);
    t.deepEqual(replies.map((r) => r.body), [{ total: 3 }, { total: 3 }]);
    // A module retrying with a new envelope but the same rid.
    t.is(await vote(c, n1, s, { votes: 5, rid: 'vote-1' }), 8);
    t.is(await vote(c, n2, s, { votes: 5, rid: 'vote-1' }), 8, 'the retry is answered, not counted');
    t.is(await vote(c, n2, s, { votes: 0 }), 8);
    const writer = c.nodes.find((n) => n.appWide.writerIid('poll') !== undefined);
    t.is(writer?.id, 'n2', 'the first session opened claimed it');
    t.is(writer?.appWide.window('poll')?.stats.answered, 2, 'one duplicate of each kind answered from the window');
  } finally {
    await c.close();
  }
});

test('the owner dies: another node claims the instance and restores its checkpoint; nothing acknowledged is lost or counted twice', async (t) => {
  const c = await cluster();
  const [n1, n2, n3] = c.nodes;
  try {
    await c.advance(2 * INTERVAL);
    const s = await c.open(n1, 'b-fail'); // n1 claims the app-wide instance
    let total = 0;
    for (let i = 1; i <= 5; i++) total = await vote(c, n2, s, { votes: 1, rid: `v${i}` });
    t.is(total, 5);
    const cp = decodeCheckpoint(c.checkpoints.saved.get(appWideInstanceId('poll', appWideTag(c.pub.manifest))) as Uint8Array);
    t.deepEqual([...(cp?.states.tally ?? [])], [5], 'every acknowledged vote is in the checkpoint');
    // n1 (the owner) dies without a word.
    c.net.cut(n1.udpAddress);
    n1.statistics.stop();
    n1.timing.stop();
    for (let i = 0; i < 20 && (n2.timing.isAlive('n1') !== false || n3.timing.isAlive('n1') !== false); i++) await c.advance(INTERVAL / 2);
    await c.advance(INTERVAL);
    const owner = (await c.registry.lookup('weft://poll/*/tally'))?.node;
    t.true(owner === 'n2' || owner === 'n3', `re-placed on ${owner}`);
    t.deepEqual(wideInstances(c), [owner as string], 'one claim won, and n1 stopped its own instance when the claim moved');
    t.is(n1.appWide.counters.demoted, 1, 'fenced: n1 heard in the registry that its claim was taken');
    const counted = n2.appWide.counters.restored + n3.appWide.counters.restored;
    t.is(counted, 1, 'restored from its checkpoint');
    // The box never got the answer to v5 (say): its retry is answered from the restored window.
    t.is(await vote(c, n3, s, { votes: 1, rid: 'v5' }), 5);
    t.is(await vote(c, n3, s, { votes: 1, rid: 'v6' }), 6);
    // n1 was only partitioned: back, it is no writer any more; what reaches it goes to the owner.
    c.net.heal(n1.udpAddress);
    t.is(n1.appWide.writerIid('poll'), undefined);
    t.is(await vote(c, n1, s, { votes: 1, rid: 'v7' }), 7);
  } finally {
    await c.close();
  }
});

test('a replica of the app-wide instance forwards to the one writer: its requests count once, in one state', async (t) => {
  const c = await cluster();
  const [n1, , n3] = c.nodes;
  try {
    await c.advance(2 * INTERVAL);
    const s = await c.open(n1, 'b-rep');
    t.is(await vote(c, n1, s, { votes: 1 }), 1);
    const pending = n1.replicas.spawnOn('weft://poll/*/tally', 'n3');
    await c.advance(100);
    const spawned = await pending;
    t.true(spawned.ok, spawned.ok ? '' : spawned.error.message);
    t.true(n3.table.hosted.has('weft://poll/*/tally'), 'n3 serves the one address too');
    // Requests that reach the replica (a share routed there, or sent straight) go on to the writer.
    for (let i = 0; i < 4; i++) t.is(((await c.box.request({ vaddr: 'weft://poll/*/tally', udp: n3.udpAddress }, { votes: 1 })) as { total: number }).total, 2 + i);
    t.is(n3.appWide.counters.forwarded, 4);
    t.is(await vote(c, n1, s, { votes: 0 }), 5, 'one state: the writer\'s');
    const env: Envelope = { v: 1, kind: 'req', id: 777, src: { vaddr: 'weft://box/b/raw', udp: c.boxT.address.udp }, dst: { vaddr: 'weft://poll/*/tally', udp: n3.udpAddress }, deadline: c.clock.now() + 5000, body: { votes: 10 } };
    await c.boxT.send(env);
    await c.advance(10);
    await c.boxT.send({ ...env, dst: { vaddr: 'weft://poll/*/tally', udp: n1.udpAddress } });
    await c.advance(10);
    t.deepEqual(c.raw.filter((e) => e.corr === 777).map((e) => e.body), [{ total: 15 }, { total: 15 }], 'forwarded and direct copies count once');
  } finally {
    await c.close();
  }
});

test('a checkpoint that never finishes holds replies back 5 s at most, then they go and the failure is counted', async (t) => {
  const stuck: SharedCheckpoints = { save: () => new Promise(() => {}), load: () => Promise.resolve(undefined) };
  const c = await cluster(stuck);
  const [n1] = c.nodes;
  try {
    await c.advance(2 * INTERVAL);
    const s = await c.open(n1, 'b-stuck');
    let answered: number | undefined;
    const p = vote(c, n1, s, { votes: 2 }).then((n) => (answered = n));
    await c.advance(4000);
    t.is(answered, undefined, 'held while the checkpoint runs');
    await c.advance(1500);
    await p;
    t.is(answered, 2);
    t.is(n1.appWide.counters.checkpointFailures, 1);
  } finally {
    await c.close();
  }
});
