// A fleet's boxes start on their schedule, not one after another's start [issue 19.5]: a start
// takes a few turns of the process's loop (its return path's listener, the tuner), and at load
// ~25 boxes started one after another's start arrived at 6/s when 18/s were offered.
import test from 'ava';
import { loadEngine } from '../../sandbox/index.ts';
import type { Tuned } from '../../loader/index.ts';
import { parseMix, startFleet, type Fleet } from '../../devices/index.ts';
import { guideApp, signer } from '../_helpers/box-app.ts';
import { carouselFeed } from '../_helpers/box-fixtures.ts';

test('a box starts when its arrival comes, while earlier boxes are still starting', async (t) => {
  const keys = await signer();
  const app = await guideApp(keys);
  const feed = carouselFeed(app.set);
  const engine = await loadEngine();
  let tuning = 0;
  let open: (() => void) | undefined;
  const opened = new Promise<void>((r) => (open = r));
  // The carousel tunes only once all three boxes have begun to boot: a box whose start waited
  // for the one before it would wait forever (the first box's start waits to be tuned).
  const tuner = {
    tune: async (onData: (d: Uint8Array) => void): Promise<Tuned> => {
      await opened;
      return feed.tuner.tune(onData);
    },
  };
  const fleet = await startFleet({
    count: 3,
    mix: parseMix('broadcast-only'),
    engine,
    tuner,
    trusted: keys.trusted,
    startAt: () => 0,
    onEvent: (_box, e) => {
      if (e.kind === 'state' && e.to === 'tuning' && ++tuning === 3) open?.();
    },
  });
  t.teardown(() => fleet.stop());
  t.is(fleet.boxes.length, 3);
  t.is(fleet.watch.booting(), 3, 'all three booting, none held: no gate');
});

// [issue 19.5] A 5,000-box fleet takes minutes to start, and its summary (cli/fleet.ts) began only
// once the last box had started: bench scale's progress lines showed no state and no CPU for the
// whole arrival phase. The fleet is handed over at once and its boxes fill in as they start.
test('the fleet is there while its boxes arrive: a box already started is counted before the last starts', async (t) => {
  const keys = await signer();
  const app = await guideApp(keys);
  const feed = carouselFeed(app.set);
  const engine = await loadEngine();
  let seen: Fleet | undefined;
  let early: { boxes: number; states: object } | undefined;
  const fleet = await startFleet({
    count: 2,
    mix: parseMix('broadcast-only'),
    engine,
    tuner: feed.tuner,
    trusted: keys.trusted,
    startAt: () => 0,
    pace: { maxBooting: 1 }, // the second box starts only once the first has booted
    onStart: (f) => (seen = f),
    onEvent: (box, e) => {
      if (box === 'box-2' && early === undefined) early = { boxes: seen?.boxes.length ?? -1, states: seen?.states() ?? {} };
      void e;
    },
  });
  t.teardown(() => fleet.stop());
  t.is(seen, fleet, 'the same fleet, handed over before its start ended');
  t.deepEqual(early, { boxes: 1, states: { degraded: 1 } }, 'box-1 counted, booted (no head-end: degraded), when box-2 started');
  t.is(fleet.boxes.map((b) => b.box.id).join(','), 'box-1,box-2');
});
