// [issue 15.6-7, D89] A box that goes back (a failed probation, a rollback) before its forward
// switch's open was answered keeps the session the forward switch kept, when the version it goes
// back to runs the same head-end code: its first request goes at once, on that session. A session
// it has not got is never kept: with other head-end code its requests wait for an open's answer.
// The late answer of the version it left does not decide the setup of the one it runs. Every open
// that continues the session is held at the head-end until the test lets it go.
import test, { type ExecutionContext } from 'ava';
import { loadEngine } from '../../sandbox/index.ts';
import { SERVER, guideApp, signer } from '../_helpers/box-app.ts';
import { boxUpOn } from '../_helpers/box-up.ts';

const engine = await loadEngine();
const keys = await signer();

interface Held {
  version: string;
  go: () => void;
  fail: (e: Error) => void;
}

/** Up on 1.0.0; 1.0.1 (`serverSource`: other head-end code) goes on air, then 1.0.0 again, each open held. */
async function revertWithOpensHeld(t: ExecutionContext, serverSource?: string) {
  const v1 = await guideApp(keys, { version: '1.0.0' });
  // The opens' own deadline outlasts the test's steps: a held open that expired would end the session.
  const { he, feed, box, events } = await boxUpOn(t, engine, keys, v1, { requestTimeoutMs: 60_000 });
  const first = box.session?.session as string;
  const held: Held[] = [];
  const waiting = new Map<string, () => void>();
  const reached = (v: string): Promise<void> => new Promise((r) => (held.some((h) => h.version === v) ? r() : waiting.set(v, r)));
  he.gateOpen = (req) => (req.previous === undefined ? undefined : new Promise<void>((go, fail) => (held.push({ version: req.version, go, fail }), waiting.get(req.version)?.())));
  feed.update((await guideApp(keys, { version: '1.0.1', ...(serverSource === undefined ? {} : { serverSource }) })).set);
  await reached('1.0.1');
  feed.update(v1.set); // back before the forward switch's open is answered
  await reached('1.0.0');
  t.true(box.app?.manifest.version === '1.0.0' && box.running().includes('ui'));
  t.is(he.replies.length, 1, 'no open after the first one answered yet');
  return { he, box, first, held, events };
}

const waited = (box: { stats(): Record<string, unknown> }): number => (box.stats().switch as { sessionWait: { waited: number } }).sessionWait.waited;

test('back to the same head-end code before the open is answered: the first request goes at once on the session the forward switch kept', async (t) => {
  const { he, box, first, held } = await revertWithOpensHeld(t);
  const served = he.served.length;
  const pressed = box.pressKey('now');
  await box.waitFor(() => he.served.length > served, 10_000);
  t.is(he.served.at(-1)?.session, first, 'sent on the session the box had');
  t.is(box.session, undefined, 'neither open is answered');
  await pressed;
  for (const h of held) h.go(); // 1.0.1's (late: the box left it), then 1.0.0's
  await box.waitFor((b) => b.state === 'up' && b.session?.session === first, 20_000);
  t.is(he.continued, 2);
  t.is(waited(box), 0, 'no request waited for an open');
  await box.waitFor((b) => (b.screen('ui') as { screen?: string } | undefined)?.screen === 'now', 10_000);
  t.like(box.screen('ui'), { screen: 'now', version: '1.0.0' });
  t.is(box.report().requests?.failed, 0);
  // [D95] the left version's late answer named the session the box keeps: not closed.
  t.deepEqual(he.closes, []);
  t.deepEqual(box.stats().lateSessions, { closed: 0, failed: 0 });
});

test('the late failure of the left version\'s open does not fail the setup of the version the box runs: its own open answers it', async (t) => {
  const { he, box, held, events } = await revertWithOpensHeld(t);
  const [left, back] = held as [Held, Held];
  left.fail(new Error('the head-end gave up on 1.0.1'));
  await box.waitFor(() => events.some((e) => e.kind === 'refused' && e.problem === 'session'), 10_000);
  t.false(box.history.some((h) => h.event === 'session-failed'), 'no fallback for an open the box no longer waits for');
  back.go();
  await box.waitFor((b) => b.state === 'up', 20_000);
  // (This test head-end opens afresh an open of the version the session already runs.)
  t.is(box.session?.session, he.replies.at(-1)?.session, 'the session its own open answered');
  t.is(box.app?.manifest.version, '1.0.0');
});

test('back from other head-end code: nothing is kept (the forward switch kept nothing), the request waits for the open\'s answer', async (t) => {
  const { he, box, first, held } = await revertWithOpensHeld(t, `${SERVER}\n// 1.0.1`);
  const served = he.served.length;
  const sent = box.requests().sent;
  await box.pressKey('now');
  t.is(box.requests().sent, sent + 1);
  t.is(he.served.length, served, 'not sent while no open is answered');
  for (const h of held) h.go();
  await box.waitFor(() => he.served.length > served, 10_000);
  t.is(he.served.at(-1)?.session, first);
  t.is(waited(box), 1, 'the request waited for the session');
});
