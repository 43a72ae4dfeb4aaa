// A box that switches app version opens its session again naming the previous one (issue
// 15.6-7): the session keeps its id, its server portion switches version in place with its state,
// and no request sent to it during the switch is lost or counted twice. Deterministic tier.
import test from 'ava';
import { Codes, RemoteError } from '../../runtime/index.ts';
import type { MemoryNode } from '../_helpers/headend.ts';
import { rig, sameServerCode, twoVersions } from '../_helpers/versions.ts';

const instancesOf = (nodes: MemoryNode[], session: string): string[] => nodes.flatMap((n) => [...n.pool.instances.values()].filter((p) => p.session === session).map((p) => `${n.id}:${p.iid}`));

test('the server portion switches from 1.0.0 to 1.0.1 in place: same session, state carried, every request sent during the switch answered exactly once', async (t) => {
  const { v100, v101, trusted } = await twoVersions();
  const r = await rig([v100], trusted);
  const [n1] = r.nodes as [MemoryNode];
  n1.catalog.add(v101, { current: false });
  try {
    const s = await r.open(n1, 'b1', '1.0.0');
    for (let i = 0; i < 3; i++) await r.ask(n1, s);
    // Requests keep coming, one per turn of the event loop, until the switch is answered.
    const during: Promise<{ n: number; version: string }>[] = [];
    for (let i = 0; i < 5; i++) during.push(r.ask(n1, s)); // in flight when the switch begins: it waits for them
    let done = false;
    const switched = r.open(n1, 'b1', '1.0.1', s.session).finally(() => (done = true));
    while (!done) {
      during.push(r.ask(n1, s));
      await new Promise((go) => setImmediate(go));
    }
    const reply = await switched;
    const answers = await Promise.all(during);
    const sent = during.length;
    t.is(reply.session, s.session, 'the same session');
    t.is(reply.dasp, s.dasp, 'the same addresses');
    const counts = answers.map((a) => a.n).sort((a, b) => a - b);
    t.deepEqual(counts, Array.from({ length: sent }, (_, i) => i + 4), `all ${sent} answered, each counted once, after the 3 before`);
    t.true(answers.some((a) => a.version === '1.0.0') && answers.some((a) => a.version === '1.0.1'), 'requests were answered by both versions: sent across the switch');
    t.deepEqual(await r.ask(n1, s), { n: sent + 4, version: '1.0.1' }, 'the new version runs on the old state');
    t.is(instancesOf(r.nodes, s.session).length, 1, 'one instance: the old one stopped');
    t.is(n1.upgrades.upgraded, 1);
    t.is(n1.sessions.switches.stats.switched, 1);
    t.is(n1.catalog.pinned(s.session), '1.0.1');
    t.is((await r.registry.getSession(s.session))?.appVersion, '1.0.1', 'the record follows: a survivor re-placing it later starts 1.0.1');
    // Opened again (a retried switch): nothing happens twice.
    const again = await r.open(n1, 'b1', '1.0.1', s.session);
    t.is(again.session, s.session);
    t.is(n1.upgrades.already, 1);
    t.deepEqual(await r.ask(n1, s), { n: sent + 5, version: '1.0.1' });
  } finally {
    await r.close();
  }
});

test('the open reaches another node than the host: the host switches on portion.upgrade; a host without the version refuses with VERSION_MISMATCH and the old version runs on', async (t) => {
  const { v100, v101, trusted } = await twoVersions();
  const r = await rig([v100], trusted, ['n1', 'n2'], 'n2');
  const [n1, n2] = r.nodes as [MemoryNode, MemoryNode];
  n1.catalog.add(v101, { current: false });
  try {
    const s = await r.open(n1, 'b1', '1.0.0');
    t.is(s.node, 'n2');
    t.is(n2.catalog.pinned(s.session), '1.0.0', 'the host pins the session');
    t.is(n1.catalog.pinned(s.session), undefined, 'the placing node keeps no pin for a session it does not host');
    await r.ask(n2, s);
    const e = await t.throwsAsync(r.open(n1, 'b1', '1.0.1', s.session));
    t.true(e instanceof RemoteError && e.remoteCode === Codes.VERSION_MISMATCH, (e as Error).message);
    t.deepEqual(await r.ask(n2, s), { n: 2, version: '1.0.0' }, 'untouched');
    n2.catalog.add(v101, { current: false });
    const reply = await r.open(n1, 'b1', '1.0.1', s.session);
    t.is(reply.session, s.session);
    t.is(reply.node, 'n2');
    t.deepEqual(await r.ask(n2, s), { n: 3, version: '1.0.1' });
    t.is((await r.registry.getSession(s.session))?.appVersion, '1.0.1', 'recorded by the node the open reached');
    t.is(n2.upgrades.upgraded, 1);
    t.deepEqual(instancesOf(r.nodes, s.session).map((x) => x.split(':')[0]), ['n2']);
  } finally {
    await r.close();
  }
});

