// A dial that adopts a late CONNACK (issue 13.4, build 4; the 500-box boot): the dead-path verdict
// still comes at 3 RTT + 50 ms, but the connection and its CONNECT stay open (bounded by
// deadPath.lateMs); a CONNACK that then arrives makes the transport up on that same connection,
// with no second CONNECT. Both MQTT clients (the box's lite one and mqtt.js), on a fake clock.

import test, { type ExecutionContext } from 'ava';
import { ManualClock, TimeoutError } from '../../runtime/index.ts';
import type { LinkState } from '../../transport/mqtt-options.ts';
import { SuspectPathError } from '../../transport/mqtt-errors.ts';
import { liteMqttClient } from '../../transport/mqtt-lite.ts';
import type { MqttClientFactory } from '../../transport/mqtt-client.ts';
import { transport, until } from '../_helpers/mqtt-fixtures.ts';
import { slowConnackBroker } from '../_helpers/slow-connack.ts';
import { StallClock } from '../_helpers/stall-clock.ts';

const CLIENTS: [string, MqttClientFactory | undefined][] = [
  ['lite', liteMqttClient],
  ['mqtt.js', undefined],
];
// 3 x 20 + 50 = 110 ms: the verdict's deadline, as before.
const DEAD = { initialRttMs: 20 };

/** A box whose first dial got its verdict (at 110 ms) and is kept open 500 ms, on a StallClock. */
async function keptOnStallClock(t: ExecutionContext, c: { client?: MqttClientFactory }): Promise<{ b: Awaited<ReturnType<typeof slowConnackBroker>>; clock: StallClock; box: SuspectPathError['transport'] }> {
  const b = await slowConnackBroker();
  t.teardown(() => b.close());
  const clock = new StallClock(0);
  const connecting = transport(b.url, 'box-a', { ...c, clock, deadPath: { ...DEAD, lateMs: 500 } });
  await b.connected(1);
  clock.stall(110);
  clock.fire();
  const err = await t.throwsAsync(connecting, { instanceOf: SuspectPathError });
  return { b, clock, box: err.transport };
}

