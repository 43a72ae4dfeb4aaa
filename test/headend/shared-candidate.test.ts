// A candidate's app-wide instance while it is a candidate (issue 15 leftover, DECISIONS D102): a
// wave can be most of the fleet, so its instance grows replicas of its own code from its own load,
// in an elastic group keyed by its tagged address (threads: none, it is the one writer, D105);
// committed, that group ends as the instance takes the untagged one (one group and one set of
// replicas, not two); halted, it ends with the instance and its replicas stop. Deterministic tier:
// two nodes, one manual clock.
import test from 'ava';
import type { WorkerController } from '../../policy/index.ts';
import { appWideTag } from '../../headend/portions/shared-versions.ts';
import { decodeManifest } from '../../runtime/app/index.ts';
import { ReplicaOps } from '../../headend/portions/replicas.ts';
import type { MemoryNode } from '../_helpers/headend.ts';
import { GROUP, INTERVAL, cluster, settle } from '../_helpers/app-wide-cluster.ts';

/** A controller that wants a second thread once its group has finished requests (the group's own measured load); D105 keeps an app-wide group on one. */
const afterLoad = (): WorkerController => {
  let done = 0;
  return {
    name: 'after-load',
    observe: () => {},
    completed: (_at, n = 1) => void (done += n),
    decide: (_now, p) => {
      const want = done > 0 ? 2 : 1;
      return { action: want > p.workers ? 'add' : 'keep', workers: want, reason: `${done} done` };
    },
  };
};

async function rig() {
  const c = await cluster(false, undefined, undefined, { controller: afterLoad, tickMs: 50 });
  const tagged = `weft://poll/*/tally/${appWideTag(c.v101.manifest)}`;
  const replicaGroups = (n: MemoryNode): string[] => n.elastic.groups().filter((g) => g.role === 'replica').map((g) => g.vaddr);
  /** A box on the live 1.0.0 at n1 and one on the candidate at n2, each having voted; their tallies. */
  const both = async (oldVotes = 1, candVotes = 1) => {
    const [n1, n2] = c.nodes;
    const old = await c.open(n1, 'b-old', '1.0.0');
    const oldTally = await c.vote(n1, old, oldVotes);
    const cand = await c.open(n2, 'b-new', '1.0.1');
    return { old, cand, oldTally, candTally: await c.vote(n2, cand, candVotes) };
  };
  return { ...c, tagged, replicaGroups, both };
}

test('a candidate\'s app-wide instance leads a group of its own tagged address and stays on its writer\'s thread, whatever its controller asks (D105)', async (t) => {
  const c = await rig();
  const [n1, n2] = c.nodes;
  try {
    const cand = await c.open(n2, 'b-new', '1.0.1');
    t.deepEqual(await c.vote(n2, cand, 1), { total: 1, version: '1.0.1' });
    const g0 = n2.elastic.group(c.tagged);
    const writer = n2.appWide.writerIid('poll', '1.0.1') as string;
    t.is(g0?.members[0], writer, 'the candidate\'s instance leads a group keyed by its tagged address');
    t.is(g0?.role, 'primary');
    t.true(g0?.oneWriter, 'an app-wide module\'s group');
    await c.advance(200);
    t.deepEqual(await c.vote(n2, cand, 2), { total: 3, version: '1.0.1' });
    await c.advance(200);
    const g = n2.elastic.group(c.tagged);
    t.is(g?.members.length, 1, 'no thread was added: every request goes to the one writer, so a second thread would serve none');
    t.regex(g?.last?.reason ?? '', /^one writer \(\d+ done\)$/, 'the controller asked for two; the group kept one, and says why');
    t.deepEqual(c.wide(), ['n2:1.0.1']);
    t.is(n2.table.hosted.get(GROUP), undefined, 'the candidate does not answer the untagged (live) address');
    t.is(n1.elastic.group(GROUP), undefined, 'no live group was started for it');
    // An instance spawned beside it (what a shared portion's controller does) runs the candidate's code, not the live one.
    const spawned = await n2.elastic.spawnInstance(writer);
    if (!spawned.ok) return t.fail(spawned.error.message);
    t.deepEqual(c.wide(), ['n2:1.0.1', 'n2:1.0.1']);
    t.deepEqual(await c.vote(n2, cand, 1), { total: 4, version: '1.0.1' }, 'one writer: the count goes on');
    t.is(n2.appWide.counters.candidateLed, 1);
  } finally {
    await c.close();
  }
});

