// A session re-placed after its node died (not migrated: nothing of the old instance is left)
// starts the app version its box runs, which its registry record keeps, never the live one; when
// no survivor serves that version the session is given up, so the box hears NO_SESSION, opens
// again and is told VERSION_MISMATCH (issue 15.6, docs/ROLLOUT.md). Deterministic tier.
import test from 'ava';
import { Codes, RemoteError } from '../../runtime/index.ts';
import type { MemoryNode } from '../_helpers/headend.ts';
import { rig, twoVersions } from '../_helpers/versions.ts';

/** Let queued envelopes and registry writes run, then move the manual clock by a quarter beat at a time. */
async function advanceUntil(r: Awaited<ReturnType<typeof rig>>, done: () => boolean, maxMs = 20_000): Promise<void> {
  for (let left = maxMs; left > 0 && !done(); left -= 250) {
    r.clock.advance(250);
    await new Promise((go) => setImmediate(go));
  }
}

/** n2 stops without a word: nothing in or out. */
function kill(r: Awaited<ReturnType<typeof rig>>, n2: MemoryNode): void {
  r.net.cut(n2.udpAddress);
  n2.statistics.stop();
  n2.timing.stop();
}

test('a session re-placed after its node died runs the version its box runs (the candidate), not the live one', async (t) => {
  const { v100, v101, trusted } = await twoVersions();
  const r = await rig([v100], trusted, ['n1', 'n2', 'n3'], 'n2');
  const [n1, n2, n3] = r.nodes as [MemoryNode, MemoryNode, MemoryNode];
  for (const n of r.nodes) n.catalog.add(v101, { current: false });
  try {
    await advanceUntil(r, () => r.nodes.every((n) => n.statistics.clusterView().nodes.length === 3));
    const cand = await r.open(n2, 'b1', '1.0.1');
    const live = await r.open(n2, 'b2', '1.0.0');
    t.is(cand.node, 'n2');
    t.deepEqual(await r.ask(n2, cand), { n: 1, version: '1.0.1' });
    t.is((await r.registry.getSession(cand.session))?.appVersion, '1.0.1', 'the record keeps the pairing');
    kill(r, n2);
    await advanceUntil(r, () => n1.sessions.counters.replaced + n3.sessions.counters.replaced === 2);
    t.is(n1.sessions.counters.replaced, 2, 'the lowest survivor re-placed both');
    const candNode = (await r.registry.getSession(cand.session))?.node;
    const liveNode = (await r.registry.getSession(live.session))?.node;
    t.true(candNode === 'n1' || candNode === 'n3', `on ${candNode}`);
    t.is((await r.ask(n1, cand)).version, '1.0.1', 'the candidate box still talks to the candidate server portion');
    t.is((await r.ask(n1, live)).version, '1.0.0');
    t.is(r.nodes.find((n) => n.id === candNode)?.catalog.pinned(cand.session), '1.0.1', 'its new host pins it');
    t.not(liveNode, 'n2');
    t.is((await r.registry.getSession(cand.session))?.appVersion, '1.0.1');
  } finally {
    await r.close();
  }
});

test('no survivor serves the session\'s version: the session is given up (counted), the box hears NO_SESSION and its open again VERSION_MISMATCH', async (t) => {
  const { v100, v101, trusted } = await twoVersions();
  const r = await rig([v100], trusted, ['n1', 'n2', 'n3'], 'n2');
  const [n1, n2] = r.nodes as [MemoryNode, MemoryNode, MemoryNode];
  n2.catalog.add(v101, { current: false }); // only the node that dies serves the candidate
  try {
    await advanceUntil(r, () => r.nodes.every((n) => n.statistics.clusterView().nodes.length === 3));
    const cand = await r.open(n2, 'b1', '1.0.1');
    const live = await r.open(n2, 'b2', '1.0.0');
    kill(r, n2);
    await advanceUntil(r, () => n1.sessions.counters.replaced >= 1 && n1.sessions.counters.replaceMismatched >= 1);
    t.is(n1.sessions.counters.replaced, 1, 'the live session re-placed');
    t.is(n1.sessions.counters.replaceMismatched, 1, 'the candidate session given up');
    t.is(await r.registry.getSession(cand.session), undefined, 'its record is gone: no node claims it');
    t.is((await r.ask(n1, live)).version, '1.0.0');
    const lost = await t.throwsAsync(r.ask(n1, cand));
    t.true(lost instanceof RemoteError && lost.remoteCode === Codes.NO_SESSION, (lost as Error).message);
    const again = await t.throwsAsync(r.open(n1, 'b1', '1.0.1'));
    t.true(again instanceof RemoteError && again.remoteCode === Codes.VERSION_MISMATCH, (again as Error).message);
  } finally {
    await r.close();
  }
});
