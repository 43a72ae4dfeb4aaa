// A box that switches app version continues its session (issue 15.6-7): the old version's
// session is not closed; the new version's session.open names it as `previous`, so the head-end
// switches the server portion in place and client and server change versions at the same point.
import test, { type ExecutionContext } from 'ava';
import { profile } from '../../devices/profiles.ts';
import { Codes } from '../../runtime/index.ts';
import { loadEngine } from '../../sandbox/index.ts';
import { guideApp, signer } from '../_helpers/box-app.ts';
import { boxBroker, carouselFeed, makeBox, teardownInOrder } from '../_helpers/box-fixtures.ts';
import { Responder } from '../_helpers/headend-responder.ts';
import { boxUpOn } from '../_helpers/box-up.ts';

const engine = await loadEngine();
const keys = await signer();

/** A modern-4k box up on 1.0.0 against a head-end serving it; 1.0.1 ready to go on the carousel. */
async function upOnFirstVersion(t: ExecutionContext) {
  const v1 = await guideApp(keys, { version: '1.0.0' });
  const v2 = await guideApp(keys, { version: '1.0.1' });
  return { v2, ...(await boxUpOn(t, engine, keys, v1)) };
}

test('a new version on the carousel: the box opens its session again naming the previous one, and does not close it', async (t) => {
  const { v2, he, feed, box } = await upOnFirstVersion(t);
  const first = box.session?.session as string;
  t.is(he.opens.length, 1);
  t.is(he.opens[0]?.previous, undefined, 'a first open continues nothing');
  feed.update(v2.set);
  await box.waitFor((b) => he.opens.some((o) => o.version === '1.0.1') && b.session !== undefined && b.state === 'up', 20_000);
  const second = he.opens.find((o) => o.version === '1.0.1');
  t.is(second?.version, '1.0.1');
  t.is(second?.previous, first, 'the open of the new version names the session of the old one');
  t.deepEqual(he.closes, [], 'the old session was not closed: the head-end switches it');
});

test('a head-end that does not serve the box\'s version answers VERSION_MISMATCH: the box opens again on its version and comes up', async (t) => {
  const app = await guideApp(keys, { version: '1.0.0' });
  const broker = await boxBroker();
  const he = await Responder.start({ url: broker.url, engine, app, trusted: keys.trusted, refuse: 1, refuseCode: Codes.VERSION_MISMATCH });
  const { box, events } = makeBox(engine, keys.trusted, carouselFeed(app.set).tuner, broker.url, { profile: profile('modern-4k') });
  teardownInOrder(t, box, he, broker);
  await box.start();
  await box.waitFor((b) => b.state === 'up', 20_000);
  t.is(he.opens.length, 2, 'refused once, then opened');
  t.deepEqual(he.opens.map((o) => o.version), ['1.0.0', '1.0.0']);
  t.true(events.some((e) => e.kind === 'refused' && e.problem === 'session'), 'the refusal reached the box\'s observers');
});

test('the box counts its requests across versions: its report\'s ledger is the box\'s, not the running version\'s (issue 15.6, requests_lost)', async (t) => {
  const { v2, he, feed, box } = await upOnFirstVersion(t);
  for (let i = 0; i < 2; i++) await box.ask('epg', { op: 'now' }).catch(() => undefined);
  t.is(box.report().requests?.sent, 2);
  feed.update(v2.set);
  await box.waitFor((b) => he.opens.some((o) => o.version === '1.0.1') && b.session !== undefined && b.state === 'up', 20_000);
  await box.ask('epg', { op: 'now' }).catch(() => undefined);
  const after = box.report().requests;
  t.is(after?.sent, 3, 'the two of 1.0.0 are still counted after the switch');
  // An overdue request (ended by the ledger's own timer, a loaded loop) is also counted failed: not added twice.
  t.is((after?.ok ?? 0) + (after?.retried ?? 0) + (after?.failed ?? 0), 3, 'each ended once');
});

test('a request in flight when the box switches version is answered to the old version\'s caller before the switch, not failed CLOSED (issue 15: requests_lost)', async (t) => {
  const { v2, he, feed, box, events } = await upOnFirstVersion(t);
  let reached!: () => void;
  const atServer = new Promise<void>((r) => (reached = r));
  let answer!: () => void;
  he.gate = (m) => (m === 'server' ? (reached(), new Promise<void>((r) => (answer = r))) : undefined);
  const before = box.report().requests;
  void box.pressKey('now'); // the ui asks the server portion; the head-end holds the answer
  await atServer;
  feed.update(v2.set);
  // The box has decided to switch (the table's restart of the app) while the request is in flight.
  await box.waitFor(() => events.some((e) => e.kind === 'state' && e.action === 'restart-app'), 20_000);
  he.gate = undefined;
  answer();
  await box.waitFor((b) => b.state === 'up' && b.app?.manifest.version === '1.0.1' && b.session !== undefined, 20_000);
  const after = box.report().requests;
  t.is((after?.failed ?? 0) - (before?.failed ?? 0), 0, 'no request failed: the switch waited for the answer');
  t.is((after?.ok ?? 0) - (before?.ok ?? 0), 1, 'the request was answered');
  t.true(events.some((e) => e.kind === 'scene' && (e.scene as { screen?: string; version?: string }).screen === 'now' && (e.scene as { version?: string }).version === '1.0.0'), 'the old ui showed the answer');
});

test('a request still unanswered when the switch\'s 5 s wait ends is answered after the switch, not failed CLOSED (issue 15: the old version\'s channels stay)', async (t) => {
  const { v2, he, feed, box } = await upOnFirstVersion(t);
  let reached!: () => void;
  const atServer = new Promise<void>((r) => (reached = r));
  let answer!: () => void;
  he.gate = (m) => (m === 'server' ? (reached(), new Promise<void>((r) => (answer = r))) : undefined);
  const before = box.report().requests;
  // Its own deadline (30 s) outlasts the switch's wait: the head-end answers once the box switched.
  const asked = box.ask('server', { op: 'now' }, 30_000).then(
    (value) => ({ ok: true, value }),
    (error: unknown) => ({ ok: false, value: (error as Error).message }),
  );
  await atServer;
  he.gate = undefined;
  feed.update(v2.set);
  await box.waitFor((b) => b.state === 'up' && b.app?.manifest.version === '1.0.1' && b.session !== undefined, 30_000);
  answer();
  const r = await asked;
  t.true(r.ok, `answered, not cut by the switch: ${JSON.stringify(r.value)}`);
  t.like(r.value, { title: 'News at Ten' });
  const after = box.report().requests;
  t.is((after?.failed ?? 0) - (before?.failed ?? 0), 0);
  t.is((after?.ok ?? 0) - (before?.ok ?? 0), 1);
});