for (const [name, client] of CLIENTS) {
  const c = client === undefined ? {} : { client };

  test(`${name}: without lateMs (the head-end) a CONNACK past the deadline is lost: the connection is torn down`, async (t) => {
    const b = await slowConnackBroker();
    t.teardown(() => b.close());
    const clock = new ManualClock(0);
    const connecting = transport(b.url, 'box-a', { ...c, clock, deadPath: DEAD });
    await b.connected(1);
    clock.advance(110);
    const err = await t.throwsAsync(connecting, { instanceOf: TimeoutError });
    t.false(err instanceof SuspectPathError);
    await until(() => b.closed === 1, 3000, 'the connection to close');
  });

  test(`${name}: a CONNACK after the verdict is adopted on the same connection: up, no second CONNECT`, async (t) => {
    const b = await slowConnackBroker();
    t.teardown(() => b.close());
    const clock = new ManualClock(0);
    const connecting = transport(b.url, 'box-a', { ...c, clock, deadPath: { ...DEAD, lateMs: 5000 } });
    await b.connected(1);
    clock.advance(110);
    const err = await t.throwsAsync(connecting, { instanceOf: SuspectPathError });
    t.true(err instanceof TimeoutError, 'still a dead-path verdict: the fallback starts');
    t.is(err.afterMs, 110, 'at 3 RTT + 50 ms, as before');
    t.regex(err.message, /within 110 ms: dead path/);
    const box = err.transport;
    t.true(box.lingering);
    t.is(box.link, 'down');
    clock.advance(1000); // the broker is a second behind
    b.release(0);
    t.true(await box.late, 'the late CONNACK is adopted');
    t.is(box.link, 'up');
    t.false(box.lingering);
    t.is(b.opened, 1, 'no re-dial');
    t.is(b.closed, 0);
    t.like(box.stats(), { connects: 1, connectFailures: 1, lateAdopted: 1 });
    t.is(box.verdictsUndone, 1);
    await box.send({ v: 1, kind: 'req', id: 1, src: box.address, dst: { vaddr: 'weft://guide/s1/search' } }); // PUBACK over the adopted link
    await box.close();
    t.is(box.link, 'closed');
  });

  test(`${name}: a retry on a lingering connection waits again on the same CONNECT (doubled deadline), never a second one`, async (t) => {
    const b = await slowConnackBroker();
    t.teardown(() => b.close());
    const clock = new ManualClock(0);
    const err = await t.throwsAsync(
      (async () => {
        const connecting = transport(b.url, 'box-a', { ...c, clock, deadPath: { ...DEAD, lateMs: 5000 } });
        await b.connected(1);
        clock.advance(110);
        return connecting;
      })(),
      { instanceOf: SuspectPathError },
    );
    const box = err.transport;
    t.is(box.connectTimeoutMs, 220, 'the next wait doubles');
    const again = box.retryStart();
    clock.advance(220);
    const second = await t.throwsAsync(again, { instanceOf: SuspectPathError });
    t.is(second.afterMs, 220);
    t.true(box.lingering);
    const third = box.retryStart();
    b.release(0);
    await third;
    t.is(box.link, 'up');
    t.is(box.verdictsUndone, 2, 'two verdicts on this connection were wrong');
    t.is(b.opened, 1);
    t.is(b.connects, 1);
    await box.close();
  });

  test(`${name}: lateMs bounds the wait: past it (from the verdict) the connection is closed and the transport with it`, async (t) => {
    const b = await slowConnackBroker();
    t.teardown(() => b.close());
    const clock = new ManualClock(0);
    const connecting = transport(b.url, 'box-a', { ...c, clock, deadPath: { ...DEAD, lateMs: 500 } });
    await b.connected(1);
    clock.advance(110);
    const err = await t.throwsAsync(connecting, { instanceOf: SuspectPathError });
    const box = err.transport;
    clock.advance(499);
    t.true(box.lingering);
    clock.advance(1);
    t.false(await box.late, 'given up: no CONNACK within lateMs of the verdict');
    t.is(box.link, 'closed');
    await until(() => b.closed === 1, 3000, 'the connection to close');
    b.release(0); // too late: nobody is listening
    t.is(box.stats().lateAdopted, 0);
    await t.throwsAsync(box.retryStart(), { message: /not lingering/ });
  });

  // [D117] The box's own loop held past the keeping's end (a fleet process stalled 0.7 s in a
  // storm of 18,000): timers run before input, so the end fired with the CONNACK already in the
  // socket and the connection was dropped, a false dead path no late CONNACK could undo.
  test(`${name}: a keeping that ends during a stall of the box's own loop waits once more: the CONNACK read after it is adopted`, async (t) => {
    const { b, clock, box } = await keptOnStallClock(t, c);
    clock.stall(500 + 700); // held 0.7 s past the keeping's end
    b.release(0); // the broker answered meanwhile: the CONNACK waits in the socket
    clock.fire(); // the loop resumes: the expired timer runs before the socket is read
    t.true(box.lingering, 'the end fired 700 ms late: it waits once more instead of giving up');
    t.true(await box.late, 'the CONNACK read after the stall is adopted');
    t.is(box.link, 'up');
    t.is(b.opened, 1, 'no re-dial');
    t.is(box.verdictsUndone, 1);
    await box.close();
  });

  test(`${name}: the keeping is put off once only, for the stall's length at most lateMs: then it ends`, async (t) => {
    const { b, clock, box } = await keptOnStallClock(t, c);
    clock.stall(500 + 2000); // a stall longer than the keeping: put off by lateMs, not 2 s
    clock.fire();
    t.true(box.lingering);
    clock.stall(499);
    clock.fire();
    t.true(box.lingering, 'not before the stall-long extension ends');
    clock.stall(501); // a second late end is final: the rule applies once
    clock.fire();
    t.false(await box.late, 'given up');
    t.is(box.link, 'closed');
    await until(() => b.closed === 1, 3000, 'the connection to close');
  });

  test(`${name}: a retry never waits past the end of the keeping: its verdict there is final`, async (t) => {
    const b = await slowConnackBroker();
    t.teardown(() => b.close());
    const clock = new ManualClock(0);
    const connecting = transport(b.url, 'box-a', { ...c, clock, deadPath: { ...DEAD, lateMs: 300 } });
    await b.connected(1);
    clock.advance(110); // kept until 410
    const box = (await t.throwsAsync(connecting, { instanceOf: SuspectPathError })).transport;
    const second = box.retryStart();
    clock.advance(220);
    await t.throwsAsync(second, { instanceOf: SuspectPathError });
    const third = box.retryStart();
    clock.advance(80); // 440 ms would be due; the keeping ends at 410
    const err = await t.throwsAsync(third, { instanceOf: TimeoutError });
    t.false(err instanceof SuspectPathError);
    t.is(err.afterMs, 80);
    t.is(box.link, 'closed');
    t.false(await box.late);
    await until(() => b.closed === 1, 3000, 'the connection to close');
    t.is(b.opened, 1);
  });

  test(`${name}: close() of a lingering transport ends its connection at once`, async (t) => {
    const b = await slowConnackBroker();
    t.teardown(() => b.close());
    const clock = new ManualClock(0);
    const connecting = transport(b.url, 'box-a', { ...c, clock, deadPath: { ...DEAD, lateMs: 5000 } });
    await b.connected(1);
    clock.advance(110);
    const box = (await t.throwsAsync(connecting, { instanceOf: SuspectPathError })).transport;
    await box.close();
    t.false(await box.late);
    t.is(box.link, 'closed');
    await until(() => b.closed === 1, 3000, 'the connection to close');
  });
}

test('an established link that dropped: a reconnect attempt past its verdict is kept, and its late CONNACK brings the link back with no second CONNECT', async (t) => {
  const b = await slowConnackBroker();
  t.teardown(() => b.close());
  const clock = new ManualClock(0);
  const links: LinkState[] = [];
  b.release(0);
  const box = await transport(b.url, 'box-a', { client: liteMqttClient, clock, random: () => 0.5, backoff: { windowMs: 100 }, deadPath: { ...DEAD, lateMs: 5000 }, onLink: (s) => links.push(s) });
  t.teardown(() => box.close());
  b.drop(0);
  await until(() => box.link === 'down', 3000, 'the drop');
  clock.advance(50); // the first reconnect: uniform in the 100 ms window
  await b.connected(2);
  clock.advance(Math.ceil(box.connectTimeoutMs));
  await until(() => box.stats().connectFailures === 1, 3000, 'the verdict on the reconnect');
  t.is(box.link, 'down');
  b.release(1);
  await until(() => box.link === 'up', 3000, 'the late CONNACK to be adopted');
  t.deepEqual(links, ['down', 'up']);
  t.like(box.stats(), { connects: 2, linkDrops: 1, lateAdopted: 1 });
  t.is(b.opened, 2, 'one connection per link: no re-dial after the verdict');
});
