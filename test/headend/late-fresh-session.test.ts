// [D95] What ends, on the head-end, a session a box opened and will never use: the answer to the
// open of a version the box left (a switch, a revert) that came in time but after the box moved
// on, and opened a fresh session. The box's session.close ends it at once (loader/box.ts closes
// it: test/loader/late-session-close.test.ts). [D108] Unconfirmed, the node ends it itself one
// window (60 s) after its open; before D108 it lived until that close, holding its portion
// instance and one place of the box's session quota.
import test from 'ava';
import { SessionOps } from '../../runtime/index.ts';
import type { MemoryNode } from '../_helpers/headend.ts';
import { rig, twoVersions } from '../_helpers/versions.ts';

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

test('a fresh session its box never uses holds its place until the box closes it or, unconfirmed, until one window after its open', async (t) => {
  const { v100, v101, trusted } = await twoVersions();
  const r = await rig([v100], trusted);
  const [n1] = r.nodes as [MemoryNode];
  n1.catalog.add(v101, { current: false });
  const tick = async (s: number): Promise<void> => {
    for (let i = 0; i < s; i++) {
      r.clock.advance(1000); // a second at a time: every periodic pass of the node runs
      await flush();
    }
  };
  try {
    const late = await r.open(n1, 'b', '1.0.0'); // the left version's open, answered after the box moved on
    const own = await r.open(n1, 'b', '1.0.1'); // the box's own open: it had no session to name
    t.not(late.session, own.session);
    await r.box.control({ vaddr: own.dasp, udp: n1.udpAddress }, SessionOps.clientStarted, { session: own.session, modules: ['ui'] });
    await tick(50);
    t.truthy(await r.registry.getSession(late.session), 'still recorded within the window');
    t.truthy(n1.sessions.ownerOf(late.session), 'its portion still hosted here');
    // The box's close ends it and frees its place.
    t.like(await r.box.request({ vaddr: `weft://headend/${n1.id}/sessions`, udp: n1.udpAddress }, { session: late.session }, { op: SessionOps.close }), { closed: true });
    t.is(await r.registry.getSession(late.session), undefined);
    t.is(n1.sessions.ownerOf(late.session), undefined);
    // Another the box never closes (its close was lost): ended one window after its open.
    const lost = await r.open(n1, 'b', '1.0.0');
    await tick(61);
    t.is(await r.registry.getSession(lost.session), undefined, 'ended by the node');
    t.is(n1.sessions.ownerOf(lost.session), undefined);
    t.is(n1.sessions.lateOpens.unconfirmed.ended, 1);
    t.truthy(await r.registry.getSession(own.session), 'the confirmed session stays');
  } finally {
    await r.close();
  }
});
