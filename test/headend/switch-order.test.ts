// [D93] A box that goes back (failed probation, a rollback) before its forward switch's open is
// answered sends two opens naming one session. The node applies them in the order they came: the
// session ends on the version the box runs, never on the one it left.
import test from 'ava';
import type { MemoryNode } from '../_helpers/headend.ts';
import { rig, twoVersions } from '../_helpers/versions.ts';

test('a forward switch and the revert right behind it: the session ends pinned, recorded and running on the revert\'s version', async (t) => {
  const { v100, v101, trusted } = await twoVersions(); // other head-end code: the forward switch upgrades the instance
  const r = await rig([v100], trusted);
  const [n1] = r.nodes as [MemoryNode];
  n1.catalog.add(v101, { current: false });
  try {
    const s = await r.open(n1, 'b1', '1.0.0');
    await r.ask(n1, s);
    const forward = r.open(n1, 'b1', '1.0.1', s.session);
    const back = r.open(n1, 'b1', '1.0.0', s.session); // sent before the forward one is answered
    const [f, b] = await Promise.all([forward, back]);
    t.is(f.session, s.session);
    t.is(b.session, s.session, 'one session throughout');
    t.is(n1.catalog.pinned(s.session), '1.0.0');
    t.is((await r.registry.getSession(s.session))?.appVersion, '1.0.0', 'a survivor re-placing it starts the version the box runs');
    t.deepEqual(await r.ask(n1, s), { n: 2, version: '1.0.0' }, 'the instance runs the code of the version the box runs, state carried');
    t.is(n1.sessions.switches.stats.queued, 1, 'the revert waited for the forward switch');
  } finally {
    await r.close();
  }
});
