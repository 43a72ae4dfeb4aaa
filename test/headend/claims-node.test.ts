// [c31] A node's session portions are held by its ClaimKeeper (headend/portions/portion-claims.ts),
// on the deterministic tier: a registry that loses an acknowledged claim (as Redis Cluster does in
// a failover), then another node claims the same portion. Before the keeper was wired in, both
// nodes ran a copy; now the one the record does not name stops its copy through the node's stop
// path, and the session's requests reach the owner. A setup costs the keeper no read.
import test from 'ava';
import { ArgumentError, formatVaddr, type OpenReply } from '../../runtime/index.ts';
import { memoryRegistry, type MemoryNode } from '../_helpers/headend.ts';
import { lossyPair as pair, settle } from '../_helpers/lossy-pair.ts';
import { PortionClaims } from '../../headend/portions/portion-claims.ts';
import { nodeSource } from '../../headend/console/index.ts';

/** The modules of the session's portion on the head-end, as its host started them. */
function headendModules(n: MemoryNode, session: string): string[] {
  return [...n.pool.instances.values()].find((p) => p.session === session)?.modules ?? [];
}

test('a claim acknowledged then lost, and claimed by another node: the copy the record does not name stops, requests reach the owner [c31]', async (t) => {
  const c = await pair();
  const [n1, n2] = c.nodes;
  try {
    const s = await c.open('b1', n1);
    t.is(s.node, 'n1');
    t.deepEqual(c.copies(s.session), ['n1']);
    t.is(((await c.box.request({ vaddr: s.dasp, udp: n1.udpAddress }, { k: 1 })) as { n: number }).n, 1);
    const modules = headendModules(n1, s.session);
    // The failover loses n1's acknowledged claim; then n2 claims the same portion (a retried
    // portion.start reaching it, a survivor re-placing): nothing refuses it, the record is gone.
    await c.registry.lose(s.dasp);
    const started = await n2.startPortion('mix', s.session, modules);
    t.true(started.ok, 'n2 took the claim');
    await n1.claims.settled();
    t.is((await c.registry.lookup(s.dasp))?.node, 'n2');
    t.deepEqual(c.copies(s.session), ['n2'], 'one copy, on the node its record names');
    t.is(n1.claims.stats.copiesStopped, 1);
    t.is(n1.claims.stats.lost, 1, 'one portion lost (its other addresses went with it)');
    t.is(c.logs.filter((l) => l.startsWith('n1 ') && l.includes('the copy here is stopped')).length, 1, 'logged once');
    const snap = nodeSource(n1).snapshot();
    t.like(snap.counters, { claims_copies_stopped: 1, claims_lost: 1, claims_stop_errors: 0 });
    t.true(snap.errorCounters.includes('claims_copies_stopped'), 'on the console\'s error panel');
    t.is(n1.sessions.count, 0, 'the session no longer counts on n1');
    // The box still talks to n1 (its ingress): the request reaches n2's instance and is answered.
    const r = (await c.box.request({ vaddr: s.dasp, udp: n1.udpAddress }, { k: 2 })) as { n: number; echo: unknown };
    t.deepEqual(r.echo, { k: 2 });
    t.is(n1.table.hosted.has(s.dasp), false);
  } finally {
    await c.close();
  }
});

test('the feed misses the other node\'s claim: the reset after the failover has every held claim read again, one copy remains [c31]', async (t) => {
  const c = await pair();
  const [n1, n2] = c.nodes;
  try {
    const sessions: OpenReply[] = [];
    for (let i = 0; i < 4; i++) sessions.push(await c.open(`b${i}`, n1));
    const lost = sessions[2] as OpenReply;
    c.registry.feedDown();
    await c.registry.lose(lost.dasp);
    t.true((await n2.startPortion('mix', lost.session, headendModules(n1, lost.session))).ok);
    await settle();
    t.deepEqual(c.copies(lost.session), ['n1', 'n2'], 'two copies while nothing told n1');
    t.is(n1.claims.stats.checked, 0);
    const held = n1.claims.keeper.held().length;
    c.registry.failover();
    await n1.claims.settled();
    t.is(n1.claims.stats.checked, held, 'every held address read once after the reset');
    for (const s of sessions) t.deepEqual(c.copies(s.session), s === lost ? ['n2'] : ['n1'], s.session);
    t.is(n1.claims.stats.copiesStopped, 1);
  } finally {
    await c.close();
  }
});

test('a held record that vanished with nobody else claiming is bound again; the copy runs on [c31]', async (t) => {
  const c = await pair();
  const [n1] = c.nodes;
  try {
    const s = await c.open('b1', n1);
    c.registry.feedDown();
    await c.registry.lose(s.dasp);
    c.registry.failover();
    await n1.claims.keeper.settled();
    const rec = await c.registry.lookup(s.dasp);
    t.is(rec?.node, 'n1');
    t.is(n1.claims.stats.rebound, 1);
    t.is(n1.claims.stats.copiesStopped, 0);
    t.is(((await c.box.request({ vaddr: s.dasp, udp: n1.udpAddress }, { k: 1 })) as { n: number }).n, 1);
  } finally {
    await c.close();
  }
});

