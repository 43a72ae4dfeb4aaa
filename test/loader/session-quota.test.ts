// [issue 19.6] A head-end past its setup capacity answers session.open QUOTA (data.quota
// 'setups', data.retryAfterMs): the box waits the hint plus seeded jitter, capped, in
// session-setup, and opens again. It does not fall back (no fallback tiers, no degraded), and it
// is not a failure or a dead path. Before, a QUOTA was a failed setup: the box went to its
// fallback tiers and re-opened at once, ignoring the hint.
import test from 'ava';
import { profile } from '../../devices/profiles.ts';
import { Codes, RemoteError, seededRandom } from '../../runtime/index.ts';
import { loadEngine } from '../../sandbox/index.ts';
import type { BoxEvent } from '../../loader/index.ts';
import { SessionSetupError } from '../../loader/errors.ts';
import { QUOTA_WAIT_CAP_MS, quotaWaitMs } from '../../loader/session-quota.ts';
import { guideApp, signer } from '../_helpers/box-app.ts';
import { boxBroker, carouselFeed, makeBox, teardownInOrder } from '../_helpers/box-fixtures.ts';
import { Responder } from '../_helpers/headend-responder.ts';

const quota = (data: unknown): RemoteError => new RemoteError(Codes.QUOTA, 'busy', data);

test('the wait is the hint plus up to half of it again, capped: a hostile hint cannot park a box for an hour', (t) => {
  const r = seededRandom(3);
  for (let i = 0; i < 50; i++) {
    const ms = quotaWaitMs(quota({ quota: 'setups', retryAfterMs: 2000 }), r) as number;
    t.true(ms >= 2000 && ms <= 3000, `${ms}`);
  }
  t.is(quotaWaitMs(quota({ quota: 'setups', retryAfterMs: 3_600_000 }), () => 0.99), QUOTA_WAIT_CAP_MS);
  t.is(quotaWaitMs(quota({ quota: 'setups', retryAfterMs: 0 }), () => 0), 100, 'no busy loop on a zero hint');
  // Through the setup error that wraps it (loader/session-setup.ts).
  t.is(quotaWaitMs(new SessionSetupError('open', Codes.QUOTA, 'busy', { cause: quota({ quota: 'setups', retryAfterMs: 500 }) }), () => 0), 500);
  for (const data of [undefined, { quota: 'sessions', retryAfterMs: 500 }, { quota: 'setups' }, { quota: 'setups', retryAfterMs: Number.NaN }, { quota: 'setups', retryAfterMs: -1 }, { quota: 'setups', retryAfterMs: '500' }]) {
    t.is(quotaWaitMs(quota(data), () => 0), undefined, JSON.stringify(data));
  }
  t.is(quotaWaitMs(new RemoteError(Codes.NO_CAPACITY, 'x', { quota: 'setups', retryAfterMs: 5 }), () => 0), undefined, 'another code');
});

test('a full box answered QUOTA (setups) waits the hint and opens again, without falling back', async (t) => {
  const engine = await loadEngine();
  const keys = await signer();
  const app = await guideApp(keys);
  const broker = await boxBroker();
  const he = await Responder.start({ url: broker.url, engine, app, trusted: keys.trusted, refuse: 2, refuseCode: Codes.QUOTA, refuseData: { quota: 'setups', retryAfterMs: 200 } });
  const { box, events } = makeBox(engine, keys.trusted, carouselFeed(app.set).tuner, broker.url, { profile: profile('modern-4k'), boxId: 'box-9', random: seededRandom(11) });
  teardownInOrder(t, box, he, broker);
  await box.start();
  await box.waitFor((b) => b.state === "up", 30_000).catch((e: unknown) => { t.log(events.map((x) => JSON.stringify(x)).join("\n")); throw e; });
  const retries = events.filter((e): e is Extract<BoxEvent, { kind: 'session-retry' }> => e.kind === 'session-retry');
  t.is(he.opens.length, 3, 'two refused, the third let in');
  t.is(retries.length, 2, events.filter((e) => e.kind !== 'dial').map((x) => JSON.stringify(x)).join('\n'));
  for (const r of retries) t.true(r.inMs >= 200 && r.inMs <= 300, `waited ${r.inMs} ms for a 200 ms hint`);
  const states = box.history.map((h) => h.state);
  t.false(states.some((s) => s.startsWith('acquiring-fallback') || s === 'degraded'), states.join(' > '));
  const ch = box.stats().channel as { deadPaths: number; deadLinks: number };
  t.is(ch.deadPaths + ch.deadLinks, 0, 'no dead path');
});
