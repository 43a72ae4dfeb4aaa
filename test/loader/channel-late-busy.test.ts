// A late busy answer undoes the verdicts it follows (issue 19, the 5,000-box runs): a connection
// the dialer kept open after dead-path verdicts that its broker then answers CONNACK 3 ("server
// unavailable") was alive. The channel manager behaves as if told busy in time: the verdicts leave
// the round's count and the deadline's doubling, the next dial waits the busy backoff (not the
// round's), and they are counted undone (`deadPathsUndone`, `lateBusy`, a `late-busy` event).
// A fake dialer on a fake clock, then the MQTT dialer against a fake broker.

import test from 'ava';
import { ManualClock, TimeoutError } from '../../runtime/index.ts';
import { ChannelManager, DEFAULT_CHANNEL_POLICY, mqttDialer } from '../../loader/index.ts';
import type { ChannelEvent, DialRequest, Dialer, ReturnChannel } from '../../loader/index.ts';
import { onChannel } from '../../loader/box-adapters.ts';
import type { BoxEvent } from '../../loader/box-events.ts';
import { LightBox, type LightEvent } from '../../devices/fleet-light.ts';
import { FleetWatch } from '../../devices/fleet-watch.ts';
import { until } from '../_helpers/mqtt-fixtures.ts';
import { slowConnackBroker } from '../_helpers/slow-connack.ts';

const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};
const half = (): number => 0.5;
/** The round's first backoff with random() = 0.5: 250 ms, a quarter of it off. */
const ROUND_WAIT = 187.5;
/** The busy backoff with random() = 0.5 (the transport's: base 1000 ms, half of it jitter). */
const BUSY_WAIT = 750;
const verdict = (): Promise<ReturnChannel> => Promise.reject(new TimeoutError('no CONNACK within 165 ms: dead path', 165));
const kinds = (events: ChannelEvent[]): string[] => events.map((e) => e.kind);

test('told between attempts: the verdict is undone, the next dial waits the busy backoff instead of the round\'s, its deadline not doubled', async (t) => {
  const clock = new ManualClock();
  const asked: DialRequest[] = [];
  const events: ChannelEvent[] = [];
  const m = new ChannelManager((r) => (asked.push(r), verdict()), clock, half, { ...DEFAULT_CHANNEL_POLICY, attemptsPerRound: 2, rttMs: 40 }, (e) => events.push(e));
  m.round();
  await flush();
  t.like(events[0], { kind: 'failed', attempt: 1, deadPath: true });
  asked[0]?.onBusy?.(1);
  t.like(events[1], { kind: 'late-busy', attempt: 1, undone: 1 });
  t.like(m.stats(), { deadPaths: 1, deadPathsUndone: 1, lateBusy: 1, lateAdopted: 0 });
  clock.advance(ROUND_WAIT);
  t.is(asked.length, 1, 'the round\'s backoff is not the one waited');
  clock.advance(BUSY_WAIT - ROUND_WAIT - 1);
  t.is(asked.length, 1, 'not before the busy backoff');
  clock.advance(1);
  t.is(asked.length, 2);
  t.is(asked[1]?.consecutiveTimeouts, 0, 'the undone verdict doubles no deadline');
  await flush();
  t.false(kinds(events).includes('round-over'), 'the second attempt of two is the round\'s first: the undone one does not count');
  clock.advance(ROUND_WAIT);
  await flush();
  t.is(asked.length, 3);
  t.is(asked[2]?.consecutiveTimeouts, 1);
  t.deepEqual(kinds(events), ['failed', 'late-busy', 'failed', 'failed', 'round-over']);
  await m.stop();
});

test('told during the attempt that waits on the connection: that attempt is the round\'s first, the next deadline doubled once, not twice', async (t) => {
  const clock = new ManualClock();
  const asked: DialRequest[] = [];
  const events: ChannelEvent[] = [];
  const dialer: Dialer = (r) => {
    asked.push(r);
    if (asked.length === 2) r.onBusy?.(1); // the transport waited out the busy answer, then its new connection's verdict came
    return verdict();
  };
  const m = new ChannelManager(dialer, clock, half, { ...DEFAULT_CHANNEL_POLICY, attemptsPerRound: 2, rttMs: 40 }, (e) => events.push(e));
  m.round();
  await flush();
  clock.advance(ROUND_WAIT);
  await flush();
  t.deepEqual(kinds(events), ['failed', 'late-busy', 'failed'], 'no round-over: one attempt of two counted');
  t.like(events[1], { kind: 'late-busy', attempt: 2, undone: 1 });
  clock.advance(ROUND_WAIT); // the round's backoff after its first attempt
  await flush();
  t.is(asked.length, 3);
  t.is(asked[2]?.consecutiveTimeouts, 1);
  t.deepEqual(kinds(events), ['failed', 'late-busy', 'failed', 'failed', 'round-over']);
  t.like(m.stats(), { attempts: 3, deadPaths: 3, deadPathsUndone: 1, lateBusy: 1 });
  await m.stop();
});

