// [D96] The host's order of one session's switches: the box's envelope ids, compared as serial numbers.
import test from 'ava';
import { SwitchOrder, isSuperseded, laterId } from '../../headend/session-switch-order.ts';
import { checkUpgradeBody } from '../../headend/session-wire.ts';

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
