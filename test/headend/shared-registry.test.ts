import test from 'ava';
import { ManualClock } from '../../runtime/index.ts';
import { SqliteRegistry } from '../../headend/registry/registry-sqlite.ts';
import { RegistryAppCheckpoints } from '../../headend/portions/shared-registry.ts';
import { appWideInstanceId, decodeCheckpoint, encodeCheckpoint } from '../../headend/portions/shared-app.ts';

const V = 'weft://poll/*/tally';

test('an app-wide checkpoint round-trips through the registry, and the node the claim moved away from is refused', async (t) => {
  const registry = new SqliteRegistry({ path: ':memory:', clock: new ManualClock(0) });
  t.teardown(() => registry.close());
  const id = appWideInstanceId('poll');
  const n1 = new RegistryAppCheckpoints(registry, 'n1');
  const n2 = new RegistryAppCheckpoints(registry, 'n2');
  await t.throwsAsync(n1.save(id, encodeCheckpoint('poll', {}, [])), { message: /holds no claim/ }, 'no claim, no write');

  const bound = await registry.bind(V, { node: 'n1', queue: 'i1' });
  t.true(bound.ok);
  await n1.save(id, encodeCheckpoint('poll', { tally: Uint8Array.of(1) }, []));
  await n1.save(id, encodeCheckpoint('poll', { tally: Uint8Array.of(2) }, []));
  t.deepEqual(decodeCheckpoint((await n2.load(id)) as Uint8Array)?.states.tally, Uint8Array.of(2), 'the last save wins');

  // n1 is judged dead: n2 takes the claim (epoch 2) and writes; n1, still running, is fenced off.
  const moved = await registry.move(V, { node: 'n2', queue: 'i2' }, 1);
  t.true(moved.ok);
  await n2.save(id, encodeCheckpoint('poll', { tally: Uint8Array.of(3) }, []));
  await t.throwsAsync(n1.save(id, encodeCheckpoint('poll', { tally: Uint8Array.of(9) }, [])), { message: /holds no claim|refused/ });
  t.deepEqual(decodeCheckpoint((await n1.load(id)) as Uint8Array)?.states.tally, Uint8Array.of(3));
});

test('each app-wide code has its own checkpoint record, written only under its own claim (issue 15.6)', async (t) => {
  const registry = new SqliteRegistry({ path: ':memory:', clock: new ManualClock(0) });
  t.teardown(() => registry.close());
  const a = appWideInstanceId('poll', 'caaaa');
  const b = appWideInstanceId('poll', 'cbbbb');
  const n1 = new RegistryAppCheckpoints(registry, 'n1');
  t.true((await registry.bind('weft://poll/*/tally/caaaa', { node: 'n1', queue: 'i1' })).ok);
  t.true((await registry.bind('weft://poll/*/tally', { node: 'n1', queue: 'i1' })).ok, 'the live code also holds the untagged address');
  await n1.save(a, encodeCheckpoint('poll', { tally: Uint8Array.of(1) }, []));
  await t.throwsAsync(n1.save(b, encodeCheckpoint('poll', { tally: Uint8Array.of(2) }, [])), { message: /holds no claim/ }, 'n1 holds no claim of the other code');
  t.true((await registry.bind('weft://poll/*/tally/cbbbb', { node: 'n1', queue: 'i2' })).ok);
  await n1.save(b, encodeCheckpoint('poll', { tally: Uint8Array.of(2) }, []));
  t.deepEqual(decodeCheckpoint((await n1.load(a)) as Uint8Array)?.states.tally, Uint8Array.of(1));
  t.deepEqual(decodeCheckpoint((await n1.load(b)) as Uint8Array)?.states.tally, Uint8Array.of(2));
  t.is(await n1.load(appWideInstanceId('poll')), undefined, 'nothing written under the untagged name');
  t.truthy(await registry.getCheckpoint('weft://poll/*/_appwide/cbbbb'));
});