test('told after the round was over (the box acted on it): the verdicts are undone and the next round\'s deadline not doubled, but nothing dials by itself', async (t) => {
  const clock = new ManualClock();
  const asked: DialRequest[] = [];
  const events: ChannelEvent[] = [];
  const m = new ChannelManager((r) => (asked.push(r), verdict()), clock, half, { ...DEFAULT_CHANNEL_POLICY, attemptsPerRound: 1, rttMs: 40 }, (e) => events.push(e));
  m.round();
  await flush();
  t.deepEqual(kinds(events), ['failed', 'round-over']);
  asked[0]?.onBusy?.(1);
  t.deepEqual(kinds(events), ['failed', 'round-over', 'late-busy']);
  t.false(m.dialing);
  clock.advance(60_000);
  t.is(asked.length, 1, 'a round over stays over: the box decides what comes next');
  m.round();
  t.is(asked[1]?.consecutiveTimeouts, 0);
  await m.stop();
});

test('in the background retry the next attempt moves to the busy backoff; a stopped box ignores a late busy answer', async (t) => {
  const clock = new ManualClock();
  const asked: DialRequest[] = [];
  const events: ChannelEvent[] = [];
  const m = new ChannelManager((r) => (asked.push(r), verdict()), clock, half, { ...DEFAULT_CHANNEL_POLICY, rttMs: 40 }, (e) => events.push(e));
  m.background();
  clock.advance(1500); // the background backoff: 2 s, a quarter off
  await flush();
  t.is(asked.length, 1);
  asked[0]?.onBusy?.(1);
  clock.advance(BUSY_WAIT);
  t.is(asked.length, 2, 'at the busy backoff, not the background\'s 3 s');
  await m.stop();
  asked[1]?.onBusy?.(1);
  t.is(m.stats().lateBusy, 1);
});

test('over MQTT: CONNACK 3 on the connection kept after the verdict: undone, the busy backoff waited, one connection at a time, no doubled deadline', async (t) => {
  const b = await slowConnackBroker();
  t.teardown(() => b.close());
  const clock = new ManualClock();
  const asked: DialRequest[] = [];
  const events: ChannelEvent[] = [];
  // lateMs far out: a loaded machine may take seconds to reach the verdict; the transport's own clock is the system's.
  const mqtt = mqttDialer({ url: b.url, boxId: 'box-a', password: 'x', deadPath: { lag: () => 0, lateMs: 120_000 } });
  const dialer: Dialer = Object.assign((r: DialRequest) => (asked.push(r), mqtt(r)), { close: () => mqtt.close?.() ?? Promise.resolve() });
  const m = new ChannelManager(dialer, clock, half, { ...DEFAULT_CHANNEL_POLICY, rttMs: 20 }, (e) => events.push(e));
  t.teardown(() => m.stop());
  m.round();
  await until(() => events.some((e) => e.kind === 'failed'), 20_000, 'the dead-path verdict');
  t.like(events[0], { kind: 'failed', deadPath: true });
  t.is(b.closed, 0, 'kept open');
  b.release(0, 3);
  await until(() => events.some((e) => e.kind === 'late-busy'), 10_000, 'the late busy answer');
  t.like(events.at(-1), { kind: 'late-busy', undone: 1 });
  await until(() => b.closed === 1, 3000, 'the refused connection to close');
  b.release(1); // the next connection is answered at once
  clock.advance(BUSY_WAIT - 1);
  await flush();
  t.is(asked.length, 1, 'no dial before the busy backoff');
  t.is(b.opened, 1);
  clock.advance(1);
  await until(() => m.linkUp, 20_000, 'the link up on the second connection');
  t.is(asked[1]?.consecutiveTimeouts, 0, 'the undone verdict doubles no deadline');
  t.is(b.opened, 2);
  t.is(b.connects, 2);
  const s = m.stats();
  t.like(s, { lateBusy: 1, ups: 1 });
  // On a loaded machine the second CONNACK may miss its deadline too; it is adopted late then, undone as well.
  t.is(s.deadPathsUndone, s.deadPaths, 'no verdict stands');
});

test('the event stream: a full box and a light box tell it as a dial that undid verdicts, which a fleet counts undone at its phase, not as an adoption or a failure', async (t) => {
  const shown: BoxEvent[] = [];
  onChannel({ kind: 'late-busy', attempt: 2, ms: 900, undone: 2 }, { emit: (e) => shown.push(e), fire: () => t.fail('no boot-table event: the box\'s moves stand'), attach: () => t.fail() });
  t.deepEqual(shown, [{ kind: 'dial', ok: false, attempt: 2, ms: 900, undone: 2 }]);

  const clock = new ManualClock();
  const asked: DialRequest[] = [];
  const light: LightEvent[] = [];
  const box = new LightBox({ boxId: 'lb-1', profile: 'hd-dvr', dialer: (r) => (asked.push(r), verdict()), app: { app: 'guide', version: '1.0.0' }, clock, random: half, onEvent: (e) => light.push(e) });
  box.start();
  await flush();
  asked[0]?.onBusy?.(1);
  t.like(light.at(-1), { kind: 'dial', ok: false, attempt: 1, undone: 1 });
  t.is(box.state, 'connecting');
  await box.stop();

  const w = new FleetWatch(() => 0);
  w.event('b1', { kind: 'state', to: 'connecting' });
  for (const e of [...light.filter((x) => x.kind === 'dial'), ...shown]) w.event('b1', e);
  t.like(w.channel, { deadPaths: 1, failures: 1, deadPathsUndone: 3, lateAdopted: 0, lateBusy: 2 });
  t.deepEqual(w.verdicts, { 'dial@connecting': 1, 'undone@connecting': 3 });
});
