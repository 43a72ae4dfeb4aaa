// App-wide modules across versions (issue 15.6, scope: app): during a rollout each version's
// app-wide code runs its own instance, chosen on the head-end from the session's pinned version;
// a session that switches reaches the new version's instance; an instance no session pins any
// more stops; checkpoints are kept per code, so one version's state never restores into the
// other's code. Deterministic tier: two nodes, one manual clock, an in-thread portion host.
import test from 'ava';
import type { WorkerController } from '../../policy/index.ts';
import { decodeCheckpoint, encodeCheckpoint } from '../../headend/portions/shared-app.ts';
import { appWideInstanceId } from '../../headend/portions/shared-parts.ts';
import { appWideTag } from '../../headend/portions/shared-versions.ts';
import { signedApp } from '../_helpers/apps.ts';
import { poll } from '../_helpers/poll-app.ts';
import { GROUP, INTERVAL, cluster, settle } from '../_helpers/app-wide-cluster.ts';
import { CatalogSync } from '../../headend/releases/catalog-sync.ts';
import { MemoryReleaseStore, Releases } from '../../headend/releases/index.ts';
import { trustedKeyFromJson } from '../../runtime/app/index.ts';

test('two versions live at once: sessions on 1.0.0 reach the 1.0.0 instance, sessions on 1.0.1 the 1.0.1 one, from either node', async (t) => {
  const c = await cluster();
  const [n1, n2] = c.nodes;
  try {
    const old = await c.open(n1, 'b-old', '1.0.0');
    const cand = await c.open(n2, 'b-new', '1.0.1');
    t.deepEqual(await c.vote(n1, old, 2), { total: 2, version: '1.0.0' });
    t.deepEqual(await c.vote(n2, cand, 5), { total: 5, version: '1.0.1' }, 'the candidate counts in its own instance');
    // A box's request may enter at a node that does not host its session.
    t.deepEqual(await c.vote(n2, old, 1), { total: 3, version: '1.0.0' });
    t.deepEqual(await c.vote(n1, cand, 1), { total: 6, version: '1.0.1' });
    t.deepEqual(c.wide(), ['n1:1.0.0', 'n2:1.0.1'], 'one instance per version in the cluster');
    // The live version keeps the address existing apps and operators use.
    t.is((await c.registry.lookup('weft://poll/*/tally'))?.node, 'n1');
    t.is((await c.registry.lookup(`weft://poll/*/tally/${appWideTag(c.v101.manifest)}`))?.node, 'n2', 'the candidate is claimed under its own tag: one owner per version');
  } finally {
    await c.close();
  }
});

test('a session that switches version moves to the new version\'s instance; the old one stops when no session is pinned to it after the promotion', async (t) => {
  const c = await cluster();
  const [n1, n2] = c.nodes;
  try {
    const a = await c.open(n1, 'b-a', '1.0.0');
    const b = await c.open(n2, 'b-b', '1.0.0');
    t.deepEqual(await c.vote(n1, a, 4), { total: 4, version: '1.0.0' });
    const a2 = await c.open(n1, 'b-a', '1.0.1', a.session);
    t.is(a2.session, a.session, 'the same session, switched');
    t.deepEqual(await c.vote(n1, a2, 1), { total: 1, version: '1.0.1' }, 'its votes now go to the 1.0.1 instance');
    t.deepEqual(await c.vote(n2, b, 1), { total: 5, version: '1.0.0' }, 'b is still on 1.0.0');
    c.promote(c.v101);
    const b2 = await c.open(n2, 'b-b', '1.0.1', b.session);
    t.deepEqual(await c.vote(n2, b2, 1), { total: 2, version: '1.0.1' });
    await c.advance(3 * INTERVAL);
    t.deepEqual(c.wide(), ['n1:1.0.1'], 'the 1.0.0 instance stopped: no session is pinned to it');
    t.is(n1.appWide.counters.retired, 1);
    t.is((await c.registry.lookup('weft://poll/*/tally'))?.queue, n1.appWide.writerIid('poll'), 'the new live code\'s instance took the untagged address');
    const kept = decodeCheckpoint(c.checkpoints.saved.get(appWideInstanceId('poll', appWideTag(c.v100.manifest))) as Uint8Array);
    t.deepEqual([...(kept?.states.tally ?? [])], [5], 'its checkpoint is kept, under its own version');
  } finally {
    await c.close();
  }
});

