// [issue 19.6] An open answered in time whose box never got the answer (it came after the box's own
// wait, on a loaded broker or box): the box opens again, and the first session is never confirmed.
// At 18,000 light boxes the node held 27,904 sessions so (wave 14). A box confirms the session it
// runs with client-started [c42]; one not confirmed within the window is ended and counted.
// Deterministic tier: one node, a manual clock, no sockets.
import test from 'ava';
import { checkOpenReply, type Envelope, type OpenReply } from '../../runtime/index.ts';
import { resolveQuotas } from '../../headend/node/quotas.ts';
import { nodeSource } from '../../headend/console/node-source.ts';
import { openRig } from '../_helpers/open-rig.ts';

const WINDOW_MS = 60_000; // DEFAULT_QUOTAS.unconfirmedMs

function clientStarted(box: string, r: OpenReply, id: number): Envelope {
  return { v: 1, kind: 'ctl', id, op: 'client-started', src: { vaddr: `weft://box/${box}/loader` }, dst: { vaddr: r.dasp }, body: { session: r.session, modules: ['ui'] } };
}

test('a session its box never confirms is ended one window after its open and counted; a confirmed one is kept', async (t) => {
  const { n1, clock, registry, open } = await openRig(t);
  const confirmed = checkOpenReply(await n1.sessions.handle(open('b1', clock.now() + 5000, 1)));
  const lost = checkOpenReply(await n1.sessions.handle(open('b2', clock.now() + 5000, 2)));
  t.is(n1.sessions.lateOpens.waiting, 2, 'both wait for their box');
  n1.dispatch(clientStarted('b1', confirmed, 3)); // through the node's dispatch, as from the box's ingress
  t.is(n1.sessions.lateOpens.waiting, 1, 'b1 confirmed');
  clock.advance(WINDOW_MS - 1);
  await n1.sessions.lateOpens.sweep();
  t.not(await registry.getSession(lost.session), undefined, 'not before the window');
  clock.advance(2);
  await n1.sessions.lateOpens.sweep();
  t.is(await registry.getSession(lost.session), undefined, 'the unconfirmed session is gone');
  t.deepEqual(n1.sessions.lateOpens.unconfirmed, { ended: 1, failed: 0 });
  t.like(nodeSource(n1).snapshot().counters, { sessions_unconfirmed_ended: 1, sessions_unconfirmed_failed: 0 }, 'in the metrics and the console');
  t.not(await registry.getSession(confirmed.session), undefined, 'the confirmed one stays');
  t.is(n1.sessions.count, 1);
  t.is(n1.sessions.lateOpens.waiting, 0);
});

test('a box that opens again after losing the answer ends with one session once the window passes', async (t) => {
  const { n1, clock, registry, open } = await openRig(t);
  // The first answer never reached the box: it opens again and confirms the second.
  const first = checkOpenReply(await n1.sessions.handle(open('b3', clock.now() + 5000, 4)));
  clock.advance(5000);
  const second = checkOpenReply(await n1.sessions.handle(open('b3', clock.now() + 5000, 5)));
  t.not(first.session, second.session);
  n1.dispatch(clientStarted('b3', second, 6));
  t.is(n1.sessions.count, 2, 'both held while the first may still be confirmed');
  clock.advance(WINDOW_MS);
  await n1.sessions.lateOpens.sweep();
  t.is(n1.sessions.count, 1);
  t.is(await registry.getSession(first.session), undefined);
  t.not(await registry.getSession(second.session), undefined);
});

test('a session that ended before its window is not looked up again', async (t) => {
  const { n1, clock, open } = await openRig(t);
  const r = checkOpenReply(await n1.sessions.handle(open('b4', clock.now() + 5000, 7)));
  await n1.sessions.handle({ v: 1, kind: 'req', id: 8, op: 'session.close', src: { vaddr: 'weft://box/b4/loader' }, dst: { vaddr: 'weft://headend/n1/sessions' }, body: { session: r.session } });
  t.is(n1.sessions.lateOpens.waiting, 0, 'closed by its box: nothing waits');
  clock.advance(WINDOW_MS);
  await n1.sessions.lateOpens.sweep();
  t.deepEqual(n1.sessions.lateOpens.unconfirmed, { ended: 0, failed: 0 });
});

test('the window is a quota option, validated by name', (t) => {
  t.is(resolveQuotas({ unconfirmedMs: 5000 }).unconfirmedMs, 5000);
  t.is(resolveQuotas({}).unconfirmedMs, WINDOW_MS);
  t.throws(() => resolveQuotas({ unconfirmedMs: 0 }), { message: /unconfirmedMs/ });
});

test('a registry look that fails is counted and made again a window later', async (t) => {
  const { n1, clock, registry, open } = await openRig(t);
  const r = checkOpenReply(await n1.sessions.handle(open('b5', clock.now() + 5000, 9)));
  const getSession = registry.getSession.bind(registry);
  let down = true;
  registry.getSession = (id) => (down ? Promise.reject(new Error('registry unreachable')) : getSession(id));
  clock.advance(WINDOW_MS);
  await n1.sessions.lateOpens.sweep();
  t.deepEqual(n1.sessions.lateOpens.unconfirmed, { ended: 0, failed: 1 });
  t.is(n1.sessions.lateOpens.waiting, 1, 'still waited on');
  down = false;
  clock.advance(WINDOW_MS);
  await n1.sessions.lateOpens.sweep();
  t.deepEqual(n1.sessions.lateOpens.unconfirmed, { ended: 1, failed: 1 });
  t.is(await registry.getSession(r.session), undefined);
});
