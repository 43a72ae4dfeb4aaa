// Issue 13.8: every request a box sends to the head-end ends, by its own deadline, in an answer
// (first try or after a retry) or an error its caller gets, and each is counted. Deterministic:
// a hand transport and a manual clock; the head-end's answers are written by the test.
import test from 'ava';
import { BoxSwitch } from '../../loader/switch.ts';
import { RequestLedger, overdueGraceMs, sumCounts } from '../../loader/request-ledger.ts';
import { type Clock, Codes, type Envelope, type EnvelopeHandler, ManualClock, RemoteError, TimeoutError, type Transport, checkReport, seededRandom } from '../../runtime/index.ts';
import type { Cpu } from '../../loader/ports.ts';
import { profile } from '../../devices/profiles.ts';
import { loadEngine } from '../../sandbox/index.ts';
import { guideApp, signer } from '../_helpers/box-app.ts';
import { boxBroker, carouselFeed, makeBox, teardownInOrder } from '../_helpers/box-fixtures.ts';
import { Responder } from '../_helpers/headend-responder.ts';
import { until } from '../_helpers/mqtt-fixtures.ts';
import { BOX_RECONNECT } from '../../loader/dialer-mqtt.ts';
import { DEFAULT_CHANNEL_POLICY } from '../../loader/channel-manager.ts';
import { SessionLiveness } from '../../loader/session-liveness.ts';
import { DEFAULT_BACKOFF, backoffPolicy, reconnectDelay } from '../../transport/reconnect.ts';

const cpu: Cpu = { run: async (fn) => fn(), load: () => 0, now: () => 0 };

function handTransport(): { t: Transport; sent: Envelope[]; answer: (to: Envelope, kind: 'rep' | 'err', body: unknown) => void } {
  const sent: Envelope[] = [];
  let handler: EnvelopeHandler = () => {};
  const t: Transport = {
    kind: 'hand',
    address: { vaddr: 'weft://box/b1/link' },
    closed: false,
    send: (env) => {
      sent.push(env);
      return Promise.resolve();
    },
    onEnvelope: (h) => void (handler = h),
    close: () => Promise.resolve(),
    stats: () => ({}),
  };
  const answer = (to: Envelope, kind: 'rep' | 'err', body: unknown): void => handler({ v: 1, kind, id: 9_000 + sent.length, corr: to.id, src: to.dst, dst: to.src, body });
  return { t, sent, answer };
}

function setup(): { clock: ManualClock; sw: BoxSwitch; hand: ReturnType<typeof handTransport> } {
  const clock = new ManualClock(0);
  const sw = new BoxSwitch({ app: 'guide', boxId: 'b1', cpu, clock, timeoutMs: 5000 });
  const hand = handTransport();
  sw.attach(hand.t);
  sw.setSession('s1');
  return { clock, sw, hand };
}

