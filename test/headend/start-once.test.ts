// [c31] One instance per (session, module) in the cluster (issue 14 finding 2): the registry
// claim decides the owner, and a portion.start that times out is resolved by asking, never by
// starting a second copy. Sessions are recorded on the node that hosts them (finding 1).
import test from 'ava';
import { SessionOps, type Envelope, type ResourceReport } from '../../runtime/index.ts';
import { MIXED_APP, signedApp } from '../_helpers/apps.ts';
import { memoryRegistry } from '../_helpers/headend.ts';
import { gate, sessionPair, type Pair } from '../_helpers/session-pair.ts';
import { checkStartBody, sessionIdFor } from '../../headend/session-manager.ts';

const report: ResourceReport = { boxId: 'b1', profile: 'legacy-sd', freeMemoryBytes: 1 << 20, appMemoryBytes: 4 << 20, cpuClass: 'low', cpuLoad: 0, storageFreeBytes: 0, sandboxBytes: 0, twoWayUp: true, at: 0 };
const openEnv: Envelope = { v: 1, kind: 'req', id: 7, op: SessionOps.open, src: { vaddr: 'weft://box/b1/inbox' }, dst: { vaddr: 'weft://headend/*/sessions' }, body: { app: 'mix', version: '1.0.0', boxId: 'b1', report } };

function instances(pair: Pair): string[] {
  return [...pair.nodes.values()].flatMap((n) => [...n.instances.values()].map((s) => `${n.id}:${s.session}`));
}

test('a remote that claimed the portion and answers after the deadline: one instance, on the remote', async (t) => {
  const { pub } = await signedApp('mix', MIXED_APP);
  const registry = memoryRegistry();
  const pair = sessionPair(['n1', 'n2'], registry, pub, { placeOn: 'n2' });
  const n1 = pair.nodes.get('n1')!;
  const n2 = pair.nodes.get('n2')!;
  const slow = gate();
  n2.hold = slow; // n2's worker takes longer than n1 waits
  const opened = n1.sessions.handle(openEnv) as Promise<{ node: string; session: string }>;
  const start = await pair.nextRequest();
  const done = start.deliver(); // n2 claims, then its worker is slow
  await n2.launching();
  start.expire(); // n1's deadline passes before n2 answers
  const reply = await opened;
  t.is(reply.node, 'n2', 'n1 asked the registry and found n2 owns it');
  slow.open();
  await done;
  t.deepEqual(instances(pair), [`n2:${sessionIdFor(openEnv)}`]);
  t.is(n1.sessions.count, 0, 'the ingress node does not count a session it only placed');
  t.is(n2.sessions.count, 1, 'the host records the session (box sent with portion.start)');
  t.is(n2.sessions.boxOfSession('mix', reply.session), 'b1');
  t.is(n1.sessions.counters.startTimeouts, 1);
  await registry.close();
});

test('a start that reaches the remote only after the deadline and a retry: one instance, where the claim landed', async (t) => {
  const { pub } = await signedApp('mix', MIXED_APP);
  const registry = memoryRegistry();
  const pair = sessionPair(['n1', 'n2'], registry, pub, { placeOn: 'n2' });
  const n1 = pair.nodes.get('n1')!;
  const n2 = pair.nodes.get('n2')!;
  const opened = n1.sessions.handle(openEnv) as Promise<{ node: string }>;
  const first = await pair.nextRequest();
  first.expire(); // lost in the network, as far as n1 can tell
  const second = await pair.nextRequest();
  t.not(second, first, 'n1 asks again (portion.start is idempotent)');
  second.expire();
  t.is((await opened).node, 'n1', 'nobody claimed it: n1 ran it');
  // Both late starts reach n2 now: the claim is n1's, so n2 starts nothing.
  await first.deliver();
  await second.deliver();
  t.deepEqual(instances(pair), [`n1:${sessionIdFor(openEnv)}`]);
  t.deepEqual([n1.sessions.count, n2.sessions.count], [1, 0]);
  t.true(n2.starts.counters.ownedElsewhere >= 1);
  await registry.close();
});

test('a repeated start on the host joins the one in flight or returns the running instance', async (t) => {
  const { pub } = await signedApp('mix', MIXED_APP);
  const registry = memoryRegistry();
  const pair = sessionPair(['n1'], registry, pub, { placeOn: 'n1' });
  const n1 = pair.nodes.get('n1')!;
  const slow = gate();
  n1.hold = slow;
  const a = n1.starts.start('mix', 's1', ['counter']);
  const b = n1.starts.start('mix', 's1', ['counter']);
  slow.open();
  const [ra, rb] = await Promise.all([a, b]);
  const c = await n1.starts.start('mix', 's1', ['counter']);
  t.true(ra.ok && rb.ok && c.ok);
  t.is(n1.instances.size, 1);
  t.deepEqual(n1.starts.counters, { started: 1, joined: 2, ownedElsewhere: 0, takenOver: 0, restUnbound: 0, restYielded: 0 });
  await registry.close();
});

test('portion.start bodies from other nodes are checked: unknown fields and bad types are refused', (t) => {
  t.notThrows(() => checkStartBody({ app: 'mix', session: 's1', modules: ['counter'], box: 'b1', states: { counter: new Uint8Array(1) } }));
  t.throws(() => checkStartBody({ app: 'mix', session: 's1', modules: ['counter'], boxx: 'b1' }), { message: /unknown field "boxx"/ });
  t.throws(() => checkStartBody({ app: 'mix', session: 's1', modules: [] }), { message: /modules must be/ });
  t.throws(() => checkStartBody({ app: 'mix', session: 's1', modules: ['m'], states: { m: 'x' } }), { message: /states must map/ });
  t.throws(() => checkStartBody(null), { message: /body must be a map/ });
});

test('a start that stalled while another node took its portion leaves that node\'s further addresses alone [c31]', async (t) => {
  // D79's churn: n1, stalled in a start, was taken over by n2 (a re-placement naming n1 as the
  // source); n1's start then bound the portion's further address by move over n2's record, and
  // n2's claim keeper had to take it back. The claim decides: n1 reads it and yields.
  const { pub } = await signedApp('mix', MIXED_APP);
  const registry = memoryRegistry();
  const pair = sessionPair(['n1', 'n2'], registry, pub, { placeOn: 'n1' });
  const n1 = pair.nodes.get('n1')!;
  const n2 = pair.nodes.get('n2')!;
  const slow = gate();
  n1.hold = slow;
  const stalled = n1.starts.start('mix', 's1', ['counter', 'epg']);
  await n1.launching(); // n1 holds the claim and waits in its worker
  const taken = await n2.starts.start('mix', 's1', ['counter', 'epg'], undefined, 'n1');
  t.true(taken.ok, 'n2 re-places the portion');
  slow.open();
  t.true((await stalled).ok, 'n1\'s worker started (its claim keeper stops that copy)');
  for (const m of ['counter', 'epg']) t.like(await registry.lookup(`weft://mix/s1/${m}`), { node: 'n2' }, `${m} still names n2`);
  t.is(n1.starts.counters.restYielded, 1);
  t.is(n2.starts.counters.takenOver, 1);
  await registry.close();
});
