// [issue 19.6] A session.open that finishes after its request's deadline: the box gave up on it
// (it retries with a new request), so the node must not keep that session and its portion
// instance. At 18,000 arriving light boxes a saturated node kept them: 17,390 sessions for 6,145
// boxes up (bench -- scale). Deterministic tier: one node, a manual clock, no sockets.
import test from 'ava';
import { checkOpenReply } from '../../runtime/index.ts';
import { openRig } from '../_helpers/open-rig.ts';

test('an open that finishes after its deadline is ended at once and counted; one in time is kept', async (t) => {
  const { n1, clock, registry, open } = await openRig(t);
  const inTime = checkOpenReply(await n1.sessions.handle(open('b1', clock.now() + 5000, 1)));
  t.is(n1.sessions.count, 1);
  // The box gives up at its deadline while the node is still opening (its registry claim and
  // portion start are awaited): the clock passes the deadline before the open completes.
  const pending = n1.sessions.handle(open('b2', clock.now() + 5000, 2));
  clock.advance(5001);
  const late = checkOpenReply(await pending);
  t.is(n1.sessions.count, 1, 'only the session in time is held');
  t.is(n1.sessions.lateOpens.ended, 1);
  t.is(await registry.getSession(late.session), undefined, 'its record is gone');
  t.not(await registry.getSession(inTime.session), undefined);
});

test('an open without a deadline is kept whatever the clock does', async (t) => {
  const { n1, clock, open } = await openRig(t);
  const env = open('b3', 0, 3);
  delete env.deadline;
  const pending = n1.sessions.handle(env);
  clock.advance(60_000);
  checkOpenReply(await pending);
  t.is(n1.sessions.count, 1);
  t.is(n1.sessions.lateOpens.ended, 0);
});

test('a late open that continues a session (it names it as previous) does not end it: the session existed before the request', async (t) => {
  const { n1, clock, registry, open } = await openRig(t);
  const first = checkOpenReply(await n1.sessions.handle(open('b4', clock.now() + 5000, 4)));
  // The box gave the session up on a dead path and opens again naming it; the node is slow.
  const again = open('b4', clock.now() + 5000, 5);
  (again.body as { previous?: string }).previous = first.session;
  const pending = n1.sessions.handle(again);
  clock.advance(5001);
  const continued = checkOpenReply(await pending);
  t.is(continued.session, first.session, 'the same session, continued');
  t.is(n1.sessions.lateOpens.ended, 0, 'not ended: the box still has it, and its retry names it again');
  t.not(await registry.getSession(first.session), undefined);
});
