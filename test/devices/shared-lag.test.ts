// [issue 19, D97] SharedLag: one meter for many holds, ticking while any hold is started; a hold
// counts once however often its start() or stop() is called; one meter per clock object.
import test from 'ava';
import { ManualClock, systemClock } from '../../runtime/index.ts';
import { LagMeter } from '../../sandbox/index.ts';
import { SharedLag, sharedLag } from '../../devices/index.ts';

test('the meter ticks once per period for any number of holds, and stops with the last', (t) => {
  const clock = new ManualClock();
  const shared = new SharedLag(clock);
  const holds = Array.from({ length: 50 }, () => shared.hold());
  for (const h of holds) h.start();
  t.is(clock.pending, 1, 'one timer for 50 holds');
  clock.advance(1000);
  t.deepEqual(shared.stats(), { holders: 50, starts: 1, ticks: 10 });
  for (const h of holds.slice(1)) h.stop();
  t.is(clock.pending, 1, 'one hold left keeps it ticking');
  holds[0]?.stop();
  t.is(clock.pending, 0, 'no hold: no timer');
  clock.advance(1000);
  t.is(shared.stats().ticks, 10);
  holds[0]?.start();
  t.deepEqual(shared.stats(), { holders: 1, starts: 2, ticks: 10 }, 'a hold started again starts it again');
  holds[0]?.stop();
});

test('a hold stopped twice or started twice counts once, so it cannot end another box hold', (t) => {
  const clock = new ManualClock();
  const shared = new SharedLag(clock);
  const a = shared.hold();
  const b = shared.hold();
  a.start();
  a.start();
  b.start();
  a.stop();
  a.stop();
  t.is(shared.stats().holders, 1);
  t.is(clock.pending, 1, 'b still holds the meter');
  b.stop();
  t.is(shared.stats().holders, 0);
  b.stop();
  t.is(shared.stats().holders, 0, 'never below zero');
});

test('holds read and feed the one meter: guest time one box reported is not lag for another', (t) => {
  const clock = new ManualClock();
  let now = 0;
  // The thread's own reading runs 30 ms ahead of the timers each period: a tick 30 ms late.
  const late = (): void => {
    now += 130;
    clock.advance(100);
  };
  const shared = new SharedLag(clock, new LagMeter({ clock, now: () => now, window: 1 }));
  const a = shared.hold();
  const b = shared.hold();
  a.start();
  b.start();
  late();
  t.is(a.value(), 30, 'a late tick is lag for every hold');
  t.is(b.value(), 30);
  b.busy(30);
  late();
  t.is(a.value(), 0, 'guest time b reported is subtracted from what a reads');
  a.stop();
  b.stop();
});

test('one shared meter per clock object; the system clock is the default', (t) => {
  const clock = new ManualClock();
  t.is(sharedLag(clock), sharedLag(clock));
  t.not(sharedLag(clock), sharedLag(new ManualClock()));
  t.is(sharedLag(), sharedLag(systemClock));
});