test('after a rollback the candidate\'s instance stops; started again, it restores its own checkpoint, never the other version\'s', async (t) => {
  const c = await cluster();
  const [n1, n2] = c.nodes;
  try {
    const live = await c.open(n1, 'b-live', '1.0.0');
    t.deepEqual(await c.vote(n1, live, 7), { total: 7, version: '1.0.0' });
    const cand = await c.open(n2, 'b-cand', '1.0.1');
    t.deepEqual(await c.vote(n2, cand, 3), { total: 3, version: '1.0.1' });
    // Rolled back: the box returns to 1.0.0.
    const back = await c.open(n2, 'b-cand', '1.0.0', cand.session);
    t.deepEqual(await c.vote(n2, back, 1), { total: 8, version: '1.0.0' });
    await c.advance(3 * INTERVAL);
    t.deepEqual(c.wide(), ['n1:1.0.0'], 'the candidate\'s instance stopped');
    t.is(n2.appWide.counters.retired, 1);
    // Rolled out again: its instance starts from its own state (3), not from 1.0.0's (8).
    const again = await c.open(n2, 'b-cand', '1.0.1', back.session);
    t.deepEqual(await c.vote(n2, again, 1), { total: 4, version: '1.0.1' });
  } finally {
    await c.close();
  }
});

test('the node of the candidate\'s instance dies: a survivor restores the candidate from the candidate\'s checkpoint', async (t) => {
  const c = await cluster();
  const [n1, n2] = c.nodes;
  try {
    const live = await c.open(n1, 'b-live', '1.0.0');
    await c.vote(n1, live, 9);
    const cand = await c.open(n2, 'b-cand', '1.0.1');
    t.deepEqual(await c.vote(n2, cand, 2), { total: 2, version: '1.0.1' });
    c.net.cut(n2.udpAddress);
    n2.statistics.stop();
    n2.timing.stop();
    for (let i = 0; i < 20 && n1.timing.isAlive('n2') !== false; i++) await c.advance(INTERVAL / 2);
    await c.advance(INTERVAL);
    t.is((await c.registry.lookup(`weft://poll/*/tally/${appWideTag(c.v101.manifest)}`))?.node, 'n1', 're-claimed by the survivor');
    t.deepEqual(c.wide().filter((w) => w.startsWith('n1')), ['n1:1.0.0', 'n1:1.0.1']);
    t.deepEqual(await c.vote(n1, live, 0), { total: 9, version: '1.0.0' });
    t.deepEqual(await c.vote(n1, cand, 1), { total: 3, version: '1.0.1' }, 'the candidate\'s session, re-placed, goes on from the candidate\'s state');
  } finally {
    await c.close();
  }
});

test('versions whose app-wide code is byte for byte the same share one instance and its state', async (t) => {
  const c = await cluster(true);
  const [n1, n2] = c.nodes;
  try {
    const old = await c.open(n1, 'b-old', '1.0.0');
    const cand = await c.open(n2, 'b-new', '1.0.1');
    t.is((await c.vote(n1, old, 2)).total, 2);
    t.is((await c.vote(n2, cand, 3)).total, 5, 'one state across the two versions');
    t.is(c.wide().length, 1);
  } finally {
    await c.close();
  }
});

test('a checkpoint from before versions (untagged) is read by the live code\'s instance only, never by a candidate\'s', async (t) => {
  const c = await cluster(false, (cp) => cp.saved.set(appWideInstanceId('poll'), encodeCheckpoint('poll', { tally: Uint8Array.of(40) }, [])));
  const [n1, n2] = c.nodes;
  try {
    const cand = await c.open(n2, 'b-new', '1.0.1');
    t.deepEqual(await c.vote(n2, cand, 1), { total: 1, version: '1.0.1' }, 'the candidate starts from nothing');
    const live = await c.open(n1, 'b-old', '1.0.0');
    t.deepEqual(await c.vote(n1, live, 1), { total: 41, version: '1.0.0' }, 'the live code goes on from the old checkpoint');
    t.truthy(c.checkpoints.saved.get(appWideInstanceId('poll', appWideTag(c.v100.manifest))), 'and writes its own from then on');
  } finally {
    await c.close();
  }
});

