// [D96] The host's order of one session's switches: the box's envelope ids, compared as serial numbers.
import test from 'ava';
import { SwitchOrder, isSuperseded, laterId } from '../../headend/session-switch-order.ts';
import { checkUpgradeBody } from '../../headend/session-wire.ts';
import { recordVersion } from '../../headend/session-pairing.ts';
import { SqliteRegistry } from '../../headend/registry/registry-sqlite.ts';
import { countCalls } from '../_helpers/count-calls.ts';

const ok = (r: string): boolean => r !== 'failed';

test('ids are compared as uint32 serial numbers: a wrap is later, half the ring away is not', (t) => {
  t.true(laterId(201, 200));
  t.false(laterId(200, 201));
  t.false(laterId(7, 7), 'the same open heard twice is not later');
  t.true(laterId(0, 0xffff_ffff), 'the box\'s counter wrapped');
  t.false(laterId(0xffff_ffff, 0));
  t.false(laterId(0x8000_0000, 0), 'exactly half the ring is never later (neither way)');
  t.false(laterId(0, 0x8000_0000));
});

test('a switch older than the last applied is not run; a repeat of the last and a later one are', async (t) => {
  const o = new SwitchOrder(() => true);
  const ran: string[] = [];
  const sw = (what: string) => () => (ran.push(what), Promise.resolve(what));
  t.is(await o.run('s', 0xffff_fffe, sw('a'), ok), 'a');
  t.is(await o.run('s', 1, sw('b'), ok), 'b', 'after the counter wrapped');
  const old = await o.run('s', 0xffff_ffff, sw('c'), ok);
  t.true(isSuperseded(old));
  t.deepEqual(old, { superseded: true, by: 1 });
  t.is(await o.run('s', 1, sw('b again'), ok), 'b again', 'the same open heard twice runs again (the switch is idempotent)');
  t.is(await o.run('other', 0, sw('d'), ok), 'd', 'sessions are ordered apart');
  t.is(await o.run('s', undefined, sw('e'), ok), 'e', 'no id: run in turn, unordered');
  t.deepEqual(ran, ['a', 'b', 'b again', 'd', 'e'], 'the superseded one never ran');
});

test('a switch that failed does not become the last: an older one that comes after it still runs', async (t) => {
  const o = new SwitchOrder(() => true);
  t.is(await o.run('s', 10, () => Promise.resolve('failed'), ok), 'failed');
  t.is(await o.run('s', 9, () => Promise.resolve('applied'), ok), 'applied');
  t.true(isSuperseded(await o.run('s', 8, () => Promise.resolve('x'), ok)));
});

test('switches of one session run one at a time, in the order they reached the host', async (t) => {
  const o = new SwitchOrder(() => true);
  const log: string[] = [];
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const first = o.run('s', 5, async () => (log.push('first in'), await gate, log.push('first out'), 'first'), ok);
  const second = o.run('s', 4, () => (log.push('second'), Promise.resolve('second')), ok);
  open();
  t.is(await first, 'first');
  t.true(isSuperseded(await second), 'it waited for the later one and was then refused');
  t.deepEqual(log, ['first in', 'first out']);
});

test('ids of sessions no longer hosted here are forgotten: bounded by the sessions hosted', async (t) => {
  const hosted = new Set<string>();
  const o = new SwitchOrder((s) => hosted.has(s));
  for (let i = 0; i < 1000; i++) {
    const s = `s${i}`;
    hosted.add(s);
    await o.run(s, i, () => Promise.resolve('ok'), ok);
    if (i >= 10) hosted.delete(`s${i - 10}`); // ten hosted at any time
  }
  t.true(o.size <= 128, `${o.size} kept`);
});

test('portion.upgrade carries the id as a uint32 or not at all', (t) => {
  const b = { session: 's', version: '1.0.1', modules: ['counter'] };
  t.is(checkUpgradeBody({ ...b, id: 0xffff_ffff }).id, 0xffff_ffff);
  t.is(checkUpgradeBody(b).id, undefined);
  for (const id of [-1, 1.5, 2 ** 32, '7', null]) t.throws(() => checkUpgradeBody({ ...b, id }), { message: /id must be a uint32/ });
});

test('[D99] with no id in memory the record\'s id orders the switch; memory refuses without reading; no id reads nothing', async (t) => {
  const o = new SwitchOrder(() => true);
  let reads = 0;
  const recorded = (id: number | undefined) => () => (reads++, Promise.resolve(id));
  const sw = (what: string) => () => Promise.resolve(what);
  t.deepEqual(await o.run('s', 6, sw('older'), ok, recorded(7)), { superseded: true, by: 7 }, 'moved here after 7 was applied elsewhere');
  t.is(await o.run('s', 7, sw('repeat'), ok, recorded(7)), 'repeat', 'the same open heard twice runs again');
  t.is(await o.run('s', 8, sw('later'), ok, recorded(7)), 'later');
  reads = 0;
  t.deepEqual(await o.run('s', 5, sw('x'), ok, recorded(undefined)), { superseded: true, by: 8 }, 'memory knows 8');
  t.is(reads, 0, 'refused by memory: the record is not read');
  t.is(await o.run('s', undefined, sw('unordered'), ok, recorded(9)), 'unordered');
  t.is(reads, 0, 'an open without an id is not ordered');
  t.is(await o.run('fresh', 3, sw('first'), ok, recorded(undefined)), 'first', 'no switch recorded yet');
  t.deepEqual(await o.run('read', 4, sw('x'), ok, 5), { superseded: true, by: 5 }, 'an id the caller read already orders it the same way');
  t.is(await o.run('read', 6, sw('y'), ok, 5), 'y');
});

test('[D99] an id in memory older than the record\'s (the session left and came back) does not let an older switch through', async (t) => {
  const o = new SwitchOrder(() => true);
  t.is(await o.run('s', 5, () => Promise.resolve('here'), ok), 'here');
  // The session moved away, switched to 7 on another node, and came back: memory still says 5.
  t.deepEqual(await o.run('s', 6, () => Promise.resolve('older'), ok, () => Promise.resolve(7)), { superseded: true, by: 7 });
  t.deepEqual(await o.run('s', 6, () => Promise.resolve('older'), ok), { superseded: true, by: 7 }, 'the record\'s id is remembered');
});

test('[D99] recordVersion writes the version and the id in one write, over a move, never over a later id', async (t) => {
  const reg = new SqliteRegistry({ path: ':memory:', batchWrites: false });
  try {
    const made = await reg.createSession({ id: 's', app: 'guide', box: 'b', node: 'n1', appVersion: '1.0.0', switchId: 10 });
    if (!made.ok) throw new Error('not created');
    const writes = countCalls(reg, 'updateSession');
    t.false(await recordVersion(reg, made.value, '1.0.1', 9), 'the record holds a later switch');
    t.is(writes.calls, 0);
    t.true((await reg.updateSession('s', { node: 'n2' }, 1)).ok); // a move in between
    t.true(await recordVersion(reg, made.value, '1.0.1', 11));
    const rec = await reg.getSession('s');
    t.deepEqual([rec?.appVersion, rec?.switchId, rec?.node, rec?.version], ['1.0.1', 11, 'n2', 3], 'one write over the moved record');
    t.is(writes.calls, 3, 'the move, the stale try and the write');
    t.true(await recordVersion(reg, rec ?? made.value, '1.0.1', 11), 'the same switch again: nothing to write');
    t.is(writes.calls, 3);
  } finally {
    await reg.close();
  }
});