test('setups cost the keeper no read; a session closed or moved out lets go of its claims without a loss', async (t) => {
  const c = await pair();
  const [n1, n2] = c.nodes;
  try {
    const sessions: OpenReply[] = [];
    for (let i = 0; i < 20; i++) sessions.push(await c.open(`s${i}`, n1));
    const held = n1.claims.keeper.held();
    t.true(sessions.every((s) => held.includes(s.dasp)), 'every session portion held');
    t.is(n1.claims.stats.checked, 0, 'no registry read beyond the claims');
    // A move-out: the target takes the records over; that is no loss on the source.
    const moving = sessions[0] as OpenReply;
    const iid = n1.table.hosted.get(moving.dasp)?.iids[0] as string;
    t.deepEqual(await n1.movePortion(iid, 'n2'), { ok: true, value: 'n2' });
    await settle();
    t.false(n1.claims.keeper.held().includes(moving.dasp));
    t.true(n2.claims.keeper.held().includes(moving.dasp), 'the target holds it');
    t.deepEqual(c.copies(moving.session), ['n2']);
    t.is(n1.claims.stats.copiesStopped + n1.claims.stats.lost, 0);
    // A session that ends (its box closed it): its claims are given back, not lost.
    const closing = sessions[1] as OpenReply;
    t.is(await n1.stopSession(closing.session), 1);
    t.false(n1.claims.keeper.held().includes(closing.dasp));
    t.is(await c.registry.lookup(closing.dasp), undefined);
    t.is(n1.claims.stats.lost, 0);
  } finally {
    await c.close();
  }
});

test('a move whose answer is lost after the target took the portion: the source takes its claims back, finds them the target\'s and stops its copy [c31]', async (t) => {
  const c = await pair();
  const [n1, n2] = c.nodes;
  try {
    const s = await c.open('b1', n1);
    const iid = n1.table.hosted.get(s.dasp)?.iids[0] as string;
    // n2 takes the records, and falls silent at that moment: its answer never reaches n1.
    const unwatch = c.registry.watch((ch) => void (ch.kind === 'location' && ch.vaddr === s.dasp && c.net.cut(n2.udpAddress)));
    const moving = n1.movePortion(iid, 'n2');
    for (let i = 0; i < 100 && !c.copies(s.session).includes('n2'); i++) await settle();
    unwatch();
    c.clock.advance(10_000); // n1's portion.start deadline
    const moved = await moving;
    t.false(moved.ok, 'the move failed as far as n1 can tell');
    await n1.claims.settled();
    t.deepEqual(c.copies(s.session), ['n2'], 'one copy: the record names n2, so n1 stopped its own');
    t.is(n1.claims.stats.copiesStopped, 1);
    c.net.heal(n2.udpAddress);
    const r = (await c.box.request({ vaddr: s.dasp, udp: n1.udpAddress }, { k: 1 })) as { echo: unknown };
    t.deepEqual(r.echo, { k: 1 }, 'what reaches n1 goes to n2');
  } finally {
    await c.close();
  }
});

test('a further address written late in the name of a copy that lost the claim does not stop the owner: it takes the address back [c31]', async (t) => {
  // node-mqtt under load (200 ms beats): n1, stalled in a session's start, was declared dead; n2
  // re-placed the session; n1's start then bound the portion's further address by move over n2's
  // record. n1's copy stopped (its claim is n2's), and n2's stopped too (that address named n1):
  // no copy ran, and the box's requests went unanswered.
  const c = await pair();
  const [n1, n2] = c.nodes;
  try {
    const s = await c.open('b1', n1);
    const iid1 = n1.table.hosted.get(s.dasp)?.iids[0] as string;
    const modules = headendModules(n1, s.session);
    t.true(modules.length >= 2);
    t.true((await n2.startPortion('mix', s.session, modules, undefined, 'n1')).ok, 'n2 re-places it');
    await n1.claims.settled();
    await n2.claims.settled();
    t.deepEqual(c.copies(s.session), ['n2']);
    const further = formatVaddr({ app: 'mix', session: s.session, module: modules[1] as string });
    const rec = await c.registry.lookup(further);
    t.is(rec?.node, 'n2');
    // n1's late bind: by move over n2's record, in the name of its stopped instance.
    t.true((await c.registry.move(further, { node: 'n1', queue: iid1, udp: n1.udpAddress }, rec?.epoch ?? 0)).ok);
    await n2.claims.settled();
    t.deepEqual(c.copies(s.session), ['n2'], 'the owner runs on');
    t.like(await c.registry.lookup(further), { node: 'n2' });
    t.like(n2.claims.stats, { retaken: 1, copiesStopped: 0 });
    t.truthy(await c.box.request({ vaddr: further, udp: n1.udpAddress }, { q: 'news' }), 'the address answers');
  } finally {
    await c.close();
  }
});

test('PortionClaims options are checked by name', async (t) => {
  const registry = memoryRegistry();
  t.throws(() => new PortionClaims({ registry, stopLost: () => Promise.resolve(false), log: () => {} }, { onLost: () => {} } as never), { instanceOf: ArgumentError, message: /onLost/ });
  await registry.close();
});
