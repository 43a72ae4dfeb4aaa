// Version pairing (issue 15.6): a box pairs with the server portion of exactly the app version
// it runs. Deterministic tier: in-memory network, manual clock, in-thread portion host whose
// server module answers with the version of the manifest its instance was started with.
import test from 'ava';
import { Codes, RemoteError } from '../../runtime/index.ts';
import type { MemoryNode } from '../_helpers/headend.ts';
import { rig, twoVersions } from '../_helpers/versions.ts';

test('finding 15.6: a box on 1.0.1 is not served the 1.0.0 server module; it gets VERSION_MISMATCH (code 18) and no portion starts', async (t) => {
  const { v100, trusted } = await twoVersions();
  const r = await rig([v100], trusted);
  const [n1] = r.nodes as [MemoryNode];
  try {
    const e = await t.throwsAsync(r.open(n1, 'b1', '1.0.1'));
    t.true(e instanceof RemoteError && e.remoteCode === Codes.VERSION_MISMATCH, `answered ${(e as Error).message}`);
    t.regex((e as Error).message, /mix 1\.0\.1 is not served here \(serving 1\.0\.0\)/);
    t.is(n1.sessions.counters.mismatched, 1);
    t.is([...n1.pool.instances.values()].filter((p) => p.session !== '*').length, 0, 'no server portion started');
    // The box on the version served opens fine.
    const s = await r.open(n1, 'b2', '1.0.0');
    t.is((await r.ask(n1, s)).version, '1.0.0');
  } finally {
    await r.close();
  }
});

test('two versions side by side: a box on the candidate pairs with the candidate server module, a box on live with live', async (t) => {
  const { v100, v101, trusted } = await twoVersions();
  const r = await rig([v100], trusted);
  const [n1] = r.nodes as [MemoryNode];
  n1.catalog.add(v101, { current: false }); // the candidate, beside live
  try {
    const live = await r.open(n1, 'b-live', '1.0.0');
    const cand = await r.open(n1, 'b-cand', '1.0.1');
    t.is((await r.ask(n1, live)).version, '1.0.0');
    t.is((await r.ask(n1, cand)).version, '1.0.1');
    t.is(n1.catalog.get('mix')?.manifest.version, '1.0.0', 'live stays what sessions naming no version get');
    t.deepEqual(n1.catalog.versions('mix'), ['1.0.0', '1.0.1']);
  } finally {
    await r.close();
  }
});

test('a session placed on another node, and a session migrated, keep their version; a node without that version refuses the start with VERSION_MISMATCH', async (t) => {
  const { v100, v101, trusted } = await twoVersions();
  const r = await rig([v100], trusted, ['n1', 'n2', 'n3']);
  const [n1, n2] = r.nodes as [MemoryNode, MemoryNode, MemoryNode];
  n1.catalog.add(v101, { current: false });
  n2.catalog.add(v101, { current: false }); // n3 has never heard of 1.0.1
  try {
    const s = await r.open(n1, 'b1', '1.0.1');
    t.is((await r.ask(n1, s)).version, '1.0.1');
    const iid = [...n1.pool.instances.values()].find((p) => p.session === s.session)?.iid as string;
    const moved = await n1.movePortion(iid, 'n2', 0);
    t.true(moved.ok, moved.ok ? '' : moved.error.message);
    const after = await r.ask(n2, s);
    t.deepEqual(after, { n: 2, version: '1.0.1' }, 'state and version moved together');
    t.is(n2.catalog.pinned(s.session), '1.0.1');
    t.is(n1.catalog.pinned(s.session), undefined, 'the source forgot the pairing');
    const iid2 = [...n2.pool.instances.values()].find((p) => p.session === s.session)?.iid as string;
    const refused = await n2.movePortion(iid2, 'n3', 0);
    t.false(refused.ok, 'n3 does not serve 1.0.1');
    t.regex(refused.ok ? '' : refused.error.message, /does not serve mix 1\.0\.1/);
    t.deepEqual(await r.ask(n2, s), { n: 3, version: '1.0.1' }, 'the session runs on where it was');
  } finally {
    await r.close();
  }
});