test('a previous session that is unknown or another box\'s is ignored: a fresh session, the other box\'s untouched', async (t) => {
  const { v100, v101, trusted } = await twoVersions();
  const r = await rig([v100], trusted);
  const [n1] = r.nodes as [MemoryNode];
  n1.catalog.add(v101, { current: false });
  try {
    const theirs = await r.open(n1, 'b-other', '1.0.0');
    await r.ask(n1, theirs);
    const mine = await r.open(n1, 'b1', '1.0.1', theirs.session);
    t.not(mine.session, theirs.session);
    t.deepEqual(await r.ask(n1, theirs), { n: 2, version: '1.0.0' });
    t.deepEqual(await r.ask(n1, mine), { n: 1, version: '1.0.1' });
    const fresh = await r.open(n1, 'b2', '1.0.1', 'sgone');
    t.deepEqual(await r.ask(n1, fresh), { n: 1, version: '1.0.1' });
    t.is(n1.sessions.switches.stats.unknown, 2);
  } finally {
    await r.close();
  }
});

test('a switch between versions whose head-end code is the same bytes is a re-pin: the instance runs on, nothing held or restarted, every request answered once', async (t) => {
  const { v100, v101, trusted } = await sameServerCode();
  const r = await rig([v100], trusted);
  const [n1] = r.nodes as [MemoryNode];
  n1.catalog.add(v101, { current: false });
  try {
    const s = await r.open(n1, 'b1', '1.0.0');
    await r.ask(n1, s);
    const before = instancesOf(r.nodes, s.session);
    const during = [r.ask(n1, s), r.ask(n1, s)];
    const reply = await r.open(n1, 'b1', '1.0.1', s.session);
    during.push(r.ask(n1, s));
    const counts = (await Promise.all(during)).map((a) => a.n).sort((a, b) => a - b);
    t.is(reply.session, s.session);
    t.deepEqual(counts, [2, 3, 4], 'each answered once, in the one instance');
    t.deepEqual(instancesOf(r.nodes, s.session), before, 'the same instance: not restarted');
    t.is(n1.upgrades.repinned, 1);
    t.is(n1.upgrades.upgraded, 0);
    t.is(n1.catalog.pinned(s.session), '1.0.1', 'pinned to the new version');
    t.is((await r.registry.getSession(s.session))?.appVersion, '1.0.1', 'and recorded: a re-placement starts 1.0.1');
  } finally {
    await r.close();
  }
});

// [D86] A box that keeps its session on a re-pin sends its new version's first requests before
// its open: the head-end takes no version from them, and its pin moves only on an open it checks
// against its own catalog (a version no release admits is refused; another box's session is not it).
test('the box\'s word does not move the pin: early requests run on the pinned version, a forged version or another box\'s open leaves it', async (t) => {
  const { v100, v101, trusted } = await sameServerCode();
  const r = await rig([v100], trusted);
  const [n1] = r.nodes as [MemoryNode];
  try {
    const s = await r.open(n1, 'b1', '1.0.0');
    t.deepEqual(await r.ask(n1, s), { n: 1, version: '1.0.0' }, 'a request of the new version, before its open');
    t.is(n1.catalog.pinned(s.session), '1.0.0');
    const e = await t.throwsAsync(r.open(n1, 'b1', '1.0.1', s.session));
    t.true(e instanceof RemoteError && e.remoteCode === Codes.VERSION_MISMATCH, 'a version no release admits');
    t.is(n1.catalog.pinned(s.session), '1.0.0', 'the pin stays');
    n1.catalog.add(v101, { current: false });
    const theirs = await r.open(n1, 'b-other', '1.0.1', s.session);
    t.not(theirs.session, s.session, 'another box naming this session opens its own');
    t.is(n1.catalog.pinned(s.session), '1.0.0');
    t.is((await r.registry.getSession(s.session))?.appVersion, '1.0.0');
    t.is(n1.upgrades.repinned, 0);
    await r.open(n1, 'b1', '1.0.1', s.session);
    t.is(n1.catalog.pinned(s.session), '1.0.1', 'its own box\'s open of an admitted version re-pins it');
    t.is(n1.upgrades.repinned, 1);
    t.deepEqual(await r.ask(n1, s), { n: 2, version: '1.0.0' }, 'the same instance runs on: the code is the same bytes');
  } finally {
    await r.close();
  }
});