test('promoted when every session already runs the candidate: the old live instance stops after the next request, and nothing is lost', async (t) => {
  const c = await cluster();
  const [n1] = c.nodes;
  try {
    const a = await c.open(n1, 'b-a', '1.0.0');
    t.deepEqual(await c.vote(n1, a, 2), { total: 2, version: '1.0.0' });
    const a2 = await c.open(n1, 'b-a', '1.0.1', a.session);
    t.deepEqual(await c.vote(n1, a2, 1), { total: 1, version: '1.0.1' });
    await c.advance(3 * INTERVAL);
    t.deepEqual(c.wide(), ['n1:1.0.0', 'n1:1.0.1'], 'the live version\'s instance runs on while it is live, pinned or not');
    c.promote(c.v101); // no session changes: every one is on 1.0.1 already
    t.deepEqual(await c.vote(n1, a2, 1), { total: 2, version: '1.0.1' });
    await c.advance(3 * INTERVAL);
    t.deepEqual(c.wide(), ['n1:1.0.1']);
    t.is(n1.appWide.counters.retired, 1);
  } finally {
    await c.close();
  }
});

test('a node that hears of a switch late still routes the session\'s next request to the new version: it reads the session\'s record, not a memory of it', async (t) => {
  const c = await cluster(false, undefined, 'n2');
  const [n1, n2] = c.nodes;
  try {
    const s = await c.open(n1, 'b-a', '1.0.0');
    t.deepEqual(await c.vote(n2, s, 1), { total: 1, version: '1.0.0' }, 'entered at n2, which does not host the session');
    const s2 = await c.open(n1, 'b-a', '1.0.1', s.session);
    t.deepEqual(await c.vote(n2, s2, 1), { total: 1, version: '1.0.1' }, 'the switch was answered after its record was written: n2 reads it');
  } finally {
    await c.close();
  }
});

test('a request for a version this node does not serve is not routed to another version: counted, the sender told to retry', async (t) => {
  const c = await cluster();
  const [n1, n2] = c.nodes;
  const v102 = (await signedApp('poll', poll(`weft.on('request', (b) => b);\n// 1.0.2`), '1.0.2')).pub;
  n1.catalog.add(v102, { current: false }); // n2 has not synced it yet
  try {
    const s = await c.open(n1, 'b-new', '1.0.2');
    await t.throwsAsync(c.vote(n2, s, 1));
    t.is(n2.appWide.counters.unserved, 1);
    t.deepEqual(await c.vote(n1, s, 1), { total: 1, version: '1.0.2' }, 'its host serves it');
  } finally {
    await c.close();
  }
});

