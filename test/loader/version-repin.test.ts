// A version switch whose head-end code is the old version's byte for byte (equal hashes of the
// non-client modules in the two signed manifests the box verified) is only a re-pin on the
// head-end (D57): the box keeps its session at once and its new version's first requests go
// without waiting for the open's answer (D86). With other head-end code they wait, as before.
// The open is held at the head-end in both cases, as on a loaded head-end with a wave re-pairing.
import test, { type ExecutionContext } from 'ava';
import { loadEngine } from '../../sandbox/index.ts';
import { SERVER, type BuiltApp, guideApp, signer } from '../_helpers/box-app.ts';
import { boxUpOn } from '../_helpers/box-up.ts';

const engine = await loadEngine();
const keys = await signer();

/** Up on 1.0.0; `next` goes on air with its open held at the head-end until `answer()`. */
async function switchWithOpenHeld(t: ExecutionContext, next: BuiltApp) {
  // The open's own deadline outlasts the test's steps: a held open that expired would end the kept session.
  const { he, feed, box } = await boxUpOn(t, engine, keys, await guideApp(keys, { version: '1.0.0' }), { requestTimeoutMs: 60_000 });
  const first = box.session?.session as string;
  let answer!: () => void;
  const held = new Promise<void>((r) => (answer = r));
  // The new version's open reached the head-end: its ui has started (the box opens once it runs).
  const reached = new Promise<void>((r) => (he.gateOpen = (req) => (req.version === next.manifest.version ? (r(), held) : undefined)));
  feed.update(next.set);
  await reached;
  t.true(box.running().includes('ui') && box.app?.manifest.version === next.manifest.version);
  return { he, box, first, answer };
}

const waited = (box: { stats(): Record<string, unknown> }): number => (box.stats().switch as { sessionWait: { waited: number } }).sessionWait.waited;

test('equal head-end hashes: the new version\'s first request reaches the server portion on the kept session before the open is answered', async (t) => {
  const { he, box, first, answer } = await switchWithOpenHeld(t, await guideApp(keys, { version: '1.0.1' }));
  const served = he.served.length;
  const pressed = box.pressKey('now');
  await box.waitFor(() => he.served.length > served, 10_000);
  t.is(he.served.at(-1)?.session, first, 'sent on the session the box had');
  t.is(he.replies.length, 1, 'the open of 1.0.1 is still unanswered');
  t.is(box.where('server'), 'remote');
  await pressed;
  await box.waitFor((b) => b.screen('ui') !== undefined && (b.screen('ui') as { screen?: string }).screen === 'now', 10_000);
  t.like(box.screen('ui'), { screen: 'now', version: '1.0.1', title: 'News at Ten' });
  answer();
  await box.waitFor((b) => b.state === 'up' && b.session !== undefined, 20_000);
  t.is(box.session?.session, first, 'the head-end continued the session (a re-pin)');
  t.is(he.continued, 1);
  t.is(waited(box), 0, 'no request waited for the open');
  t.is(box.report().requests?.failed, 0);
});

test('different head-end code: the new version\'s first request waits for the open\'s answer, then goes', async (t) => {
  const next = await guideApp(keys, { version: '1.0.1', serverSource: `${SERVER}\n// 1.0.1` });
  const { he, box, first, answer } = await switchWithOpenHeld(t, next);
  const served = he.served.length;
  const sent = box.requests().sent;
  await box.pressKey('now'); // resolves once the ui's key handler ran: its request is made
  t.is(box.requests().sent, sent + 1);
  t.is(he.served.length, served, 'not sent while the open is unanswered');
  t.is(box.session, undefined);
  answer();
  await box.waitFor(() => he.served.length > served, 10_000);
  t.is(he.served.at(-1)?.session, first);
  t.is(waited(box), 1, 'the request waited for the session');
  await box.waitFor((b) => (b.screen('ui') as { screen?: string } | undefined)?.screen === 'now', 10_000);
  t.like(box.screen('ui'), { screen: 'now', version: '1.0.1' });
});

test('[D89] a server module whose `needs` alone changed is the same head-end code: the first request goes on the kept session before the open is answered', async (t) => {
  const { he, box, first, answer } = await switchWithOpenHeld(t, await guideApp(keys, { version: '1.0.1', serverNeeds: { memory: 4096 } }));
  const served = he.served.length;
  const pressed = box.pressKey('now');
  await box.waitFor(() => he.served.length > served, 10_000);
  t.is(he.served.at(-1)?.session, first, 'sent on the session the box had');
  t.is(box.session, undefined, 'the open of 1.0.1 is still unanswered');
  await pressed;
  answer();
  await box.waitFor((b) => b.state === 'up' && b.session !== undefined, 20_000);
  t.is(box.session?.session, first);
  t.is(waited(box), 0, 'no request waited for the open');
});

test('a manifest that claims the same head-end code but is not signed by a trusted key moves nothing: refused, no switch, no open', async (t) => {
  const v1 = await guideApp(keys, { version: '1.0.0' });
  const forged = await guideApp(await signer(), { version: '1.0.1' }); // the same server bytes, a stranger's signature
  const { he, feed, box, events } = await boxUpOn(t, engine, keys, v1);
  const first = box.session?.session;
  feed.update(forged.set);
  await box.waitFor(() => events.some((e) => e.kind === 'refused' && e.problem !== 'session'), 20_000);
  t.is(box.app?.manifest.version, '1.0.0');
  t.is(box.session?.session, first);
  t.deepEqual(he.opens.map((o) => o.version), ['1.0.0'], 'no open of the forged version');
  t.is(he.continued, 0);
});
