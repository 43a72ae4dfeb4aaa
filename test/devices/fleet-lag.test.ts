// [issue 19] The boxes of one fleet process measure event-loop lag with one meter per clock, not
// one per running app: an idle fleet of N boxes ticks one timer every 100 ms instead of N, and
// the meter stops when the last box stops. A box alone (the firmware) keeps a meter of its own.
import test from 'ava';
import { LagMeter, loadEngine } from '../../sandbox/index.ts';
import { ManualClock } from '../../runtime/index.ts';
import { SharedLag, parseMix, profile, startFleet } from '../../devices/index.ts';
import { guideApp, signer } from '../_helpers/box-app.ts';
import { carouselFeed, makeBox } from '../_helpers/box-fixtures.ts';

const engine = await loadEngine();
const keys = await signer();

/** The LagMeters started and not stopped since, seen through their public start() and stop(). */
function watchMeters(): { running: Set<LagMeter>; starts: () => number; restore: () => void } {
  const proto = LagMeter.prototype;
  const { start, stop } = proto;
  const running = new Set<LagMeter>();
  let starts = 0;
  proto.start = function (this: LagMeter) {
    starts++;
    running.add(this);
    start.call(this);
  };
  proto.stop = function (this: LagMeter) {
    running.delete(this);
    stop.call(this);
  };
  return { running, starts: () => starts, restore: () => Object.assign(proto, { start, stop }) };
}

test.serial('20 boxes running an app in one process tick one lag meter, stopped with the last box', async (t) => {
  const meters = watchMeters();
  t.teardown(meters.restore);
  const app = await guideApp(keys);
  const fleet = await startFleet({ count: 20, mix: parseMix('broadcast-only:1'), engine, tuner: carouselFeed(app.set).tuner, trusted: keys.trusted, staggerMs: 1 });
  t.teardown(() => fleet.stop());
  await Promise.all(fleet.boxes.map((b) => b.box.waitFor((x) => x.state === 'degraded', 30_000)));
  const apps = fleet.boxes.filter((b) => b.box.stats().app !== undefined).length;
  t.is(apps, 20, 'every box runs its app');
  t.is(meters.running.size, 1, `${meters.running.size} lag meters tick for 20 running apps`);
  await Promise.all(fleet.boxes.slice(1).map((b) => b.stop()));
  t.is(meters.running.size, 1, 'the last box still running keeps the meter');
  await fleet.boxes[0]?.stop();
  t.is(meters.running.size, 0, 'no box left: the meter stopped');
});

test.serial('boxes made by the loader alone (the firmware) keep a meter each; an injected lag replaces it', async (t) => {
  const meters = watchMeters();
  t.teardown(meters.restore);
  const app = await guideApp(keys);
  const alone = ['box-a', 'box-b'].map((boxId) => makeBox(engine, keys.trusted, carouselFeed(app.set).tuner, undefined, { boxId, profile: profile('broadcast-only') }));
  const shared = new SharedLag(new ManualClock());
  const injected = makeBox(engine, keys.trusted, carouselFeed(app.set).tuner, undefined, { boxId: 'box-c', profile: profile('broadcast-only'), lag: () => shared.hold() });
  const all = [...alone, injected];
  t.teardown(async () => {
    for (const b of all) await b.box.stop();
  });
  for (const b of all) await b.box.start();
  await Promise.all(all.map((b) => b.box.waitFor((x) => x.state === 'degraded', 30_000)));
  t.is(meters.running.size, 3, 'two meters of their own and the injected one');
  t.is(shared.stats().holders, 1, 'box-c holds the injected meter');
  await injected.box.stop();
  t.is(shared.stats().holders, 0, 'and lets it go when it stops');
});