test('a candidate\'s app-wide instance promoted to live leads the elastic group (threads, replicas) at once; the old live one leaves it', async (t) => {
  const c = await cluster();
  const [n1, n2] = c.nodes;
  try {
    const old = await c.open(n1, 'b-old', '1.0.0');
    t.deepEqual(await c.vote(n1, old, 2), { total: 2, version: '1.0.0' });
    const cand = await c.open(n2, 'b-new', '1.0.1');
    t.deepEqual(await c.vote(n2, cand, 3), { total: 3, version: '1.0.1' });
    t.is(n1.elastic.group(GROUP)?.members[0], n1.appWide.writerIid('poll'), 'before: the live code\'s instance leads the group');
    t.is(n2.elastic.group(GROUP), undefined, 'the candidate\'s instance is outside it');
    const oldReplica = n1.replicas.spawnOn(GROUP, 'n2'); // the old live code grew a replica on n2
    await c.advance(100);
    t.true((await oldReplica).ok);
    c.promote(c.v101); // the rollout committed: 1.0.1 is live on every node
    await settle(c, () => n2.elastic.group(GROUP)?.role === 'primary' && n1.elastic.group(GROUP) === undefined && n1.replicas.counters.endedWithGroup === 1);
    const g = n2.elastic.group(GROUP);
    t.is(g?.role, 'primary');
    t.is(g?.members[0], n2.appWide.writerIid('poll'), 'the new live code\'s instance leads the group, without a restart');
    t.is(n1.elastic.group(GROUP), undefined, 'the old live code\'s instance left it');
    t.is(n1.table.hosted.get(GROUP), undefined, 'and answers no more at the untagged address');
    t.is(n1.replicas.counters.endedWithGroup, 1, 'the old live code\'s replica on n2 was stopped');
    t.deepEqual(n2.table.hosted.get(GROUP)?.iids, [n2.appWide.writerIid('poll')], 'on n2 the untagged address reaches the new live instance only');
    t.is((await c.registry.lookup(GROUP))?.queue, n2.appWide.writerIid('poll'), 'the untagged address names the new live instance');
    t.is(n2.appWide.counters.liveJoined, 1);
    t.is(n1.appWide.counters.liveLeft, 1);
    // Load on it can grow a replica as the live one's could: requests through the untagged address
    // reach the new live code and its replica, which forwards to the one writer.
    const pending = n2.replicas.spawnOn(GROUP, 'n1');
    await c.advance(100);
    const spawned = await pending;
    t.true(spawned.ok, spawned.ok ? '' : spawned.error.message);
    for (const n of [n1, n2]) t.deepEqual(await c.box.request({ vaddr: GROUP, udp: n.udpAddress }, { votes: 1 }), { total: n === n1 ? 4 : 5, version: '1.0.1' });
    // The one sent to n1 reaches its replica (n2's share of the other may send it there too).
    t.true(n1.appWide.counters.forwarded >= 1, 'the replica on n1 forwarded to the writer');
    t.deepEqual(await c.vote(n2, cand, 1), { total: 6, version: '1.0.1' });
    t.deepEqual(await c.vote(n1, old, 1), { total: 3, version: '1.0.0' }, 'the old code still serves its pinned session, by its tagged address');
  } finally {
    await c.close();
  }
});

test('a commit made through another head-end, then a rollback, learnt by the catalog sync: the live code\'s instance leads the group each time', async (t) => {
  const c = await cluster();
  const [n1, n2] = c.nodes;
  // The release store the cluster shares; each node's catalog follows it by its own sync.
  const store = new MemoryReleaseStore();
  const keys = await Promise.all(c.trusted.map((j) => trustedKeyFromJson(j)));
  const releases = new Releases({ store, trusted: () => keys, now: () => c.clock.now() });
  const syncs = c.nodes.map((n) => new CatalogSync({ catalog: n.catalog, store }));
  const syncAll = async (): Promise<void> => {
    for (const s of syncs) await s.sync();
    await c.advance(100);
  };
  try {
    for (const v of [c.v100, c.v101]) t.true((await releases.publish({ manifestBytes: v.manifestBytes, signature: v.signature, sources: v.sources }, 'operator')).ok);
    t.true((await releases.promote('poll', '1.0.0', { now: true })).ok);
    t.true((await releases.promote('poll', '1.0.1')).ok, 'the candidate rolls');
    await syncAll();
    const old = await c.open(n1, 'b-old', '1.0.0');
    const cand = await c.open(n2, 'b-new', '1.0.1');
    t.deepEqual(await c.vote(n1, old, 2), { total: 2, version: '1.0.0' });
    t.deepEqual(await c.vote(n2, cand, 3), { total: 3, version: '1.0.1' });
    t.is(n1.elastic.group(GROUP)?.members[0], n1.appWide.writerIid('poll'));
    t.true((await releases.promote('poll', '1.0.1', { now: true })).ok, 'committed (no onLive hook here: the nodes learn it by their sync)');
    await syncAll();
    await settle(c, () => n2.elastic.group(GROUP) !== undefined && n1.elastic.group(GROUP) === undefined);
    t.is(n2.elastic.group(GROUP)?.members[0], n2.appWide.writerIid('poll'), 'the new live code leads the group');
    t.is(n1.elastic.group(GROUP), undefined);
    t.is((await c.registry.lookup(GROUP))?.queue, n2.appWide.writerIid('poll'));
    t.true((await releases.rollback('poll', '1.0.0')).ok, 'an older version made live again');
    await syncAll();
    await settle(c, () => n1.elastic.group(GROUP) !== undefined && n2.elastic.group(GROUP) === undefined);
    t.is(n1.elastic.group(GROUP)?.members[0], n1.appWide.writerIid('poll'), 'the old code\'s instance (its session kept it running) leads again');
    t.is(n2.elastic.group(GROUP), undefined);
    t.is((await c.registry.lookup(GROUP))?.queue, n1.appWide.writerIid('poll'));
    t.deepEqual(await c.box.request({ vaddr: GROUP, udp: n2.udpAddress }, { votes: 1 }), { total: 3, version: '1.0.0' }, 'a request through the untagged address reaches 1.0.0 again');
    t.deepEqual([n1.appWide.counters.liveJoined, n2.appWide.counters.liveJoined, n1.appWide.counters.liveFailed + n2.appWide.counters.liveFailed], [1, 1, 0]);
  } finally {
    await c.close();
  }
});

