// [issue 19, build 5] A fleet's boxes share one demux: each section is decoded once per process
// (not once per box), idle boxes are handed no blocks, and modules are verified once and shared.
import test from 'ava';
import { loadEngine } from '../../sandbox/index.ts';
import { TunerFanout, profile } from '../../devices/index.ts';
import type { Tuner } from '../../loader/index.ts';
import { guideApp, signer } from '../_helpers/box-app.ts';
import { carouselFeed, makeBox } from '../_helpers/box-fixtures.ts';

const engine = await loadEngine();
const keys = await signer();

test('boxes on one fan-out boot from one demux; their receivers decode nothing themselves', async (t) => {
  const app = await guideApp(keys);
  const feed = carouselFeed(app.set);
  const fan = new TunerFanout(feed.tuner);
  const boxes = ['box-1', 'box-2', 'box-3'].map((boxId) => makeBox(engine, keys.trusted, fan.tuner(), undefined, { boxId, profile: profile('broadcast-only') }));
  t.teardown(async () => {
    for (const b of boxes) await b.box.stop();
  });
  for (const b of boxes) await b.box.start();
  await Promise.all(boxes.map((b) => b.box.waitFor((x) => x.state === 'degraded', 20_000)));
  const s = fan.stats();
  t.true(s.sections > 0);
  t.is(s.subscribers, 3);
  for (const b of boxes) {
    const rx = (b.box.stats().acquire as { receiver: { sections: number } }).receiver;
    t.is(rx.sections, 0, `${b.box.id} decoded no section itself`);
  }
  t.true(s.shared.hits > 0, 'modules verified by one box were shared with the others');
  // Idle now: a further stretch of carousel reaches no box as blocks, and [19.5] asks no box about
  // them once each block on air was met (a whole cycle after the last box settled).
  const past = async (n: number): Promise<void> => {
    const from = fan.stats().unwantedBlocks;
    await new Promise<void>((resolve) => {
      const check = (): void => (fan.stats().unwantedBlocks > from + n ? resolve() : void setImmediate(check));
      check();
    });
  };
  await past(300);
  const asked = fan.stats().asked;
  await past(300);
  t.is(fan.stats().asked, asked, 'idle boxes were not asked about blocks known to be wanted by none');
});

test('tools that tune raw still get datagrams, beside subscribed boxes; the last to leave closes the source', async (t) => {
  let opened = 0;
  let closed = 0;
  let sink: ((d: Uint8Array) => void) | undefined;
  const source: Tuner = {
    tune: (onData) => {
      opened++;
      sink = onData;
      return Promise.resolve({ close: async () => void closed++ });
    },
  };
  const fan = new TunerFanout(source);
  const got: Uint8Array[] = [];
  const a = await fan.tuner().tune((d) => got.push(d));
  const b = await fan.tuner().subscribe?.({ pid: 0x200, wants: () => true, pushMessage: () => {} });
  sink?.(new Uint8Array(188 * 7));
  t.is(got.length, 1);
  t.is(opened, 1);
  await a.close();
  t.is(closed, 0);
  await b?.close();
  await b?.close(); // idempotent: does not close for another box
  t.is(closed, 1);
});