test('a replica of the candidate\'s instance runs the candidate\'s code on another node and forwards to its writer; it never answers the live address there', async (t) => {
  const c = await rig();
  const [n1, n2] = c.nodes;
  try {
    const { oldTally, candTally } = await c.both(5, 1);
    t.deepEqual([oldTally, candTally], [{ total: 5, version: '1.0.0' }, { total: 1, version: '1.0.1' }]);
    const pending = n2.replicas.spawnOn(c.tagged, 'n1');
    await c.advance(100);
    const spawned = await pending;
    if (!spawned.ok) return t.fail(spawned.error.message);
    t.deepEqual(c.replicaGroups(n1), [c.tagged], 'n1 runs a replica of the candidate beside the live writer\'s group');
    t.deepEqual(await c.box.request({ vaddr: spawned.value, udp: n1.udpAddress }, { votes: 1 }), { total: 2, version: '1.0.1' }, 'the replica forwards to the candidate\'s writer');
    t.deepEqual(await c.box.request({ vaddr: c.tagged, udp: n1.udpAddress }, { votes: 1 }), { total: 3, version: '1.0.1' }, 'the tagged address entering at n1 too');
    t.true(n1.appWide.counters.forwarded >= 1);
    const replica = n1.elastic.group(c.tagged)?.members[0] as string;
    t.is(decodeManifest(n1.pool.instances.get(replica)?.manifest ?? new Uint8Array()).version, '1.0.1', 'the replica runs the candidate\'s code');
    t.false(n1.table.hosted.get(GROUP)?.iids.includes(replica), 'at n1 the untagged address never reaches the candidate\'s replica');
    t.deepEqual(await c.box.request({ vaddr: GROUP, udp: n1.udpAddress }, { votes: 1 }), { total: 6, version: '1.0.0' });
    t.is(n1.replicas.counters.taggedStarted, 1);
  } finally {
    await c.close();
  }
});

test('committed: the candidate\'s own group ends as its instance takes the untagged one; one group and one set of replicas, none leaked', async (t) => {
  const c = await rig();
  const [n1, n2] = c.nodes;
  try {
    const { cand } = await c.both();
    await c.advance(200);
    t.is(n2.elastic.group(c.tagged)?.members.length, 1, 'before: the candidate runs on its writer\'s thread (D105)');
    const pending = n2.replicas.spawnOn(c.tagged, 'n1');
    await c.advance(100);
    t.true((await pending).ok, 'and has a replica on n1');
    c.promote(c.v101);
    await settle(c, () => n2.elastic.group(GROUP) !== undefined && n2.replicas.counters.endedWithGroup === 1 && c.replicaGroups(n1).length === 0);
    t.is(n2.elastic.group(c.tagged), undefined, 'the candidate\'s own group ended');
    t.is(n2.elastic.group(GROUP)?.members[0], n2.appWide.writerIid('poll'), 'its instance leads the untagged group');
    t.is(n2.replicas.counters.endedWithGroup, 1, 'its replica was stopped with its group');
    t.deepEqual(c.replicaGroups(n1), [], 'no replica of it is left on n1');
    t.is(n2.appWide.counters.candidateMerged, 1);
    await c.vote(n2, cand, 1);
    await c.advance(200);
    t.deepEqual(n2.elastic.groups().map((g) => g.vaddr), [GROUP], 'one group on n2, not two');
    t.is(n2.elastic.group(GROUP)?.members.length, 1, 'the live group stays on its writer\'s thread (D105)');
    t.deepEqual(c.wide().filter((w) => w.startsWith('n2')), ['n2:1.0.1'], 'one instance of 1.0.1 on n2 in all');
    t.deepEqual(await c.vote(n2, cand, 1), { total: 3, version: '1.0.1' });
    t.deepEqual(await c.box.request({ vaddr: GROUP, udp: n1.udpAddress }, { votes: 1 }), { total: 4, version: '1.0.1' }, 'the untagged address reaches the new live code');
  } finally {
    await c.close();
  }
});

test('halted: the candidate\'s sessions go back to the live version; its instance retires, its group ends and its replica stops', async (t) => {
  const c = await rig();
  const [n1, n2] = c.nodes;
  try {
    const { cand } = await c.both();
    await c.advance(200);
    const pending = n2.replicas.spawnOn(c.tagged, 'n1');
    await c.advance(100);
    t.true((await pending).ok);
    t.deepEqual(c.wide().filter((w) => w.endsWith('1.0.1')), ['n1:1.0.1', 'n2:1.0.1'], 'before: its writer and a replica');
    const back = await c.open(n2, 'b-new', '1.0.0', cand.session);
    t.deepEqual(await c.vote(n2, back, 1), { total: 2, version: '1.0.0' });
    await c.advance(3 * INTERVAL);
    t.is(n2.appWide.counters.retired, 1);
    t.is(n2.elastic.group(c.tagged), undefined, 'its group ended');
    t.is(n2.replicas.counters.endedWithGroup, 1, 'its replica was stopped');
    t.deepEqual(c.replicaGroups(n1), []);
    t.deepEqual(c.wide().filter((w) => w.endsWith('1.0.1')), [], 'no thread or replica of 1.0.1 is left');
  } finally {
    await c.close();
  }
});

