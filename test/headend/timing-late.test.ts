// [c16, 13.4] A heartbeat check whose timer fired late means this node's own loop was stalled
// (a busy machine): the peers' beats may be waiting unread behind it (timers run before input in
// a loop turn). The check is put off one turn, once, then judges. Before, a stall declared live
// peers dead (a replica went to the wrong node in a stress run: the right one looked dead).
import test from 'ava';
import { TimingProcess, type Heartbeat } from '../../headend/stats/timing.ts';
import { StallClock } from '../_helpers/stall-clock.ts';

const I = 100;

function watcher(clock: StallClock) {
  const deaths: string[] = [];
  const p = new TimingProcess({ node: 'a', clock, intervalMs: I, onDead: (n) => deaths.push(n) });
  return { p, deaths };
}
const beat = (clock: StallClock, seq: number): Heartbeat => ({ node: 'b', incarnation: 1, seq, at: clock.now(), intervalMs: I });

test('after a stall, a beat already waiting is read before the check judges: the peer stays alive', (t) => {
  const clock = new StallClock(0);
  const { p, deaths } = watcher(clock);
  p.observe(beat(clock, 1));
  p.start();
  clock.stall(1000); // ten intervals without a turn of our loop; b's beat came in meanwhile
  clock.fire(); // the check runs first, 975 ms late
  p.observe(beat(clock, 2)); // the input read in that turn
  clock.stall(1);
  clock.fire();
  t.deepEqual(deaths, []);
  t.true(p.isAlive('b'));
  p.stop();
});

test('a peer that really went silent is still declared dead, one turn after the late check', (t) => {
  const clock = new StallClock(0);
  const { p, deaths } = watcher(clock);
  p.observe(beat(clock, 1));
  p.start();
  clock.stall(1000);
  clock.fire();
  t.deepEqual(deaths, [], 'not in the late turn');
  clock.stall(1);
  clock.fire();
  t.deepEqual(deaths, ['b']);
  p.stop();
});

test('on time, the check judges on time: dead within missedBeats + 0.75 intervals', (t) => {
  const clock = new StallClock(0);
  const { p, deaths } = watcher(clock);
  p.observe(beat(clock, 1));
  p.start();
  for (let k = 0; k < 11 && deaths.length === 0; k++) {
    clock.stall(I / 4);
    clock.fire();
  }
  t.deepEqual(deaths, ['b']);
  t.true(clock.now() <= 2.75 * I);
  p.stop();
});