test('a replica started for the new live code runs that code, on a node that has not learnt of the commit yet', async (t) => {
  const c = await cluster();
  const [n1, n2] = c.nodes;
  try {
    const cand = await c.open(n2, 'b-new', '1.0.1');
    t.deepEqual(await c.vote(n2, cand, 3), { total: 3, version: '1.0.1' });
    n2.catalog.add(c.v101); // committed; n1 has not synced it yet (1.0.0 is live there)
    await settle(c, () => n2.elastic.group(GROUP) !== undefined);
    t.is(n2.elastic.group(GROUP)?.members[0], n2.appWide.writerIid('poll'));
    const pending = n2.replicas.spawnOn(GROUP, 'n1');
    await c.advance(100);
    const spawned = await pending;
    if (!spawned.ok) return t.fail(spawned.error.message);
    t.deepEqual(await c.box.request({ vaddr: spawned.value, udp: n1.udpAddress }, { votes: 1 }), { total: 4, version: '1.0.1' }, 'the replica runs 1.0.1 and forwards to its writer');
    t.deepEqual(c.wide(), ['n1:1.0.1', 'n2:1.0.1'], 'no instance of 1.0.0 was started for it');
  } finally {
    await c.close();
  }
});

test('neither the live nor the promoted app-wide instance grows a thread, whatever the controller asks (D105): one writer each, before and after the commit', async (t) => {
  // The controller says two threads for whatever leads a group (the decision, not the measured wait, is under test here).
  const two = (): WorkerController => ({ name: 'two', observe: () => {}, completed: () => {}, decide: (_n, p) => ({ action: p.workers < 2 ? 'add' : 'keep', workers: 2, reason: 'test' }) });
  const c = await cluster(false, undefined, undefined, { controller: two, tickMs: 50 });
  const [n1, n2] = c.nodes;
  try {
    const old = await c.open(n1, 'b-old', '1.0.0');
    const cand = await c.open(n2, 'b-new', '1.0.1');
    await c.vote(n1, old, 1);
    await c.vote(n2, cand, 1);
    await c.advance(200);
    t.is(n1.elastic.group(GROUP)?.members.length, 1, 'the live code\'s instance stays on its thread');
    t.is(n1.elastic.group(GROUP)?.last?.reason, 'one writer (test)');
    t.deepEqual(c.wide(), ['n1:1.0.0', 'n2:1.0.1'], 'the candidate\'s too, in its own group (D102)');
    c.promote(c.v101);
    await settle(c, () => n2.elastic.group(GROUP) !== undefined);
    await c.advance(200);
    t.is(n2.elastic.group(GROUP)?.members.length, 1, 'the new live code\'s instance leads the group on its one thread');
    t.deepEqual(c.wide(), ['n1:1.0.0', 'n2:1.0.1'], 'the old one serves its pinned session; the candidate\'s own group ended');
    t.deepEqual(await c.vote(n1, old, 1), { total: 2, version: '1.0.0' });
    t.deepEqual(await c.vote(n1, cand, 1), { total: 2, version: '1.0.1' });
  } finally {
    await c.close();
  }
});