/** Settles the promise's outcome into a box the test can read at a chosen moment of the clock. */
function watch(p: Promise<unknown>): { state: 'pending' | 'ok' | 'failed'; error?: unknown; value?: unknown } {
  const o: { state: 'pending' | 'ok' | 'failed'; error?: unknown; value?: unknown } = { state: 'pending' };
  p.then(
    (value) => Object.assign(o, { state: 'ok', value }),
    (error: unknown) => Object.assign(o, { state: 'failed', error }),
  );
  return o;
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

test('a request answered NO_SESSION that goes again on the re-opened session still ends by its own deadline (it took a fresh one before)', async (t) => {
  const { clock, sw, hand } = setup();
  const out = watch(sw.link('ui').request({ vaddr: 'weft://guide/s1/epg' }, { op: 'channels' }, { timeoutMs: 1000 }));
  await flush();
  clock.advance(100);
  hand.answer(hand.sent[0] as Envelope, 'err', { code: Codes.NO_SESSION, message: 'undeliverable: no route' });
  await flush();
  clock.advance(800); // the box re-opens its session at 900 ms
  sw.setSession('s2');
  await flush();
  t.is(hand.sent.length, 2, 'it went again on the new session');
  t.is(hand.sent[1]?.dst.vaddr, 'weft://guide/s2/epg');
  clock.advance(100); // the request's own deadline; the new session never answers
  await flush();
  t.is(out.state, 'failed', 'the caller hears by the deadline it asked for');
  t.true(out.error instanceof TimeoutError);
  t.like(sw.stats().requests, { sent: 1, ok: 0, retried: 0, failed: 1, overdue: 0 });
});

test('a request held for a module in transit that lands on the head-end ends by its own deadline (it took the default one before)', async (t) => {
  const { clock, sw, hand } = setup();
  sw.hold('search');
  const out = watch(sw.link('ui').request({ vaddr: 'weft://guide/s1/search' }, 'q', { timeoutMs: 1000 }));
  await flush();
  clock.advance(900);
  sw.setRemote('search');
  await flush();
  t.is(hand.sent.length, 1);
  clock.advance(100);
  await flush();
  t.is(out.state, 'failed', 'no answer from the head-end: the caller hears at its deadline');
  t.true(out.error instanceof TimeoutError);
  t.like(sw.stats().requests, { sent: 1, failed: 1, overdue: 0 });
});

test('answered, answered after a retry, failed with a code: each counted once, and the sum is what was sent', async (t) => {
  const { clock, sw, hand } = setup();
  const link = sw.link('ui');
  const a = watch(link.request({ vaddr: 'weft://guide/s1/epg' }, 1, { timeoutMs: 1000 }));
  const b = watch(link.request({ vaddr: 'weft://guide/s1/epg' }, 2, { timeoutMs: 1000 }));
  const c = watch(link.request({ vaddr: 'weft://guide/s1/epg' }, 3, { timeoutMs: 1000 }));
  await flush();
  const [ea, eb, ec] = hand.sent as [Envelope, Envelope, Envelope];
  hand.answer(ea, 'rep', 'one');
  hand.answer(eb, 'err', { code: Codes.NO_SESSION, message: 'gone' });
  hand.answer(ec, 'err', { code: Codes.UNAVAILABLE, message: 'busy' });
  await flush();
  sw.setSession('s2');
  await flush();
  hand.answer(hand.sent[3] as Envelope, 'rep', 'two');
  await flush();
  t.deepEqual([a.state, b.state, c.state], ['ok', 'ok', 'failed']);
  t.is((c.error as RemoteError).code, Codes.UNAVAILABLE);
  t.deepEqual(sw.stats().requests, { sent: 3, ok: 1, retried: 1, failed: 1, overdue: 0 });
  clock.advance(10_000);
  await flush();
  t.deepEqual(sw.stats().requests, { sent: 3, ok: 1, retried: 1, failed: 1, overdue: 0 }, 'nothing counted twice later');
});

test('the ledger ends a request nothing else ended, a grace after its deadline, with a TimeoutError, counted overdue', async (t) => {
  const clock = new ManualClock(0);
  const ledger = new RequestLedger(clock);
  const out = watch(ledger.track(1000, () => new Promise(() => {}))); // dropped on the way: never settles
  clock.advance(1000 + overdueGraceMs(1000) - 1);
  await flush();
  t.is(out.state, 'pending');
  clock.advance(1);
  await flush();
  t.is(out.state, 'failed');
  t.true(out.error instanceof TimeoutError);
  t.deepEqual(ledger.counts(), { sent: 1, ok: 0, retried: 0, failed: 1, overdue: 1 });
  t.deepEqual(ledger.failedByCode(), { TIMEOUT: 1 });
  t.deepEqual(sumCounts([ledger.counts(), undefined, ledger.counts()]), { sent: 2, ok: 0, retried: 0, failed: 2, overdue: 2 });
});

test('a request failed by a closed channel (the session dropped) reaches its caller with that error, counted', async (t) => {
  const { sw } = setup();
  const out = watch(sw.link('ui').request({ vaddr: 'weft://guide/s1/epg' }, 1, { timeoutMs: 1000 }));
  await flush();
  sw.setSession(undefined);
  await flush();
  t.is(out.state, 'failed');
  t.like(sw.stats().requests, { sent: 1, failed: 1, overdue: 0 });
  t.true(out.error instanceof Error && !(out.error instanceof RemoteError && out.error.code === Codes.NO_SESSION));
});

test('the resource report carries the request counts; the head-end refuses malformed ones by name', (t) => {
  const base = { boxId: 'b1', profile: 'legacy-sd', freeMemoryBytes: 1, appMemoryBytes: 2, cpuClass: 'low', cpuLoad: 0, storageFreeBytes: 0, sandboxBytes: 0, twoWayUp: true, at: 0 };
  const requests = { sent: 3, ok: 1, retried: 1, failed: 1, overdue: 0 };
  t.deepEqual(checkReport({ ...base, requests }).requests, requests);
  t.is(checkReport(base).requests, undefined, 'optional: a box without an app has none');
  t.throws(() => checkReport({ ...base, requests: { ...requests, lost: 1 } }), { message: /report\.requests: unknown field "lost"/ });
  t.throws(() => checkReport({ ...base, requests: { ...requests, ok: -1 } }), { message: /report\.requests\.ok must be an integer >= 0/ });
  t.throws(() => checkReport({ ...base, requests: { ...requests, sent: 1.5 } }), { message: /requests\.sent/ });
});

test('a live box: what became of its requests reaches the head-end in its stats.box report', async (t) => {
  const engine = await loadEngine();
  const keys = await signer();
  const app = await guideApp(keys);
  const broker = await boxBroker();
  const he = await Responder.start({ url: broker.url, engine, app, trusted: keys.trusted, reportEveryMs: 100 });
  const { box } = makeBox(engine, keys.trusted, carouselFeed(app.set).tuner, broker.url, { boxId: 'box-12', profile: profile('hd-dvr'), random: seededRandom(3) });
  teardownInOrder(t, box, he, broker);
  await box.start();
  await box.waitFor((b) => b.state === 'up', 10_000);
  await box.pressKey('now');
  await box.waitFor(() => (box.screen('ui') as { n?: number } | undefined)?.n === 1, 5000);
  t.like(box.stats().switch, { requests: { ok: 1, failed: 0, overdue: 0 } });
  await until(() => he.reports.some((r) => r.boxId === 'box-12' && (r.requests?.ok ?? 0) >= 1), 10_000, 'a report with the answered request');
  t.like(he.reports.findLast((r) => r.requests !== undefined)?.requests, { ok: 1, retried: 0, failed: 0, overdue: 0 });
});

test('recovery budget after a head-end restart: the latest first reconnect plus the latest re-open fit well inside the 10 s goal (the 10 s reconnect window alone used it all)', (t) => {
  const policy = backoffPolicy('box', { ...DEFAULT_BACKOFF, ...BOX_RECONNECT });
  const latest = (): number => 1 - 1e-9;
  const reconnect = reconnectDelay(0, policy, latest);
  const reopen = SessionLiveness.reopenDelay(DEFAULT_CHANNEL_POLICY.background.baseMs, latest);
  // What is left (>= 2 s) pays for the CONNACK, the NO_SESSION answer and the session open.
  t.true(reconnect + reopen <= 8000, `worst case ${Math.round(reconnect + reopen)} ms before the open is sent`);
  t.true(policy.windowMs >= 1000, 'still spread: a restarted broker is not hit by the whole fleet at once');
});

test('a NO_SESSION answer that arrives after the box already re-opened its session goes again at once (it waited out its deadline for a re-open that had happened)', async (t) => {
  const { clock, sw, hand } = setup();
  const out = watch(sw.ask('epg', { op: 'channels' }, 1000)); // the loader's channel outlives the session
  await flush();
  sw.setSession('s2'); // another request's NO_SESSION made the box re-open first
  await flush();
  hand.answer(hand.sent[0] as Envelope, 'err', { code: Codes.NO_SESSION, message: 'undeliverable: no route' });
  await flush();
  t.is(hand.sent.length, 2, 'sent again without waiting');
  t.is(hand.sent[1]?.dst.vaddr, 'weft://guide/s2/epg');
  hand.answer(hand.sent[1] as Envelope, 'rep', [1, 2]);
  await flush();
  t.is(out.state, 'ok');
  t.like(sw.stats().requests, { sent: 1, retried: 1, failed: 0, overdue: 0 });
  clock.advance(5000);
});

test('the ledger never ends a request before its deadline by the clock, even when timers fire early (a loop whose cached time is stale)', async (t) => {
  const inner = new ManualClock(0);
  // The first timer comes due 400 ms early against now(), as Node's does when set at the end of a
  // 400 ms turn of the loop (its start is the turn's cached time); later ones are on time.
  let stale = 400;
  const early: Clock = {
    now: () => inner.now(),
    setTimeout: (fn, ms) => {
      const h = inner.setTimeout(fn, Math.max(0, ms - stale));
      stale = 0;
      return h;
    },
    clearTimeout: (h) => inner.clearTimeout(h),
  };
  const ledger = new RequestLedger(early);
  let answer: (v: unknown) => void = () => {};
  const out = watch(ledger.track(3000, () => new Promise((r) => (answer = r))));
  inner.advance(3000 + overdueGraceMs(3000) - 400); // the first guard timer fires here
  await flush();
  t.is(out.state, 'pending', 'still inside its deadline and grace by the clock: not overdue');
  answer('late but in time');
  await flush();
  t.is(out.state, 'ok');
  t.deepEqual(ledger.counts(), { sent: 1, ok: 1, retried: 0, failed: 0, overdue: 0 });
  inner.advance(10_000);
});

test('before a version switch the box waits for its requests in flight: settled() resolves when the last one is answered, or after its bound (issue 15.6)', async (t) => {
  const { clock, sw, hand } = setup();
  let done = false;
  const idle = (p: Promise<unknown>): void => void p.then(() => (done = true));
  idle(sw.settled(2000));
  await flush();
  t.true(done, 'nothing in flight: at once');
  const a = watch(sw.ask('search', { q: 'a' }));
  const b = watch(sw.ask('search', { q: 'b' }));
  done = false;
  idle(sw.settled(2000));
  hand.answer(hand.sent[0] as Envelope, 'rep', { hits: [] });
  await flush();
  t.is(a.state, 'ok');
  t.false(done, 'one request is still in flight');
  hand.answer(hand.sent[1] as Envelope, 'rep', { hits: [] });
  await flush();
  t.is(b.state, 'ok');
  t.true(done, 'settled once the last answer reached its caller');
  // A request that is never answered holds the switch back only for the bound.
  const c = watch(sw.ask('search', { q: 'c' }));
  done = false;
  idle(sw.settled(2000));
  clock.advance(1999);
  await flush();
  t.false(done);
  clock.advance(1);
  await flush();
  t.true(done, 'the bound passed');
  t.is(c.state, 'pending', 'the request itself is not failed by the wait: its own deadline ends it');
  t.deepEqual(sw.stats().requests, { sent: 3, ok: 2, retried: 0, failed: 0, overdue: 0 });
});
