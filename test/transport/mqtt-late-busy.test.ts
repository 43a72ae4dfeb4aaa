// A late busy answer undoes the verdicts it follows (issue 19, the 5,000-box runs): a connection
// kept open past its dead-path verdict (issue 13.4) that the broker then answers CONNACK 3
// ("server unavailable", the head-end's CONNECT gate) was alive all along, only busy. The
// transport counts it `lateBusy` (not `lateAbandoned`) with the verdicts it undid (`busyUndone`),
// and behaves as if it had been told busy in time: the busy backoff, no doubled deadline, one
// connection at a time. Both MQTT clients, a fake broker, a fake clock.

import test, { type ExecutionContext } from 'ava';
import { ManualClock } from '../../runtime/index.ts';
import { SuspectPathError } from '../../transport/mqtt-errors.ts';
import { liteMqttClient } from '../../transport/mqtt-lite.ts';
import type { MqttClientFactory } from '../../transport/mqtt-client.ts';
import type { LinkState } from '../../transport/mqtt-options.ts';
import { transport, until } from '../_helpers/mqtt-fixtures.ts';
import { slowConnackBroker } from '../_helpers/slow-connack.ts';

const CLIENTS: [string, MqttClientFactory | undefined][] = [
  ['lite', liteMqttClient],
  ['mqtt.js', undefined],
];
// 3 x 20 + 50 = 110 ms: the verdict's deadline.
const DEAD = { initialRttMs: 20, lateMs: 5000 };
/** reconnectDelay(1) of the default backoff (base 1000 ms, half of it jitter) with random() = 0.5. */
const FIRST_WAIT = 750;

/** A box's first dial past its verdict (no CONNACK within 110 ms): the connection is kept open for a late answer. */
async function keptAfterVerdict(t: ExecutionContext, c: { client?: MqttClientFactory }) {
  const b = await slowConnackBroker();
  t.teardown(() => b.close());
  const clock = new ManualClock(0);
  const connecting = transport(b.url, 'box-a', { ...c, clock, random: () => 0.5, deadPath: DEAD });
  await b.connected(1);
  clock.advance(110);
  const box = (await t.throwsAsync(connecting, { instanceOf: SuspectPathError })).transport;
  return { b, clock, box };
}

for (const [name, client] of CLIENTS) {
  const c = client === undefined ? {} : { client };

  test(`${name}: CONNACK 3 on the connection kept after the verdict undoes it: lateBusy, not lateAbandoned; the connection is over`, async (t) => {
    const { b, clock, box } = await keptAfterVerdict(t, c);
    t.is(box.stats().busyUndone, 0);
    b.release(0, 3);
    t.false(await box.late, 'nothing came up: the box dials again itself, after the busy backoff');
    t.is(box.stats().busyUndone, 1, 'the verdict was wrong: the broker is alive');
    t.like(box.stats(), { lateBusy: 1, lateAbandoned: 0, lateAdopted: 0, connectFailures: 1 });
    await until(() => b.closed === 1, 3000, 'the refused connection to close');
    t.is(b.opened, 1, 'the transport does not dial again by itself');
    t.is(clock.pending, 0, 'no timer left');
  });

  test(`${name}: a retry waiting on the kept connection when CONNACK 3 comes waits the busy backoff, then one new connection with the undoubled deadline`, async (t) => {
    const { b, clock, box } = await keptAfterVerdict(t, c);
    t.is(box.connectTimeoutMs, 220, 'the retry waits twice as long');
    const retry = box.retryStart();
    clock.advance(100);
    b.release(0, 3);
    await until(() => box.stats().lateBusy === 1, 3000, 'the late busy answer');
    await until(() => b.closed === 1, 3000, 'the refused connection to close');
    t.is(box.connectTimeoutMs, 110, 'the undone verdict doubles nothing');
    clock.advance(FIRST_WAIT - 1);
    t.is(b.opened, 1, 'not before the busy backoff');
    clock.advance(1);
    await b.connected(2);
    t.is(b.closed, 1, 'the kept connection was over before the new one opened');
    b.release(1);
    await retry;
    t.is(box.link, 'up');
    t.is(box.stats().busyUndone, 1);
    t.is(box.verdictsUndone, 0, 'the connection in use had no verdict');
    t.like(box.stats(), { busy: 1, lateBusy: 1, lateAdopted: 0, connects: 1 });
    await box.close();
  });
}

test('lite: a reconnect\'s kept connection answered busy late: counted, and the next reconnect\'s deadline is not doubled by its verdict', async (t) => {
  const b = await slowConnackBroker();
  t.teardown(() => b.close());
  const clock = new ManualClock(0);
  const links: LinkState[] = [];
  b.release(0);
  const box = await transport(b.url, 'box-a', { client: liteMqttClient, clock, random: () => 0.5, backoff: { windowMs: 100 }, deadPath: { initialRttMs: 20, lateMs: 5000 }, onLink: (s) => links.push(s) });
  t.teardown(() => box.close());
  b.drop(0);
  await until(() => box.link === 'down', 3000, 'the drop');
  clock.advance(50); // the first reconnect: uniform in the 100 ms window
  await b.connected(2);
  const base = box.connectTimeoutMs;
  clock.advance(Math.ceil(base));
  await until(() => box.stats().connectFailures === 1, 3000, 'the verdict on the reconnect');
  t.true(box.connectTimeoutMs > base, 'doubled after the verdict');
  b.release(1, 3);
  await until(() => box.stats().lateBusy === 1, 3000, 'the late busy answer');
  t.is(box.connectTimeoutMs, base, 'the undone verdict doubles nothing');
  t.is(box.stats().lateAbandoned, 0);
  t.is(box.link, 'down');
  t.deepEqual(links, ['down']);
});
