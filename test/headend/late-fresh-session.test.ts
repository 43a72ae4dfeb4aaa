// [D95] What ends, on the head-end, a session a box opened and will never use: the answer to the
// open of a version the box left (a switch, a revert) that came in time but after the box moved
// on, and opened a fresh session. Nothing on the node ends it but the box's session.close: no
// idle reaper, no lease, no liveness check (the late-open rule, issue 19.6, ends only answers past
// their deadline). Each such session keeps its portion instance and one place of the box's
// session quota on the node; at the quota the box's own opens are refused. Closed, its place is
// free again. (loader/box.ts now closes it: test/loader/late-session-close.test.ts.)
import test from 'ava';
import { Codes, SessionOps, type OpenReply } from '../../runtime/index.ts';
import type { MemoryNode } from '../_helpers/headend.ts';
import { rig, twoVersions } from '../_helpers/versions.ts';

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

test('a fresh session its box never uses lives until the box closes it, holding a place of the box\'s quota', async (t) => {
  const { v100, v101, trusted } = await twoVersions();
  const r = await rig([v100], trusted);
  const [n1] = r.nodes as [MemoryNode];
  n1.catalog.add(v101, { current: false });
  try {
    const late = await r.open(n1, 'b', '1.0.0'); // the left version's open, answered after the box moved on
    const own = await r.open(n1, 'b', '1.0.1'); // the box's own open: it had no session to name
    t.not(late.session, own.session);
    // Ten minutes of the node's clock, a second at a time: every periodic pass of the node runs.
    for (let i = 0; i < 600; i++) {
      r.clock.advance(1000);
      await flush();
    }
    t.truthy(await r.registry.getSession(late.session), 'still recorded');
    t.truthy(n1.sessions.ownerOf(late.session), 'its portion still hosted here');
    t.is(n1.sessions.counters.closed, 0);
    // Each one more holds one more place: at the box's quota (16 by default) its opens are refused.
    const held: OpenReply[] = [late, own];
    for (;;) {
      const next = await r.open(n1, 'b', '1.0.1').catch((e: unknown) => e as Error);
      if (next instanceof Error) {
        t.like(next, { remoteCode: Codes.QUOTA });
        break;
      }
      held.push(next);
    }
    t.is(held.length, 16);
    // The box's close ends it and frees its place.
    t.like(await r.box.request({ vaddr: `weft://headend/${n1.id}/sessions`, udp: n1.udpAddress }, { session: late.session }, { op: SessionOps.close }), { closed: true });
    t.is(await r.registry.getSession(late.session), undefined);
    t.is(n1.sessions.ownerOf(late.session), undefined);
    t.truthy((await r.open(n1, 'b', '1.0.1')).session, 'the place is free again');
  } finally {
    await r.close();
  }
});