test('a replica start whose tag is not its version\'s app-wide code is refused and counted; nothing starts', async (t) => {
  const c = await rig();
  const [n1] = c.nodes;
  const start = (body: unknown): Promise<unknown> => n1.replicas.control({ v: 1, kind: 'req', id: 1, op: ReplicaOps.start, src: { vaddr: 'weft://headend/n2/control' }, dst: { vaddr: 'weft://headend/n1/control' }, body });
  try {
    const wrong = appWideTag(c.v100.manifest); // 1.0.0's code, named for 1.0.1
    await t.throwsAsync(start({ app: 'poll', modules: ['tally'], instance: `${wrong}.2`, version: '1.0.1', tag: wrong }), { message: /is not c/ });
    await t.throwsAsync(start({ app: 'poll', modules: ['tally'], instance: 'x.2', version: '1.0.1', tag: '../tally' }), { message: /must be/ });
    t.is(n1.replicas.counters.tagRefused, 1);
    t.deepEqual(c.replicaGroups(n1), []);
    t.deepEqual(c.wide(), [], 'no instance was started');
  } finally {
    await c.close();
  }
});

test('the candidate\'s node dies: the survivor that held its replica re-claims it and leads its group; the replica of the dead primary is stopped', async (t) => {
  const c = await rig();
  const [n1, n2] = c.nodes;
  try {
    const { cand, candTally } = await c.both(1, 2);
    t.deepEqual(candTally, { total: 2, version: '1.0.1' });
    const pending = n2.replicas.spawnOn(c.tagged, 'n1');
    await c.advance(100);
    t.true((await pending).ok);
    t.deepEqual(c.replicaGroups(n1), [c.tagged]);
    c.net.cut(n2.udpAddress);
    n2.statistics.stop();
    n2.timing.stop();
    for (let i = 0; i < 20 && n1.timing.isAlive('n2') !== false; i++) await c.advance(INTERVAL / 2);
    await c.advance(INTERVAL);
    t.is((await c.registry.lookup(c.tagged))?.node, 'n1', 're-claimed by the survivor');
    const g = n1.elastic.group(c.tagged);
    t.is(g?.role, 'primary', 'the survivor\'s writer leads the candidate\'s group');
    t.is(g?.members[0], n1.appWide.writerIid('poll', '1.0.1'));
    t.deepEqual(c.replicaGroups(n1), [], 'the dead primary\'s replica is gone');
    t.is(n1.appWide.counters.replicaDropped, 1);
    t.deepEqual(await c.vote(n1, cand, 1), { total: 3, version: '1.0.1' }, 'the candidate goes on from its checkpoint');
  } finally {
    await c.close();
  }
});

test('the live code and a candidate on one node each have their own critical section, reported at their group\'s address; at the commit the reports follow the groups (D105)', async (t) => {
  const c = await rig();
  const [n1] = c.nodes;
  const oldTagged = `weft://poll/*/tally/${appWideTag(c.v100.manifest)}`;
  const stats = (): Record<string, number> => Object.fromEntries(n1.elastic.portionStats().map((p) => [p.vaddr, p.workers]));
  const served = (vaddr: string): number => n1.elastic.portionStats().find((p) => p.vaddr === vaddr)?.served ?? -1;
  try {
    const old = await c.open(n1, 'b-old', '1.0.0');
    const cand = await c.open(n1, 'b-new', '1.0.1');
    await c.vote(n1, old, 1);
    await c.vote(n1, cand, 1);
    await c.vote(n1, cand, 1);
    t.deepEqual(c.wide(), ['n1:1.0.0', 'n1:1.0.1'], 'both codes\' writers run on n1');
    t.deepEqual(stats(), { [GROUP]: 1, [c.tagged]: 1 }, 'two sections, one instance each: the candidate never queues behind the live writer');
    t.deepEqual([served(GROUP), served(c.tagged)], [1, 2], 'each section counts its own code\'s requests');
    c.promote(c.v101);
    await settle(c, () => n1.elastic.group(GROUP)?.members[0] === n1.appWide.writerIid('poll', '1.0.1'));
    t.deepEqual(stats(), { [GROUP]: 1, [oldTagged]: 1 }, 'the new live code reports at the untagged address, the old one (serving its pinned session) at its tagged one');
    t.deepEqual([served(GROUP), served(oldTagged)], [2, 1], 'each section kept its own count');
    t.deepEqual(await c.vote(n1, old, 1), { total: 2, version: '1.0.0' });
  } finally {
    await c.close();
  }
});
