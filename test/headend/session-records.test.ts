// [c31] A node's session records are held by the node they name (headend/session-records.ts), on
// the deterministic tier: a registry that loses an acknowledged session write (Redis Cluster's
// failover), then the `reset` the adapter sends. Before the keeper, the record stayed gone: the
// box's session.close found nothing to stop and the portion ran on, unowned. Now the host writes
// the record again from its copy, unless the session was deleted on purpose or no longer runs there.
import test from 'ava';
import { SessionOps } from '../../runtime/index.ts';
import type { MemoryNode } from '../_helpers/headend.ts';
import { lossyPair, settle } from '../_helpers/lossy-pair.ts';

type Pair = Awaited<ReturnType<typeof lossyPair>>;

/** The records of `sessions` vanish without a word on the feed, then the failover's `reset`; `n`'s checks done. */
async function loseInFailover(c: Pair, n: MemoryNode, ...sessions: string[]): Promise<void> {
  for (const s of sessions) await c.registry.loseSession(s);
  c.registry.failover();
  await n.records.settled();
}

function closeSession(c: Pair, via: MemoryNode, session: string): Promise<unknown> {
  return c.box.request({ vaddr: `weft://headend/${via.id}/sessions`, udp: via.udpAddress }, { session }, { op: SessionOps.close });
}

test('a session record lost in a failover is written again by its host: the box can still close it, and its portion stops', async (t) => {
  const c = await lossyPair();
  const [n1] = c.nodes;
  try {
    const s = await c.open('b', n1);
    await settle();
    t.deepEqual(c.copies(s.session), ['n1']);
    await loseInFailover(c, n1, s.session);
    t.like(await c.registry.getSession(s.session), { node: 'n1', box: 'b', app: 'mix' });
    t.like(await closeSession(c, n1, s.session), { closed: true });
    await settle();
    t.deepEqual(c.copies(s.session), [], 'the portion stopped with its session');
    t.like(n1.records.stats, { rewritten: 1, held: 0 });
  } finally {
    await c.close();
  }
});

test('a session deleted on purpose by another writer is not written again after a reset', async (t) => {
  const c = await lossyPair();
  const [n1] = c.nodes;
  try {
    const s = await c.open('b', n1);
    await settle();
    t.truthy(n1.records.heldRecord(s.session));
    await c.registry.deleteSession(s.session); // another writer; the feed tells
    await n1.records.settled();
    c.registry.failover();
    await n1.records.settled();
    t.is(await c.registry.getSession(s.session), undefined);
    t.like(n1.records.stats, { rewritten: 0, held: 0 });
  } finally {
    await c.close();
  }
});

test('a lost record of a session that no longer runs on its node is not written again (no zombie record)', async (t) => {
  const c = await lossyPair();
  const [n1] = c.nodes;
  try {
    const s = await c.open('b', n1);
    await settle();
    n1.sessions.moved(s.session); // it stopped counting here (its portion went away)
    await loseInFailover(c, n1, s.session);
    t.is(await c.registry.getSession(s.session), undefined);
    t.like(n1.records.stats, { rewritten: 0, held: 0 });
  } finally {
    await c.close();
  }
});

test('a session opened on one node and placed on another is held by its host only, which learns it with one read', async (t) => {
  const c = await lossyPair();
  const [n1, n2] = c.nodes;
  try {
    const local = [await c.open('b1', n1), await c.open('b2', n1)];
    t.is(n1.records.stats.checked, 0, 'a setup on its own node costs the keeper no read');
    const s = await c.open('b', n2);
    t.is(s.node, 'n1');
    await settle();
    await n1.records.settled();
    t.is(n2.records.heldRecord(s.session), undefined, 'the entry node let go once the record named the host');
    t.like(n1.records.heldRecord(s.session), { node: 'n1', box: 'b' });
    t.is(n1.records.stats.checked, 1);
    await loseInFailover(c, n1, s.session, local[0]!.session);
    t.like(await c.registry.getSession(s.session), { node: 'n1', box: 'b' });
    t.like(await c.registry.getSession(local[0]!.session), { node: 'n1', box: 'b1' });
    t.like(n1.records.stats, { rewritten: 2, held: 3 });
    t.is(n2.records.stats.rewritten, 0);
  } finally {
    await c.close();
  }
});
