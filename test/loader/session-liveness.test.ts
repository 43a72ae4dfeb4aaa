// Session liveness (issue 13.1): after a head-end restart that kept nothing, the box's session is
// gone; the head-end answers NO_SESSION, the box drops the dead session (it is not `up`
// meanwhile), re-opens it after a seeded jitter with its running mutable modules' state, and the
// request, which ran nowhere, goes again on the new session. The real node answers NO_SESSION too.
import test from 'ava';
import { profile } from '../../devices/profiles.ts';
import { ReturnPath } from '../../devices/return-path.ts';
import { Channel, Codes, type Envelope, ManualClock, RemoteError, SESSIONS_VADDR, SessionOps, checkOpenReply, seededRandom } from '../../runtime/index.ts';
import { NoSessionRetries } from '../../loader/session-liveness.ts';
import { loadEngine } from '../../sandbox/index.ts';
import { MIXED_APP, signedApp } from '../_helpers/apps.ts';
import { guideApp, signer } from '../_helpers/box-app.ts';
import { boxBroker, carouselFeed, makeBox, teardownInOrder } from '../_helpers/box-fixtures.ts';
import { memoryRegistry, testNode } from '../_helpers/headend.ts';
import { Responder } from '../_helpers/headend-responder.ts';
import { aedesBroker, secretOf, transport } from '../_helpers/mqtt-fixtures.ts';

const engine = await loadEngine();
const keys = await signer();

type Scene = { screen?: string; code?: number; count?: number; n?: number } | undefined;

test('a head-end restart: NO_SESSION, the box re-opens its session with its mutable module state, and the request goes again there', async (t) => {
  const app = await guideApp(keys);
  const broker = await boxBroker();
  const he = await Responder.start({ url: broker.url, engine, app, trusted: keys.trusted, reportEveryMs: 60_000 });
  const { box } = makeBox(engine, keys.trusted, carouselFeed(app.set).tuner, broker.url, { boxId: 'box-10', profile: profile('hd-dvr'), random: seededRandom(42) });
  teardownInOrder(t, box, he, broker);
  const scene = (): Scene => box.screen('ui') as Scene;
  await box.start();
  await box.waitFor((b) => b.state === 'up', 10_000);
  t.is(box.where('search'), 'local', 'the mutable module runs on this box');
  await box.pressKey('search');
  await box.pressKey('search');
  await box.waitFor(() => scene()?.count === 2, 3000);
  const first = box.session?.session;

  he.forgetSessions(); // kill -9 and a restart with nothing kept
  await box.pressKey('now');
  await box.waitFor((b) => b.history.some((h) => h.event === 'session-lost'), 5000);
  await box.waitFor((b) => b.state === 'up' && b.session?.session !== first, 10_000);
  // NO_SESSION means it ran nowhere: the request went again on the new session.
  await box.waitFor(() => scene()?.screen === 'now', 5000);
  t.is(scene()?.n, 1, 'answered by the re-opened session\'s server portion');
  t.like(box.stats().switch, { retried: 1, noSessionFailed: 0 });

  const lostAt = box.history.findIndex((h) => h.event === 'session-lost');
  t.deepEqual(
    box.history.slice(lostAt, lostAt + 2).map((h) => [h.state, h.event]),
    [['session-setup', 'session-lost'], ['up', 'session-ready']],
    'not up again until a new session is ready',
  );
  t.is(he.opens.length, 2);
  t.deepEqual(he.opens[1]?.running?.map((r) => r.module), ['search'], 'the running mutable module offered its state');
  await box.pressKey('search');
  await box.waitFor(() => scene()?.screen === 'results', 3000);
  t.is(scene()?.count, 3, 'its state survived the re-open');
  await box.pressKey('now');
  await box.waitFor(() => scene()?.n === 2, 3000);
  t.like(box.stats().session, { lost: 1, reopened: 1 });
  t.true((box.stats().session as { noSession: number }).noSession >= 1);
});

test('an idle box whose link dropped while the head-end restarted confirms its session on reconnect, and re-opens it', async (t) => {
  const app = await guideApp(keys);
  const broker = await boxBroker();
  const path = await ReturnPath.start({ target: { host: broker.host, port: broker.port } });
  const he = await Responder.start({ url: broker.url, engine, app, trusted: keys.trusted, reportEveryMs: 60_000 });
  const { box } = makeBox(engine, keys.trusted, carouselFeed(app.set).tuner, broker.url, { boxId: 'box-11', profile: profile('hd-dvr'), dialUrl: path.url, random: seededRandom(7) });
  teardownInOrder(t, box, he, path, broker);
  await box.start();
  await box.waitFor((b) => b.state === 'up', 10_000);
  const first = box.session?.session;
  path.setMode('reset');
  await box.waitFor((b) => b.state === 'interrupted', 5000);
  he.forgetSessions(); // the head-end restarted while the box was away
  path.setMode('open');
  // Nobody presses a key: the box finds out by itself.
  await box.waitFor((b) => b.state === 'up' && b.session !== undefined && b.session.session !== first, 15_000);
  t.is(he.opens.length, 2);
  t.like(box.stats().session, { lost: 1, reopened: 1 });
});

