// A busy broker is not a dead path (issue 19.6): a CONNACK "server unavailable" (3.1.1 rc 3), or a
// TCP connection the broker takes and closes before any CONNACK (mosquitto past max_connections),
// makes the dial wait its backoff plus seeded jitter and CONNECT again, counted as `busy`: no
// dead-path verdict, no failure for the box to fall back on, until BUSY_TRIES in a row. Both MQTT
// clients (the box's lite one and mqtt.js), a fake broker, a fake clock.

import test from 'ava';
import { ChannelClosedError, ManualClock, TimeoutError } from '../../runtime/index.ts';
import { BUSY_TRIES } from '../../transport/mqtt-dial.ts';
import { BrokerBusyError, LinkDownError } from '../../transport/mqtt-errors.ts';
import { liteMqttClient } from '../../transport/mqtt-lite.ts';
import type { MqttClientFactory } from '../../transport/mqtt-client.ts';
import { MqttTransport } from '../../transport/mqtt.ts';
import { resolveMqttOptions } from '../../transport/mqtt-options.ts';
import { USERS, transport, until } from '../_helpers/mqtt-fixtures.ts';
import { slowConnackBroker } from '../_helpers/slow-connack.ts';
import { freeTcpPort } from '../_helpers/ports.ts';

const CLIENTS: [string, MqttClientFactory | undefined][] = [
  ['lite', liteMqttClient],
  ['mqtt.js', undefined],
];
/** reconnectDelay(1) of the default backoff (base 1000 ms, half of it jitter) with random() = 0.5. */
const FIRST_WAIT = 750;

for (const [name, client] of CLIENTS) {
  const c = client === undefined ? {} : { client };

  test(`${name}: CONNACK 3 (server unavailable) is waited out and dialed again: up, no dead path, counted busy`, async (t) => {
    const b = await slowConnackBroker();
    t.teardown(() => b.close());
    const clock = new ManualClock(0);
    b.release(0, 3);
    b.release(1);
    const connecting = transport(b.url, 'box-a', { ...c, clock, random: () => 0.5 });
    await until(() => b.closed >= 1, 3000, 'the refused connection to close');
    t.is(b.opened, 1);
    clock.advance(FIRST_WAIT - 1);
    t.is(b.opened, 1, 'not before the backoff');
    clock.advance(1);
    const box = await connecting;
    t.teardown(() => box.close());
    t.is(box.link, 'up');
    t.is(b.opened, 2);
    t.like(box.stats(), { busy: 1, connectFailures: 0, connects: 1 });
  });

  test(`${name}: a broker that takes the TCP connection and closes it before any CONNACK is busy too (mosquitto's max_connections)`, async (t) => {
    const b = await slowConnackBroker();
    t.teardown(() => b.close());
    const clock = new ManualClock(0);
    b.hangUp(0);
    b.release(1);
    const connecting = transport(b.url, 'box-a', { ...c, clock, random: () => 0.5 });
    await until(() => b.closed >= 1, 3000, 'the dropped connection to close');
    clock.advance(FIRST_WAIT);
    const box = await connecting;
    t.teardown(() => box.close());
    t.like(box.stats(), { busy: 1, connectFailures: 0 });
  });

  test(`${name}: after ${BUSY_TRIES} busy answers in a row the dial fails as busy (a LinkDownError), never as a dead path`, async (t) => {
    const b = await slowConnackBroker();
    t.teardown(() => b.close());
    const clock = new ManualClock(0);
    for (let i = 0; i <= BUSY_TRIES; i++) b.release(i, 3);
    let settled: unknown;
    const connecting = transport(b.url, 'box-a', { ...c, clock, random: () => 0.5 }).then(
      () => (settled = 'up'),
      (e: unknown) => (settled = e),
    );
    for (let i = 1; i <= BUSY_TRIES; i++) {
      await until(() => b.closed >= i, 3000, `refusal ${i}`);
      clock.advance(FIRST_WAIT * Math.min(2 ** (i - 1), 60)); // the i-th wait exactly (a further advance would reach the next CONNACK's deadline)
    }
    await connecting;
    t.true(settled instanceof BrokerBusyError);
    t.true(settled instanceof LinkDownError);
    t.false(settled instanceof TimeoutError, 'not a dead path');
    t.is(b.opened, BUSY_TRIES + 1);
  });

  test(`${name}: a transport closed during a busy wait settles its start at once`, async (t) => {
    const b = await slowConnackBroker();
    t.teardown(() => b.close());
    const clock = new ManualClock(0);
    b.release(0, 3);
    const u = USERS.find((x) => x.id === 'box-a');
    const box = new MqttTransport(resolveMqttOptions({ role: 'box', url: b.url, id: 'box-a', password: u?.password ?? '', log: () => {}, clock, random: () => 0.5, ...c }));
    const starting = box.start();
    await until(() => b.closed >= 1, 3000, 'the refused connection to close');
    await box.close();
    await t.throwsAsync(starting, { instanceOf: ChannelClosedError });
    t.is(clock.pending, 0, 'no timer left');
    t.is(b.opened, 1);
  });
}

