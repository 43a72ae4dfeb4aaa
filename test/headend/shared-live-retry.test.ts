// [issue 15 leftover] A live hand-over that fails (the new live code's instance could not start:
// its worker was down, the registry did not answer) was counted `liveFailed` and left: the old
// code kept the untagged address until some other event came, which might be never. It is now
// tried again on a timer that backs off while it keeps failing. Injected clock, no sleeps.
import test from 'ava';
import { fail, ManualClock, ok } from '../../runtime/index.ts';
import { DispatchTable } from '../../headend/node/table.ts';
import { LiveHandover, RETRY_MS, type LiveHost } from '../../headend/portions/shared-live.ts';
import type { AppWideCounters, Writer } from '../../headend/portions/shared-parts.ts';

const writer = (tag: string, alias: boolean, iid: string): Writer => ({ app: 'poll', tag, alias, iid, modules: ['tally'] }) as unknown as Writer;

function rig(failures: number): { clock: ManualClock; live: LiveHandover; counters: AppWideCounters; ensured: () => number; olds: Writer[]; settle: () => Promise<void> } {
  const clock = new ManualClock();
  const counters = { liveJoined: 0, liveLeft: 0, liveFailed: 0 } as AppWideCounters;
  const writers: Writer[] = [writer('a', true, 'p1')];
  let calls = 0;
  const host: LiveHost = {
    id: 'n1',
    table: new DispatchTable(),
    elastic: { leave: () => Promise.resolve(true), group: () => undefined, groups: () => [] },
    registry: { lookup: () => Promise.resolve(undefined) },
    counters,
    clock,
    writers: () => writers,
    liveTag: () => 'b',
    ensure: () => {
      calls++;
      if (calls <= failures) return Promise.resolve(fail(new Error('worker down')));
      writers.push(writer('b', false, 'p2'));
      return Promise.resolve(ok('n1'));
    },
    stopInstance: () => Promise.resolve(),
    adopt: (w) => {
      w.alias = true;
      return Promise.resolve();
    },
    retireSoon: () => {},
    log: () => {},
  };
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 20; i++) await Promise.resolve();
  };
  return { clock, live: new LiveHandover(host), counters, ensured: () => calls, olds: writers.slice(0, 1), settle };
}

test('a failed live hand-over is tried again after a second, then two: the new live code takes the address', async (t) => {
  const r = rig(2);
  r.live.changed('poll');
  await r.settle();
  t.is(r.counters.liveFailed, 1);
  t.true(r.olds[0]?.alias, 'the old code keeps answering meanwhile');
  r.clock.advance(RETRY_MS - 1);
  await r.settle();
  t.is(r.ensured(), 1, 'not before its wait');
  r.clock.advance(1);
  await r.settle();
  t.deepEqual([r.ensured(), r.counters.liveFailed], [2, 2]);
  r.clock.advance(2 * RETRY_MS - 1);
  await r.settle();
  t.is(r.ensured(), 2, 'the wait doubled');
  r.clock.advance(1);
  await r.settle();
  t.deepEqual([r.ensured(), r.counters.liveFailed, r.counters.liveJoined], [3, 2, 1]);
  t.false(r.olds[0]?.alias, 'the old code gave the address up');
  t.is(r.clock.pending, 0, 'no retry left once it took');
});

test('a change that comes while a retry waits runs at once and replaces it; close stops the retries', async (t) => {
  const r = rig(5);
  r.live.changed('poll');
  await r.settle();
  r.live.changed('poll'); // e.g. the registry's event for the untagged address
  await r.settle();
  t.is(r.ensured(), 2);
  t.is(r.clock.pending, 1, 'one retry timer, not two');
  r.live.close();
  t.is(r.clock.pending, 0);
  r.clock.advance(60_000);
  await r.settle();
  t.is(r.ensured(), 2, 'nothing after close');
});

test('a hand-over queued behind a failed one that then takes leaves no retry behind', async (t) => {
  const r = rig(1);
  r.live.changed('poll'); // fails: a retry is set
  r.live.changed('poll'); // queued behind it: takes
  await r.settle();
  t.deepEqual([r.ensured(), r.counters.liveFailed, r.counters.liveJoined], [2, 1, 1]);
  t.is(r.clock.pending, 0, 'the retry the failure set is gone');
});
