// The keepers' one retry loop (headend/registry/retry.ts), shared by ClaimKeeper and
// SessionRecords: tries, backoff attempts, the give-up after maxAttempts and on stop, and the
// start after tries that failed elsewhere. No timers: the backoff is recorded and resolves at once.
import test from 'ava';
import { backoffMs, retryCall, type RetryPolicy } from '../../headend/registry/retry.ts';

function policy(maxAttempts: number, stopAfter = Number.POSITIVE_INFINITY) {
  const waits: number[] = [];
  let retries = 0;
  const p: RetryPolicy = {
    maxAttempts,
    backoff: (a) => (waits.push(a), Promise.resolve()),
    stopped: () => retries >= stopAfter,
    retried: () => void retries++,
  };
  return { p, waits, retries: () => retries };
}

/** A call that throws `fails` times, then answers how many tries it took. */
function flaky(fails: number) {
  let tries = 0;
  const fn = (): Promise<number> => (++tries <= fails ? Promise.reject(new Error('registry down')) : Promise.resolve(tries));
  return { fn, tries: () => tries };
}

test('a call that answers first time: no retry, no wait', async (t) => {
  const { p, waits, retries } = policy(30);
  t.is(await retryCall(() => Promise.resolve('ok'), p), 'ok');
  t.deepEqual(waits, []);
  t.is(retries(), 0);
});

test('a call that throws twice: retried after backoff(1) and backoff(2), each counted', async (t) => {
  const { p, waits, retries } = policy(30);
  const c = flaky(2);
  t.is(await retryCall(c.fn, p), 3);
  t.deepEqual(waits, [1, 2]);
  t.is(retries(), 2);
});

test('maxAttempts tries in all, then null', async (t) => {
  const { p, waits, retries } = policy(4);
  const c = flaky(100);
  t.is(await retryCall(c.fn, p), null);
  t.is(c.tries(), 4);
  t.deepEqual(waits, [1, 2, 3]);
  t.is(retries(), 3);
});

test('stopped: no further retry (the first try is still made)', async (t) => {
  const { p, retries } = policy(30, 1);
  const c = flaky(100);
  t.is(await retryCall(c.fn, p), null);
  t.is(c.tries(), 2, 'the first try and one retry, then stopped');
  t.is(retries(), 1);
});

test('after tries that failed elsewhere: the first retry waits backoff(failed), the count goes on', async (t) => {
  const { p, waits } = policy(3);
  const c = flaky(100);
  t.is(await retryCall(c.fn, p, 1), null);
  t.is(c.tries(), 2, 'attempts 2 and 3 of 3');
  t.deepEqual(waits, [1, 2]);
});

test('the default backoff: 20 ms doubling, at most 1 s', (t) => {
  t.deepEqual([1, 2, 3, 4, 5, 6, 7, 30].map(backoffMs), [20, 40, 80, 160, 320, 640, 1000, 1000]);
});
