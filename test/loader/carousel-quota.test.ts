// [issue 12, finding 6] A box holds no more for carousel modules than its profile allows: an app
// announced past the quota is refused at its DII, surfaced as a one-line refusal, and never runs.
import test from 'ava';
import { profile } from '../../devices/profiles.ts';
import { loadEngine } from '../../sandbox/index.ts';
import { carouselQuotaFor } from '../../loader/index.ts';
import { guideApp, signer } from '../_helpers/box-app.ts';
import { carouselFeed, makeBox } from '../_helpers/box-fixtures.ts';

const engine = await loadEngine();
const keys = await signer();

test('a profile whose app memory is smaller than the app refuses it at the DII and runs nothing', async (t) => {
  const app = await guideApp(keys, { uiPadding: 300_000 });
  const small = { ...profile('broadcast-only'), appMemoryBytes: 262_144 };
  const feed = carouselFeed(app.set);
  const tb = makeBox(engine, keys.trusted, feed.tuner, undefined, { profile: small });
  t.teardown(() => tb.box.stop());
  await tb.box.start();
  await tb.box.waitFor(() => tb.events.some((e) => e.kind === 'refused' && e.problem === 'carousel-quota'), 10_000);
  const refusal = tb.events.find((e) => e.kind === 'refused' && e.problem === 'carousel-quota');
  t.true(refusal?.kind === 'refused' && /over this box's 262144-byte module quota/.test(refusal.message) && !refusal.message.includes('\n'));
  const acq = tb.box.stats().acquire as { overQuota: number; receiver: { heldBytes: number; quotaRefused: number } };
  t.true(acq.overQuota >= 1);
  t.true(acq.receiver.heldBytes <= 262_144, `held ${acq.receiver.heldBytes}`);
  t.deepEqual(tb.box.running(), []);
});

test('the quota comes from the profile: every shipped profile fits the guide app', async (t) => {
  const app = await guideApp(keys);
  const total = app.set.modules.reduce((a, m) => a + m.bytes.length, 0);
  for (const id of ['legacy-sd', 'hd-dvr', 'modern-4k', 'broadcast-only']) t.true(carouselQuotaFor(profile(id)) >= total, id);
  t.is(carouselQuotaFor(profile('legacy-sd')), profile('legacy-sd').appMemoryBytes);
});
