// One chain of work per key (headend/keyed-chain.ts): the order work began in, per key; a failure
// ends its turn without stopping the next; nothing kept once a key's work is done.
import test from 'ava';
import { KeyedChain } from '../../headend/keyed-chain.ts';

function gate(): { wait: Promise<void>; open(): void } {
  let open = (): void => undefined;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

test('work on one key runs in the order it began; another key does not wait', async (t) => {
  const chain = new KeyedChain<string>();
  const seen: string[] = [];
  const first = gate();
  const a1 = chain.run('a', async () => {
    await first.wait;
    seen.push('a1');
    return 1;
  });
  t.true(chain.busy('a'));
  const a2 = chain.run('a', async () => void seen.push('a2'));
  await chain.run('b', async () => void seen.push('b1'));
  t.deepEqual(seen, ['b1'], 'b ran while a1 still waited');
  first.open();
  t.is(await a1, 1);
  await a2;
  t.deepEqual(seen, ['b1', 'a1', 'a2']);
});

test('a failure reaches its caller and the next work on the key still runs', async (t) => {
  const chain = new KeyedChain<string>();
  const failed = chain.run('a', async () => {
    throw new Error('no');
  });
  const next = chain.run('a', async () => 'ran');
  await t.throwsAsync(failed, { message: 'no' });
  t.is(await next, 'ran');
});

test('a key is forgotten once its work has ended', async (t) => {
  const chain = new KeyedChain<number>();
  await Promise.all([1, 2, 3].map((k) => chain.run(k, async () => k)));
  await new Promise<void>((resolve) => setImmediate(resolve)); // the tails' own cleanup turn
  t.is(chain.size, 0);
  t.false(chain.busy(1));
});
