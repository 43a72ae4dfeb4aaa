// The box's dial adopts a late CONNACK (issue 13.4, build 4): a dial whose deadline passed is a
// dead-path verdict (counted; the fallback tiers start, as before), but its connection stays open
// for a while; if the broker then answers, the box goes up on that connection: no re-dial, no
// second CONNECT to a broker that is already behind. `dial_late_adopted` and the verdicts that
// were undone are counted apart from the verdicts themselves.

import test from 'ava';
import { ManualClock, TimeoutError, systemClock } from '../../runtime/index.ts';
import { seededRandom } from '../../transport/reconnect.ts';
import { ChannelManager, DEFAULT_CHANNEL_POLICY, mqttDialer } from '../../loader/index.ts';
import type { ChannelEvent, DialRequest, Dialer, ReturnChannel } from '../../loader/index.ts';
import { until } from '../_helpers/mqtt-fixtures.ts';
import { slowConnackBroker } from '../_helpers/slow-connack.ts';

const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

const channel = (verdictsUndone: number): ReturnChannel => ({ transport: { close: async () => {} } as unknown as ReturnChannel['transport'], rttMs: () => 12, verdictsUndone });

test('a late channel handed over after the verdict makes the box up, cancels the next dial, and is counted apart', async (t) => {
  const clock = new ManualClock();
  const asked: DialRequest[] = [];
  const dialer: Dialer = (r) => {
    asked.push(r);
    return Promise.reject(new TimeoutError('no CONNACK within 165 ms: dead path', 165));
  };
  const events: ChannelEvent[] = [];
  const m = new ChannelManager(dialer, clock, seededRandom(1), { ...DEFAULT_CHANNEL_POLICY, rttMs: 40 }, (e) => events.push(e));
  m.round();
  await flush();
  t.like(events[0], { kind: 'failed', attempt: 1, deadPath: true }, 'the verdict still comes: the fallback starts');
  const late = asked[0]?.onLate;
  t.is(typeof late, 'function', 'the dialer is told where a late channel goes');
  t.true(late?.(channel(1)), 'taken');
  t.like(events[1], { kind: 'up', attempt: 1, late: true });
  t.true(m.linkUp);
  clock.advance(60_000);
  await flush();
  t.is(asked.length, 1, 'no re-dial once the late channel is up');
  t.like(m.stats(), { attempts: 1, failures: 1, deadPaths: 1, ups: 1, lateAdopted: 1, deadPathsUndone: 1 });
  t.false(late?.(channel(1)), 'a second late channel is not wanted: the dialer closes it');
  await m.stop();
});

test('a dial that resolves on a connection judged dead before counts as a late adoption too', async (t) => {
  const clock = new ManualClock();
  const outcomes: (() => Promise<ReturnChannel>)[] = [() => Promise.reject(new TimeoutError('dead path', 165)), () => Promise.resolve(channel(1))];
  const events: ChannelEvent[] = [];
  const m = new ChannelManager((() => (outcomes.shift() as () => Promise<ReturnChannel>)()) as Dialer, clock, seededRandom(1), { ...DEFAULT_CHANNEL_POLICY, rttMs: 40 }, (e) => events.push(e));
  m.round();
  await flush();
  clock.advance(250);
  await flush();
  t.like(events.at(-1), { kind: 'up', attempt: 2, late: true });
  t.like(m.stats(), { deadPaths: 1, lateAdopted: 1, deadPathsUndone: 1 });
  await m.stop();
});

test('a stopped box refuses a late channel', async (t) => {
  const asked: DialRequest[] = [];
  const m = new ChannelManager((r) => (asked.push(r), Promise.reject(new TimeoutError('dead path', 165))), new ManualClock(), seededRandom(1), DEFAULT_CHANNEL_POLICY, () => {});
  m.round();
  await flush();
  await m.stop();
  t.false(asked[0]?.onLate?.(channel(1)));
  t.is(m.stats().lateAdopted, 0);
});

test('over MQTT: the broker answers the first CONNECT after two verdicts; the box is up on that connection, with no second CONNECT', async (t) => {
  const b = await slowConnackBroker();
  t.teardown(() => b.close());
  const events: ChannelEvent[] = [];
  // lateMs far out: a loaded machine may take seconds to reach the second verdict.
  const dialer = mqttDialer({ url: b.url, boxId: 'box-a', password: 'x', deadPath: { lag: () => 0, lateMs: 120_000 } });
  const m = new ChannelManager(dialer, systemClock, seededRandom(1), { ...DEFAULT_CHANNEL_POLICY, rttMs: 20 }, (e) => events.push(e));
  t.teardown(() => m.stop());
  m.round();
  const failed = (): ChannelEvent[] => events.filter((e) => e.kind === 'failed');
  await until(() => failed().length >= 2, 20_000, 'two dead-path verdicts (the round retries)');
  t.true(failed().every((e) => e.kind === 'failed' && e.deadPath), JSON.stringify(failed().map((e) => e.kind === 'failed' ? e.error.message : '')));
  b.release(0); // the broker gets to the first CONNECT; any later connection would wait for ever
  await until(() => m.linkUp, 20_000, 'the late CONNACK to be adopted');
  t.like(events.at(-1), { kind: 'up', late: true });
  t.is(b.opened, 1, 'one connection: the verdicts neither tore it down nor dialled again');
  t.is(b.connects, 1);
  const s = m.stats();
  t.is(s.lateAdopted, 1);
  t.is(s.deadPathsUndone, s.deadPaths, 'every verdict was on the connection that came up');
});

test('over MQTT: stopping the box closes a connection kept for a late CONNACK', async (t) => {
  const b = await slowConnackBroker();
  t.teardown(() => b.close());
  const events: ChannelEvent[] = [];
  const dialer = mqttDialer({ url: b.url, boxId: 'box-a', password: 'x', deadPath: { lag: () => 0 } });
  const m = new ChannelManager(dialer, new ManualClock(), seededRandom(1), { ...DEFAULT_CHANNEL_POLICY, rttMs: 20 }, (e) => events.push(e));
  m.round();
  await until(() => events.some((e) => e.kind === 'failed'), 10_000, 'the dead-path verdict');
  t.is(b.closed, 0, 'kept open');
  await m.stop();
  await until(() => b.closed === 1, 3000, 'the kept connection to close');
});
