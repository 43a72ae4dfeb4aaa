// docs/SECURITY.md row "sandbox: neighbour isolation" (issue 12 finding 8), the scheduling half:
// the portion worker runs the envelope of the app that used the least CPU lately. A simulated
// thread on a counter clock: a spinning app costs a full slice per event, its neighbour 1 unit.
import test from 'ava';
import { FairQueue } from '../../headend/portions/fair-queue.ts';

/** Run a thread until the neighbour's item ran; returns how many spinner items ran before it. */
function spinnerFirst(order: 'fifo' | 'fair', backlog: number): number {
  let now = 0;
  const q = new FairQueue<string>({ now: () => now });
  const fifo: [string, string][] = [];
  const push = (app: string, item: string): void => void (order === 'fifo' ? fifo.push([app, item]) : q.push(app, item));
  for (let i = 0; i < backlog; i++) push('spin', `s${i}`);
  let before = 0;
  // The first spinning event is running when the neighbour's request arrives.
  let next = order === 'fifo' ? fifo.shift() : (() => { const x = q.take(); return x && ([x.app, x.item] as [string, string]); })();
  push('good', 'g');
  while (next !== undefined) {
    const [app] = next;
    if (app === 'good') return before;
    before++;
    now += 100; // one slice
    q.charge(app, 100);
    next = order === 'fifo' ? fifo.shift() : (() => { const x = q.take(); return x && ([x.app, x.item] as [string, string]); })();
  }
  return before;
}

test('least-CPU-first: a neighbour waits for at most the one slice already running, not the backlog', (t) => {
  for (const backlog of [1, 10, 100]) {
    t.is(spinnerFirst('fifo', backlog), backlog, `arrival order: all ${backlog} spinning events first`);
    t.is(spinnerFirst('fair', backlog), 1, 'least CPU first: only the event already running');
  }
});

test('per-app order is kept; CPU use decays so a quiet app is not punished forever', (t) => {
  let now = 0;
  const q = new FairQueue<number>({ now: () => now, halfLifeMs: 100 });
  for (let i = 0; i < 3; i++) q.push('a', i);
  q.push('b', 10);
  q.charge('a', 1000);
  t.like(q.take(), { app: 'b', item: 10 });
  t.deepEqual([q.take()?.item, q.take()?.item, q.take()?.item], [0, 1, 2], 'FIFO within an app');
  t.is(q.take(), undefined);
  q.push('a', 3);
  q.push('b', 11);
  q.charge('b', 50);
  now += 1000; // ten half-lives: a's 1000 ms is now under 1 ms, b's 50 ms under 0.05
  q.charge('b', 5);
  t.is(q.take()?.app, 'a', 'a used less lately');
});

test('bounded: past maxPerApp or maxApps items are shed and counted; options are checked by name', (t) => {
  const q = new FairQueue<number>({ now: () => 0, maxPerApp: 2, maxApps: 2 });
  t.true(q.push('a', 1));
  t.true(q.push('a', 2));
  t.false(q.push('a', 3));
  t.true(q.push('b', 1));
  t.false(q.push('c', 1), 'no room for a third app while both have work');
  q.take();
  q.take();
  q.take();
  t.true(q.push('c', 1), 'idle apps are forgotten to make room');
  t.like(q.stats(), { shed: 2, served: 3, waiting: 1 });
  t.throws(() => new FairQueue({ now: () => 0, maxPerApp: 0 }), { message: /maxPerApp/ });
  t.throws(() => new FairQueue({ now: () => 0, perApp: 1 } as never), { message: /perApp/ });
});
