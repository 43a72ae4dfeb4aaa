// The checkpoint part of the registry contract [issue 13.2]: every Registry adapter (SQLite file,
// SQLite in memory, Redis) stores one module's last snapshot by vaddr, fences older owners by
// location epoch and older writes by seq, bounds the bytes, and keeps checkpoints out of the feed.

import test, { type ExecutionContext } from 'ava';
import { AddressError, ArgumentError, ManualClock } from '../../runtime/index.ts';
import { MAX_CHECKPOINT_BYTES, type Registry, type RegistryChange } from '../../headend/registry/registry.ts';

export type CheckpointStoreFactory = (clock: ManualClock) => Promise<{ registry: Registry; close(): Promise<void> }>;

const V = 'weft://guide/s1/counter';
const W = 'weft://guide/*/tally';
const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);

export function checkpointContract(name: string, make: CheckpointStoreFactory): void {
  const run = (title: string, fn: (r: Registry, clock: ManualClock, t: ExecutionContext) => Promise<void>): void => {
    test(`${name}: checkpoints: ${title}`, async (t) => {
      const clock = new ManualClock(1_700_000_000_000);
      const h = await make(clock);
      try {
        await fn(h.registry, clock, t);
      } finally {
        await h.close();
      }
    });
  };

  run('put then get gives the bytes and who wrote them; a session portion and an app-wide one alike', async (r, clock, t) => {
    t.is(await r.getCheckpoint(V), undefined);
    const put = await r.putCheckpoint({ vaddr: V, node: 'node-a', epoch: 1, seq: 1, state: bytes(1, 2, 3) });
    const want = { vaddr: V, node: 'node-a', epoch: 1, seq: 1, state: bytes(1, 2, 3), writtenAt: clock.now() };
    t.deepEqual(put, { ok: true, value: want });
    t.deepEqual(await r.getCheckpoint(V), want);
    t.true((await r.putCheckpoint({ vaddr: W, node: 'node-b', epoch: 3, seq: 1, state: bytes() })).ok, 'an empty snapshot is a snapshot');
    t.deepEqual((await r.getCheckpoint(W))?.state, bytes());
    clock.advance(7);
    t.true((await r.putCheckpoint({ vaddr: V, node: 'node-a', epoch: 1, seq: 2, state: bytes(9) })).ok);
    t.deepEqual(await r.getCheckpoint(V), { ...want, seq: 2, state: bytes(9), writtenAt: clock.now() });
  });

  run('an older write (same epoch, lower or equal seq) and an older owner (lower epoch) are refused as stale', async (r, _clock, t) => {
    await r.putCheckpoint({ vaddr: V, node: 'node-a', epoch: 2, seq: 5, state: bytes(5) });
    for (const [epoch, seq] of [[2, 5], [2, 4], [1, 99]] as const) {
      const out = await r.putCheckpoint({ vaddr: V, node: 'node-z', epoch, seq, state: bytes(0) });
      t.false(out.ok, `epoch ${epoch} seq ${seq}`);
      if (!out.ok) {
        t.is(out.error.reason, 'stale');
        t.is(out.error.current?.seq, 5);
      }
    }
    t.deepEqual((await r.getCheckpoint(V))?.state, bytes(5));
    // A new owner (re-placed after a death) starts its own count at a higher epoch.
    t.true((await r.putCheckpoint({ vaddr: V, node: 'node-b', epoch: 3, seq: 1, state: bytes(6) })).ok);
    t.is((await r.getCheckpoint(V))?.node, 'node-b');
  });

  run('a writer whose vaddr the registry has moved past is fenced off, before the new owner wrote anything', async (r, _clock, t) => {
    await r.bind(V, { node: 'node-a' });
    t.true((await r.putCheckpoint({ vaddr: V, node: 'node-a', epoch: 1, seq: 1, state: bytes(1) })).ok);
    await r.move(V, { node: 'node-b' }, 1); // node-a declared dead, its portion re-placed
    const late = await r.putCheckpoint({ vaddr: V, node: 'node-a', epoch: 1, seq: 2, state: bytes(2) });
    t.is(late.ok ? 'ok' : late.error.reason, 'stale');
    t.deepEqual((await r.getCheckpoint(V))?.state, bytes(1), 'the restored state stays what the new owner read');
    t.true((await r.putCheckpoint({ vaddr: W, node: 'node-b', epoch: 1, seq: 1, state: bytes(1) })).ok, 'a vaddr without a location record is not fenced');
    t.true((await r.putCheckpoint({ vaddr: V, node: 'node-b', epoch: 2, seq: 1, state: bytes(3) })).ok);
  });

  run('delete removes, but never a checkpoint written at a later epoch than the deleter knew', async (r, _clock, t) => {
    await r.putCheckpoint({ vaddr: V, node: 'node-b', epoch: 3, seq: 1, state: bytes(1) });
    t.false(await r.deleteCheckpoint(V, 2), 'an old owner stopping does not take the new owner\'s state');
    t.truthy(await r.getCheckpoint(V));
    t.true(await r.deleteCheckpoint(V, 3));
    t.is(await r.getCheckpoint(V), undefined);
    t.false(await r.deleteCheckpoint(V));
    await r.putCheckpoint({ vaddr: V, node: 'node-b', epoch: 1, seq: 1, state: bytes(1) });
    t.true(await r.deleteCheckpoint(V));
  });

  run('the bytes are bounded and bad input is refused by name; nothing is written', async (r, _clock, t) => {
    const big = new Uint8Array(MAX_CHECKPOINT_BYTES + 1);
    await t.throwsAsync(r.putCheckpoint({ vaddr: V, node: 'n', epoch: 1, seq: 1, state: big }), { instanceOf: ArgumentError, message: /over the 1048576-byte bound/ });
    await t.throwsAsync(r.putCheckpoint({ vaddr: 'http://x/y/z', node: 'n', epoch: 1, seq: 1, state: bytes() }), { instanceOf: AddressError });
    await t.throwsAsync(r.putCheckpoint({ vaddr: V, node: 'n', epoch: 0, seq: 1, state: bytes() }), { instanceOf: ArgumentError, message: /epoch/ });
    await t.throwsAsync(r.putCheckpoint({ vaddr: V, node: 'n', epoch: 1, seq: 1, state: [1] as unknown as Uint8Array }), { instanceOf: ArgumentError, message: /state/ });
    await t.throwsAsync(r.putCheckpoint({ vaddr: V, node: 'n', epoch: 1, seq: 1, state: bytes(), ttl: 5 } as never), { instanceOf: ArgumentError, message: /unknown checkpoint field "ttl"/ });
    t.is(await r.getCheckpoint(V), undefined);
    // The largest allowed checkpoint goes through whole.
    const max = new Uint8Array(MAX_CHECKPOINT_BYTES).fill(7);
    t.true((await r.putCheckpoint({ vaddr: V, node: 'n', epoch: 1, seq: 1, state: max })).ok);
    t.is((await r.getCheckpoint(V))?.state.byteLength, MAX_CHECKPOINT_BYTES);
  });

  run('the caller may reuse its buffer after a put; checkpoints are not in the change feed', async (r, _clock, t) => {
    const heard: RegistryChange[] = [];
    const stop = r.watch((c) => heard.push(c));
    const buf = bytes(1, 2);
    await r.putCheckpoint({ vaddr: V, node: 'n', epoch: 1, seq: 1, state: buf });
    buf[0] = 99;
    t.deepEqual((await r.getCheckpoint(V))?.state, bytes(1, 2));
    await r.deleteCheckpoint(V);
    stop();
    t.deepEqual(heard, []);
  });
}