test('the real node answers a request for a session it does not know with NO_SESSION, not a bare NOT_FOUND', async (t) => {
  const broker = await aedesBroker();
  const { pub, trusted } = await signedApp('mix', MIXED_APP);
  let registry = memoryRegistry();
  let node = await testNode({ id: 'node-1', registry, apps: [pub], trusted, mqtt: { url: broker.url, password: secretOf('node-1') } });
  const boxT = await transport(broker.url, 'box-a');
  const ch = new Channel({ self: { vaddr: 'weft://box/box-a/inbox' }, write: (e: Envelope) => boxT.send(e), timeoutMs: 10_000 });
  boxT.onEnvelope((e) => ch.receive(e));
  t.teardown(async () => {
    await boxT.close();
    await node.close();
    await registry.close();
    await broker.close();
  });
  const report = { boxId: 'box-a', profile: 'legacy-sd', freeMemoryBytes: 1 << 20, appMemoryBytes: 4 << 20, cpuClass: 'low' as const, cpuLoad: 0, storageFreeBytes: 0, sandboxBytes: 0, twoWayUp: true, at: Date.now() };
  const reply = checkOpenReply(await ch.request({ vaddr: SESSIONS_VADDR }, { app: 'mix', version: '1.0.0', boxId: 'box-a', report }, { op: SessionOps.open }));
  t.like(await ch.request({ vaddr: reply.dasp }, 'x'), { n: 1 });
  // The node dies with its in-memory registry; a new one starts under the same id.
  await node.close();
  await registry.close();
  registry = memoryRegistry();
  node = await testNode({ id: 'node-1', registry, apps: [pub], trusted, mqtt: { url: broker.url, password: secretOf('node-1') } });
  const e = await t.throwsAsync(ch.request({ vaddr: reply.dasp }, 'y'), { instanceOf: RemoteError });
  t.is((e as RemoteError).code, Codes.NO_SESSION);
  // A node endpoint nobody serves is still NOT_FOUND: only a session is re-opened.
  const other = await t.throwsAsync(ch.request({ vaddr: 'weft://headend/node-9/control' }, 'z'), { instanceOf: RemoteError });
  t.not((other as RemoteError).code, Codes.NO_SESSION);
  // Restarted again, this time keeping its registry (a SQLite file): the record names this node, which runs nothing for it.
  const again = checkOpenReply(await ch.request({ vaddr: SESSIONS_VADDR }, { app: 'mix', version: '1.0.0', boxId: 'box-a', report }, { op: SessionOps.open }));
  await node.close();
  node = await testNode({ id: 'node-1', registry, apps: [pub], trusted, mqtt: { url: broker.url, password: secretOf('node-1') } });
  const kept = await t.throwsAsync(ch.request({ vaddr: again.dasp }, 'w'), { instanceOf: RemoteError });
  t.is((kept as RemoteError).code, Codes.NO_SESSION);
});

test('NO_SESSION retries: once each, on another session, within the request\'s own deadline and a bound; the rest fail with that code, counted', async (t) => {
  const clock = new ManualClock(0);
  const r = new NoSessionRetries(clock, 2);
  const gone = new RemoteError(Codes.NO_SESSION, 'undeliverable: no route');
  let sent = 0;
  const a = r.retry(gone, 's1', () => Promise.resolve(++sent), 1000);
  const b = r.retry(gone, 's1', () => Promise.resolve(++sent), 1000);
  const c = r.retry(gone, 's1', () => Promise.resolve(++sent), 1000);
  await t.throwsAsync(c, { is: gone }, 'past the bound: the error as it came');
  r.opened('s1'); // the same session again says nothing
  t.is(sent, 0);
  r.opened('s2');
  t.deepEqual(await Promise.all([a, b]), [1, 2]);
  const late = r.retry(gone, 's2', () => Promise.resolve(++sent), 500);
  clock.advance(500);
  await t.throwsAsync(late, { is: gone }, 'no new session within its deadline');
  const other = new RemoteError(Codes.UNAVAILABLE, 'busy');
  await t.throwsAsync(r.retry(other, 's2', () => Promise.resolve(0), 500), { is: other }, 'only NO_SESSION goes again');
  t.deepEqual(r.stats, { retried: 2, noSessionFailed: 2, failed: { NO_SESSION: 2, UNAVAILABLE: 1 } });
});
