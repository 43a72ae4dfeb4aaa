// The checkpointer on its own [issue 13.2]: a hand-written host (snapshots the test sets, an
// in-memory SQLite registry, a manual clock). Rounds run only when the clock is advanced.
import test from 'ava';
import { ArgumentError, Codes, ManualClock, ok, type Envelope } from '../../runtime/index.ts';
import type { Durability } from '../../runtime/app/index.ts';
import { Checkpointer, type CheckpointHost } from '../../headend/portions/checkpoint.ts';
import type { CheckpointOptions } from '../../headend/portions/checkpoint-options.ts';
import { memoryRegistry } from '../_helpers/headend.ts';

const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

function harness(options: CheckpointOptions = {}, durability: Durability = 'interval') {
  const clock = new ManualClock();
  const registry = memoryRegistry(clock);
  const states = new Map<string, Record<string, Uint8Array>>();
  const logs: string[] = [];
  let snapshots = 0;
  let failWrites = false;
  const host: CheckpointHost = {
    id: 'n1',
    clock,
    registry: {
      lookup: (v) => registry.lookup(v),
      getCheckpoint: (v) => registry.getCheckpoint(v),
      deleteCheckpoint: (v, e) => registry.deleteCheckpoint(v, e),
      putCheckpoint: (c) => (failWrites ? Promise.reject(new Error('registry away')) : registry.putCheckpoint(c)),
    },
    spec: (iid) => (states.has(iid) ? { app: 'tally', session: iid === 'shared' ? '*' : `s-${iid}`, modules: ['counter'] } : undefined),
    snapshot: (iid) => {
      snapshots++;
      return Promise.resolve(ok({ states: states.get(iid) ?? {}, queued: 0 }));
    },
    durability: () => durability,
    log: (l) => logs.push(l),
  };
  const cp = new Checkpointer(host, { checkpointMs: 1000, ...options });
  /** An instance here that owns its vaddr, with a snapshot of `bytes` bytes of `fill`. */
  const instance = async (iid: string, bytes: number, fill = 1): Promise<string> => {
    states.set(iid, { counter: new Uint8Array(bytes).fill(fill) });
    const vaddr = `weft://tally/${iid === 'shared' ? '*' : `s-${iid}`}/counter`;
    if ((await registry.lookup(vaddr)) === undefined) await registry.bind(vaddr, { node: 'n1', queue: iid });
    return vaddr;
  };
  const advance = async (ms: number): Promise<void> => {
    clock.advance(ms);
    await settle();
  };
  const reply = (n: number): Envelope => ({ v: 1, kind: 'rep', id: n, corr: n, src: { vaddr: 'weft://tally/s-a/counter' }, dst: { vaddr: 'weft://box/b/inbox' }, body: { n } });
  return { clock, registry, states, logs, cp, instance, advance, reply, snapshots: () => snapshots, failWrites: (v: boolean) => void (failWrites = v) };
}

test('on change only: a delivery marks the instance, the next round writes it, an unchanged snapshot is not written again', async (t) => {
  const h = harness();
  const v = await h.instance('a', 4);
  await h.advance(5000);
  t.is(h.snapshots(), 0, 'nothing delivered: no snapshot taken');
  h.cp.delivered('a');
  await h.advance(999);
  t.is(await h.registry.getCheckpoint(v), undefined, 'not before checkpointMs');
  await h.advance(1);
  t.deepEqual((await h.registry.getCheckpoint(v))?.state, new Uint8Array(4).fill(1));
  h.cp.delivered('a'); // a read: the state is the same bytes
  await h.advance(1000);
  t.like(h.cp.stats(), { written: 1, unchanged: 1, bytes: 4 });
  t.is(h.snapshots(), 2);
});

test('the byte budget per second defers what does not fit, oldest change first, and writes it when the budget refills', async (t) => {
  const h = harness({ budgetBytesPerSec: 100, maxCheckpointBytes: 100 });
  const va = await h.instance('a', 60);
  const vb = await h.instance('b', 60);
  h.cp.delivered('a');
  await h.advance(10);
  h.cp.delivered('b');
  await h.advance(990);
  t.truthy(await h.registry.getCheckpoint(va), 'the older change went first');
  t.is(await h.registry.getCheckpoint(vb), undefined, 'b waits: 60 + 60 bytes > 100 per second');
  t.is(h.cp.stats().deferred, 1);
  t.true(h.cp.stats().windowMs >= 990, 'what b risks meanwhile is visible');
  await h.advance(1000);
  t.truthy(await h.registry.getCheckpoint(vb), 'written in the next round');
  t.like(h.cp.stats(), { written: 2, bytes: 120, deferred: 1, windowMs: 0 });
});

test('a snapshot over maxCheckpointBytes is refused with a clear error, counted, logged once, and a sync reply says TOO_LARGE', async (t) => {
  const h = harness({ maxCheckpointBytes: 10 }, 'sync');
  const v = await h.instance('a', 11);
  const got: Envelope[] = [];
  h.cp.out('a', h.reply(1), (e) => got.push(e));
  h.cp.out('a', h.reply(2), (e) => got.push(e));
  await h.advance(0);
  await h.advance(1000);
  t.is(await h.registry.getCheckpoint(v), undefined);
  t.true(h.cp.stats().refused >= 1);
  t.is(got.length, 2);
  for (const e of got) {
    t.is(e.kind, 'err');
    t.is((e.body as { code: number }).code, Codes.TOO_LARGE);
    t.regex((e.body as { message: string }).message, /weft:\/\/tally\/s-a\/counter: snapshot of 11 bytes is over the 10-byte checkpoint bound \(maxCheckpointBytes\)/);
  }
  t.is(h.logs.filter((l) => l.includes('over the 10-byte')).length, 1, 'logged once per instance');
  t.is(h.cp.stats().syncErrors, 2);
});