test('a refused TCP connect (nothing listening) is a plain link-down failure at once, not busy', async (t) => {
  const port = await freeTcpPort();
  const err = await t.throwsAsync(transport(`mqtt://127.0.0.1:${port}`, 'box-a', { client: liteMqttClient, clock: new ManualClock(0) }), { instanceOf: LinkDownError });
  t.false(err instanceof BrokerBusyError);
});

test('over TLS a close before any CONNACK fails at once, not busy: it may be a refused handshake, which no retry fixes', async (t) => {
  const b = await slowConnackBroker();
  t.teardown(() => b.close());
  b.hangUp(0);
  const url = b.url.replace('mqtt://', 'mqtts://');
  const err = await t.throwsAsync(transport(url, 'box-a', { client: liteMqttClient, clock: new ManualClock(0), tls: {} }), { instanceOf: LinkDownError });
  t.false(err instanceof BrokerBusyError);
  t.is(b.opened, 1, 'no second dial');
});

test('lite: a reconnect after the link dropped waits out a busy broker too (the storm after a restart)', async (t) => {
  const b = await slowConnackBroker();
  t.teardown(() => b.close());
  const clock = new ManualClock(0);
  b.release(0);
  b.release(1, 3);
  b.release(2);
  const links: string[] = [];
  const box = await transport(b.url, 'box-a', { client: liteMqttClient, clock, random: () => 0.5, backoff: { windowMs: 1000 }, onLink: (s) => links.push(s) });
  t.teardown(() => box.close());
  b.drop(0);
  await until(() => links.includes('down'), 3000, 'the link to drop');
  clock.advance(500); // the reconnect window's draw: 0.5 x 1000
  await until(() => b.closed >= 2, 3000, 'the busy answer');
  clock.advance(FIRST_WAIT);
  await until(() => links.includes('up'), 3000, 'the link back up');
  t.deepEqual(links, ['down', 'up']);
  t.like(box.stats(), { busy: 1, linkDrops: 1, connects: 2 });
});

test('lite: a probe answered late (the broker\'s loop behind) is an RTT sample: the next probe\'s deadline widens by it', async (t) => {
  const b = await slowConnackBroker();
  t.teardown(() => b.close());
  const clock = new ManualClock(0);
  b.release(0);
  const box = await transport(b.url, 'box-a', { client: liteMqttClient, clock, deadPath: { initialRttMs: 1000, idleProbeMs: 4000 } });
  t.teardown(() => box.close());
  const before = box.connectTimeoutMs; // from the CONNACK's loopback RTT: ~3 x 1 ms + 50
  b.holdPings();
  clock.advance(4000); // the idle probe
  await until(() => b.pings === 1, 3000, 'the PINGREQ');
  clock.advance(before - 5); // the broker's loop is late, but within the deadline: not a dead path
  b.answerPings();
  await until(() => box.connectTimeoutMs !== before, 3000, 'the late PINGRESP to be sampled');
  t.is(box.link, 'up');
  // With an RTT r from the CONNACK (deadline 3r + 50), a sample of 3r + 45 makes it at least 4.75r + 100.
  t.true(box.connectTimeoutMs >= before + 30, `the deadline widened from ${before} to ${box.connectTimeoutMs} ms`);
});
