// The take rate that sizes a build's warm runtimes (sandbox/warm-rate.ts): counted per window,
// halved per idle window, a clock that goes back restarts the window; the target is clamped.
import test from 'ava';
import { TakeRate, warmTarget } from '../../sandbox/warm-rate.ts';

test('the rate is the last full window, or the current one once it is higher; idle windows halve it', (t) => {
  const r = new TakeRate(0, 1000);
  for (let i = 0; i < 50; i++) r.take(i * 20);
  t.is(r.perSec(999), 50, 'the current window already counts');
  t.is(r.perSec(1000), 50, 'the window closed at 50');
  for (let i = 0; i < 10; i++) r.take(1000 + i);
  t.is(r.perSec(1500), 50, 'a slower window does not lower it before it closes');
  t.is(r.perSec(2000), 25, 'closed at 10: the higher of 10 and half of 50');
  t.is(r.perSec(4000), 25 / 4, 'two idle windows: halved twice more');
  t.is(r.perSec(100_000_000), 0, 'long idle: nothing');
  const back = new TakeRate(5000);
  back.take(100); // the clock went back: a new window from there
  t.is(back.perSec(100), 1);
});

test('the target covers the horizon at the rate, between the floor and the cap', (t) => {
  t.is(warmTarget(0, 250, 2, 8), 2);
  t.is(warmTarget(10, 250, 2, 8), 3);
  t.is(warmTarget(1000, 250, 2, 8), 8);
  t.is(warmTarget(1000, 250, 0, 0), 0, 'a pool turned off wants nothing');
});