test('sync: a reply waits for the write that covers it; while the registry is away it waits, then fails UNAVAILABLE after syncWaitMs', async (t) => {
  const h = harness({ syncWaitMs: 3000 }, 'sync');
  const v = await h.instance('a', 2, 5);
  const got: Envelope[] = [];
  h.cp.out('a', h.reply(1), (e) => got.push(e));
  t.is(got.length, 0, 'held');
  t.is(h.cp.stats().held, 1);
  await h.advance(0);
  t.is(got.length, 1, 'sent once written, without waiting for a round');
  t.is(got[0]?.kind, 'rep');
  t.deepEqual((await h.registry.getCheckpoint(v))?.state, Uint8Array.of(5, 5));
  h.failWrites(true);
  h.states.set('a', { counter: Uint8Array.of(6) });
  h.cp.out('a', h.reply(2), (e) => got.push(e));
  await h.advance(0);
  t.is(got.length, 1, 'the write failed: still held, retried next round');
  t.true(h.cp.stats().failed >= 1);
  await h.advance(1000);
  t.is(got.length, 1);
  await h.advance(2000);
  t.is(got.length, 2);
  t.is(got[1]?.kind, 'err');
  t.is((got[1]?.body as { code: number }).code, Codes.UNAVAILABLE);
  t.like(h.cp.stats(), { held: 0, syncErrors: 1 });
  h.failWrites(false);
  h.cp.out('a', h.reply(3), (e) => got.push(e));
  await h.advance(0);
  t.is(got[2]?.kind, 'rep', 'the registry is back: replies flow again');
});

test('only the owner writes: an instance the registry does not point at (a replica, an extra thread) never checkpoints and holds nothing', async (t) => {
  const h = harness({}, 'sync');
  h.states.set('x', { counter: Uint8Array.of(1) });
  await h.registry.bind('weft://tally/s-x/counter', { node: 'n2', queue: 'p9.n2' });
  const got: Envelope[] = [];
  h.cp.out('x', h.reply(1), (e) => got.push(e));
  await h.advance(0);
  t.is(got.length, 1);
  t.is(got[0]?.kind, 'rep');
  h.cp.delivered('x');
  await h.advance(2000);
  t.is(h.cp.stats().written, 0);
  t.is(await h.registry.getCheckpoint('weft://tally/s-x/counter'), undefined);
});

test('an app-wide portion (session *) is checkpointed and restored by the same calls; a portion ending for good removes its checkpoints', async (t) => {
  const h = harness();
  const v = await h.instance('shared', 3, 9);
  h.cp.delivered('shared');
  await h.advance(1000);
  t.deepEqual(await h.cp.restore('tally', '*', ['counter']), { counter: Uint8Array.of(9, 9, 9) });
  t.is(h.cp.stats().restored, 1);
  t.is(await h.cp.restore('tally', '*', ['other']), undefined);
  await h.cp.ended('shared');
  t.is(await h.registry.getCheckpoint(v), undefined);
});

test('a write of a migration is never deferred by the budget, and answers the sync replies its snapshot covers', async (t) => {
  const h = harness({ budgetBytesPerSec: 10, maxCheckpointBytes: 10 }, 'sync');
  const v = await h.instance('a', 8);
  h.cp.out('a', h.reply(1), () => {}); // spends the budget
  await h.advance(0);
  const got: Envelope[] = [];
  h.cp.out('a', h.reply(2), (e) => got.push(e));
  await h.advance(0);
  t.is(got.length, 0, 'deferred: 8 + 8 bytes > 10 per second');
  const r = await h.cp.checkpointNow('a', { counter: Uint8Array.of(7) });
  t.deepEqual(r, { ok: true, value: 1 });
  t.deepEqual((await h.registry.getCheckpoint(v))?.state, Uint8Array.of(7));
  t.is(got[0]?.kind, 'rep');
});

test('options are checked by name and bound', (t) => {
  const h = harness();
  const host = { ...({} as CheckpointHost), id: 'n', clock: h.clock };
  t.throws(() => new Checkpointer(host, { everyMs: 5 } as never), { instanceOf: ArgumentError, message: /everyMs/ });
  t.throws(() => new Checkpointer(host, { budgetBytesPerSec: 1000, maxCheckpointBytes: 2000 }), { instanceOf: ArgumentError, message: /maxCheckpointBytes \(2000\) must not exceed budgetBytesPerSec \(1000\)/ });
  t.throws(() => new Checkpointer(host, { checkpointMs: 0 }), { instanceOf: ArgumentError, message: /checkpointMs/ });
  t.throws(() => new Checkpointer(host, { maxCheckpointBytes: 2 * 1024 * 1024, budgetBytesPerSec: 1 << 30 }), { instanceOf: ArgumentError, message: /maxCheckpointBytes/ });
  t.is(new Checkpointer(host).options.checkpointMs, 1000);
});

test('an instance re-started on the same node at the same location epoch goes on from the stored seq instead of being refused as older', async (t) => {
  const h = harness();
  const v = await h.instance('a', 2, 1);
  await h.registry.putCheckpoint({ vaddr: v, node: 'n1', epoch: 1, seq: 40, state: Uint8Array.of(0) });
  h.cp.delivered('a');
  await h.advance(1000);
  t.like(h.cp.stats(), { written: 1, fenced: 0 });
  t.like(await h.registry.getCheckpoint(v), { seq: 41, state: Uint8Array.of(1, 1) });
});
