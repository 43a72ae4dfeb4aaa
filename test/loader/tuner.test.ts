// [issue 13, finding 6] A tuner that cannot tune (addMembership ENODEV, a port in use) fails
// with a typed, one-line error, retries on capped jittered backoff, is counted and surfaced as a
// box event; the box starts (it does not wait 60 s in `tuning`) and stops in any state.
import test from 'ava';
import { ManualClock, seededRandom } from '../../runtime/index.ts';
import { listenUdp } from '../../carousel/index.ts';
import { Box, type BoxEvent, type TunerStatus, TunerError, MemoryStorage, udpTuner } from '../../loader/index.ts';
import { profile } from '../../devices/profiles.ts';
import { loadEngine } from '../../sandbox/index.ts';
import { signer } from '../_helpers/box-app.ts';
import { freeUdpPort } from '../_helpers/ports.ts';

const enodev = (): Error => Object.assign(new Error('addMembership ENODEV'), { code: 'ENODEV', syscall: 'addMembership', errno: -19 });

/** A listen that fails `fails` times, then hands out a handle that counts its closes. */
function flakyListen(fails: number): { listen: typeof listenUdp; calls: () => number; closed: () => number } {
  let calls = 0;
  let closed = 0;
  const listen = (async () => {
    calls++;
    if (calls <= fails) throw enodev();
    return { port: 1, received: 0, close: async () => void closed++ };
  }) as unknown as typeof listenUdp;
  return { listen, calls: () => calls, closed: () => closed };
}

function statusQueue(): { push: (s: TunerStatus) => void; next: () => Promise<TunerStatus>; all: TunerStatus[] } {
  const all: TunerStatus[] = [];
  let waiter: ((s: TunerStatus) => void) | undefined;
  let read = 0;
  return {
    all,
    push: (s) => {
      all.push(s);
      if (waiter !== undefined && read < all.length) {
        const w = waiter;
        waiter = undefined;
        w(all[read++] as TunerStatus);
      }
    },
    next: () => (read < all.length ? Promise.resolve(all[read++] as TunerStatus) : new Promise((r) => (waiter = r))),
  };
}

test('a tune that fails is typed, one line, retried with capped jittered backoff until it tunes', async (t) => {
  const clock = new ManualClock();
  const f = flakyListen(6);
  const q = statusQueue();
  const tuner = udpTuner('udp://239.10.0.1:5500', { clock, random: seededRandom(3), backoff: { baseMs: 100, capMs: 400 }, listen: f.listen });
  const tuned = await tuner.tune(() => {}, q.push); // resolves after the first attempt, not when tuned
  const delays: number[] = [];
  for (let i = 1; i <= 6; i++) {
    const s = await q.next();
    if (s.kind !== 'tune-failed') return t.fail(`expected a failure, got ${s.kind}`);
    t.is(s.attempt, i);
    t.true(s.error instanceof TunerError);
    t.is(s.error.name, 'TunerError');
    t.is(s.error.errno, 'ENODEV');
    t.false(s.error.message.includes('\n'), 'one line');
    t.regex(s.error.message, /udp:\/\/239\.10\.0\.1:5500.*ENODEV/);
    delays.push(s.retryInMs);
    clock.advance(s.retryInMs);
  }
  const ok = await q.next();
  t.is(ok.kind, 'tuned');
  t.is(f.calls(), 7);
  t.true(delays.every((d) => d > 0 && d <= 400), `delays ${delays.join(',')}`);
  t.true(delays[0] as number <= 100 && (delays[5] as number) >= 200, 'grows to the cap');
  t.is(new Set(delays.map((d) => Math.round(d))).size > 2, true, 'jittered');
  const stats = tuner.stats();
  t.like(stats, { attempts: 7, failures: 6, tuned: 1 });
  await tuned.close();
  t.is(f.closed(), 1);
});

