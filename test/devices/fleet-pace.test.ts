// The fleet's arrival gate [issue 19.5]: a box whose arrival has come is held while its process's
// loop is busy or too many of its boxes are booting, and the hold is counted apart from its boot.
// Fake clock, loop meter and sleep: every number below is exact.
import test from 'ava';
import { ArgumentError } from '../../runtime/index.ts';
import { BootPacer, FleetWatch } from '../../devices/index.ts';

function rig(booting = 0) {
  const s = { t: 0, active: 0, idle: 0, booting, settled: 0, onSleep: (): void => {} };
  const pacer = new BootPacer(
    { booting: () => s.booting, settled: () => s.settled },
    {
      now: () => s.t,
      loop: () => ({ active: s.active, idle: s.idle }),
      // Waiting at the gate is idle loop time.
      sleep: (ms) => {
        s.t += ms;
        s.idle += ms;
        s.onSleep();
        return Promise.resolve();
      },
    },
  );
  return { s, pacer };
}

test('a box is held while the loop was busy over the last window, and starts once it has room', async (t) => {
  const { s, pacer } = rig();
  t.is(pacer.utilisation(), 0);
  s.t = 300;
  s.active = 300; // 300 ms of work without a pause: utilisation 1
  // Held in 20 ms steps until the window's utilisation is at most 0.6: 300 / 500 at t = 500.
  t.is(await pacer.admit(), 200);
  t.is(await pacer.admit(), 0, 'the next one goes at once');
  t.deepEqual(pacer.takeHeld(), [200, 0]);
  t.deepEqual(pacer.takeHeld(), []);
  t.like(pacer.stats(), { held: 1, heldMs: 200 });
});

test('a box is held while the process has its most boxes booting', async (t) => {
  const { s, pacer } = rig(100);
  let sleeps = 0;
  s.onSleep = () => {
    if (++sleeps === 3) s.booting = 99; // one came up
  };
  t.is(await pacer.admit(), 60);
});

test('the capacity is the boots finished per second of loop time, times the utilisation bound', (t) => {
  const { s, pacer } = rig();
  t.is(pacer.stats().capacityPerS, null, 'nothing measured yet');
  s.t = 10_000;
  s.active = 2_000;
  s.idle = 8_000;
  s.settled = 100;
  t.is(pacer.stats().capacityPerS, (100 * 0.6) / 2); // 100 boots in 2 s of loop: 50/s at full, 30/s at 0.6
});

test('the gate refuses unknown options and out-of-range bounds by name', (t) => {
  const p = { booting: () => 0, settled: () => 0 };
  t.throws(() => new BootPacer(p, { maxUtilisation: 0 }), { instanceOf: ArgumentError, message: /maxUtilisation/ });
  t.throws(() => new BootPacer(p, { maxBooting: 0.5 }), { instanceOf: ArgumentError, message: /maxBooting/ });
  t.throws(() => new BootPacer(p, { rate: 3 } as never), { instanceOf: ArgumentError, message: /rate/ });
});

test('the watch counts a box booting from its start until it is up or degraded, once', (t) => {
  let now = 0;
  const w = new FleetWatch(() => now);
  w.starting('a');
  w.starting('b');
  t.is(w.booting(), 2);
  now = 700;
  w.event('a', { kind: 'state', to: 'up' });
  w.event('b', { kind: 'state', to: 'degraded' });
  w.event('b', { kind: 'state', to: 'up' }); // a later recovery is not a second boot end
  t.is(w.booting(), 0);
  t.is(w.settled(), 2);
  t.deepEqual(w.takeBooted(), [700, 700]);
});

test('the watch adds up where each boot\'s time went, state by state, over the boxes that came up', (t) => {
  let now = 0;
  const w = new FleetWatch(() => now);
  w.starting('a');
  now = 100;
  w.event('a', { kind: 'state', to: 'tuning' });
  now = 400;
  w.event('a', { kind: 'state', to: 'starting' });
  now = 1_000;
  w.event('a', { kind: 'state', to: 'up' });
  w.starting('b'); // not up yet: not counted
  now = 5_000;
  w.event('b', { kind: 'state', to: 'tuning' });
  t.deepEqual(w.phaseMs, { off: 100, tuning: 300, starting: 600 });
});

test('the watch knows the span of its starts: the arrival rate the fleet really offered', (t) => {
  let now = 50;
  const w = new FleetWatch(() => now);
  t.is(w.startSpanMs(), 0);
  w.starting('a');
  now = 2_050;
  w.starting('b');
  t.is(w.startSpanMs(), 2_000);
});

test('a box the process got to after its arrival counts as held for the time it was late', async (t) => {
  const { s, pacer } = rig();
  s.t = 1_000;
  t.is(await pacer.admit(700), 300, 'due at 700, started at 1,000 with the gate open');
  t.is(await pacer.admit(1_200), 0, 'due later than now: on time');
});