test('closing during the backoff cancels the retry', async (t) => {
  const clock = new ManualClock();
  const f = flakyListen(100);
  const q = statusQueue();
  const tuner = udpTuner('udp://239.10.0.1:5500', { clock, random: seededRandom(1), listen: f.listen });
  const tuned = await tuner.tune(() => {}, q.push);
  await q.next();
  t.is(clock.pending, 1);
  await tuned.close();
  t.is(clock.pending, 0);
  clock.advance(120_000);
  t.is(f.calls(), 1);
});

test('udpTuner options are validated by name', (t) => {
  t.throws(() => udpTuner('udp://127.0.0.1:5500', { retries: 3 } as never), { message: /unknown option "retries"/ });
  t.throws(() => udpTuner('tcp://127.0.0.1:5500'), { message: /bad carousel url/ });
});

test('a join that fails after the bind releases the port (no leaked socket)', async (t) => {
  const port = await freeUdpPort();
  const err = await t.throwsAsync(listenUdp({ port, group: '239.10.0.1', interface: '203.0.113.77' }, () => {}));
  t.truthy(err);
  const again = await listenUdp({ port, host: '127.0.0.1' }, () => {}); // bindable again: the failed socket was closed
  await again.close();
  t.pass();
});

test('a box whose tuner cannot join starts, reports the failure as one line, retries, and stops while tuning', async (t) => {
  const engine = await loadEngine();
  const keys = await signer();
  const clock = new ManualClock();
  const f = flakyListen(1000);
  const events: BoxEvent[] = [];
  const box = new Box({
    boxId: 'box-t',
    profile: profile('broadcast-only'),
    engine,
    trusted: keys.trusted,
    storage: new MemoryStorage(0),
    tuner: udpTuner('udp://239.10.0.1:5500', { clock, random: seededRandom(2), backoff: { baseMs: 100, capMs: 100 }, listen: f.listen }),
    clock,
    onEvent: (e) => events.push(e),
  });
  await box.start(); // before: waited 60 s in `tuning`, then threw
  await box.waitFor(() => events.some((e) => e.kind === 'tuner'), 5000);
  clock.advance(100);
  await box.waitFor(() => events.filter((e) => e.kind === 'tuner').length >= 2, 5000);
  const e = events.find((x) => x.kind === 'tuner');
  t.true(e?.kind === 'tuner' && !e.ok && /ENODEV/.test(e.message ?? '') && !(e.message ?? '').includes('\n'));
  const acq = box.stats().acquire as { tuner: { failures: number; attempts: number } };
  t.true(acq.tuner.failures >= 2);
  t.is(box.state, 'tuning');
  await box.stop();
  t.is(box.state, 'stopped');
  t.is(clock.pending, 0, 'no retry left behind');
});

test('a socket that fails after tuning is closed and tuned again on the same backoff', async (t) => {
  const clock = new ManualClock();
  const q = statusQueue();
  let onError: ((e: Error) => void) | undefined;
  let opened = 0;
  let closed = 0;
  const listen = (async (o: { onError?: (e: Error) => void }) => {
    opened++;
    onError = o.onError;
    return { port: 1, received: 0, close: async () => void closed++ };
  }) as unknown as typeof listenUdp;
  const tuner = udpTuner('udp://127.0.0.1:5500', { clock, random: seededRandom(4), backoff: { baseMs: 50, capMs: 50 }, listen });
  const tuned = await tuner.tune(() => {}, q.push);
  t.is((await q.next()).kind, 'tuned');
  onError?.(Object.assign(new Error('recvmsg ENOBUFS'), { code: 'ENOBUFS', syscall: 'recvmsg' }));
  const failed = await q.next();
  t.true(failed.kind === 'tune-failed' && failed.error.errno === 'ENOBUFS' && failed.retryInMs <= 50);
  t.is(closed, 1, 'the broken socket was closed');
  clock.advance(50);
  t.is((await q.next()).kind, 'tuned');
  t.is(opened, 2);
  t.like(tuner.stats(), { socketErrors: 1, tuned: 2 });
  await tuned.close();
  t.is(closed, 2);
});
