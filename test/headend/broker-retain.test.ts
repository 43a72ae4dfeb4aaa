// [trust] Weft uses no retained messages, and aedes stores any PUBLISH a client sends with the
// retain flag: a box could fill the broker's retained store without bound under its own topics,
// and have it served to every later subscriber. The embedded broker clears a box's retain flag
// (the message itself goes through, as any other) and counts it; mosquitto, configured as
// docs/OPERATIONS.md says (`retain_available false`), disconnects such a box. Found by the wave 10 storm helper.
import test, { type ExecutionContext } from 'ava';
import { connectAsync } from 'mqtt';
import { needProgram } from '../_helpers/env.ts';
import { aedesBroker, mosquittoBroker, secretOf, type TestBroker } from '../_helpers/mqtt-fixtures.ts';

const login = (url: string, user: string, id: string) => connectAsync(url, { clientId: user, username: user, password: secretOf(id), reconnectPeriod: 0 });

/** Box box-a and node node-1 on `broker`, all three ended after the test. */
async function boxAndNode(t: ExecutionContext, broker: TestBroker) {
  const box = await login(broker.url, 'box-a', 'box-a');
  const node = await login(broker.url, 'node-1@headend', 'node-1');
  t.teardown(async () => {
    box.end(true);
    node.end(true);
    await broker.close();
  });
  return { box, node };
}

test('a box\'s retained publish is delivered but not kept: a later subscriber gets only what is sent after it subscribed', async (t) => {
  const broker = await aedesBroker();
  const { box, node } = await boxAndNode(t, broker);
  await box.publishAsync('weft/up/box-a/guide/s1/search', 'kept?', { qos: 1, retain: true }); // PUBACK: authorized and stored, if at all
  const got: { payload: string; retain: boolean }[] = [];
  const live = new Promise<void>((done) =>
    node.on('message', (_topic, payload, packet) => {
      got.push({ payload: payload.toString(), retain: packet.retain });
      if (payload.toString() === 'live') done();
    }),
  );
  await node.subscribeAsync('weft/up/box-a/#', { qos: 1 }); // a retained message comes with the SUBACK, before anything live
  await box.publishAsync('weft/up/box-a/guide/s1/search', 'live', { qos: 1 });
  await live;
  t.deepEqual(got, [{ payload: 'live', retain: false }]);
  t.is(broker.aedes!.stats().retainCleared, 1);
});

test('mosquitto with the documented configuration: a box that sends a retained message is disconnected and nothing is kept', async (t) => {
  const program = needProgram(t, 'mosquitto', 'the retained-message rule on the real broker');
  if (program === undefined) return;
  const broker = await mosquittoBroker(program);
  const { box, node } = await boxAndNode(t, broker);
  const closed = new Promise<void>((done) => box.once('close', () => done()));
  box.publish('weft/up/box-a/guide/s1/search', 'kept?', { qos: 1, retain: true }, () => undefined);
  await closed;
  const got: string[] = [];
  const live = new Promise<void>((done) =>
    node.on('message', (_topic, payload) => {
      got.push(payload.toString());
      if (payload.toString() === 'live') done();
    }),
  );
  await node.subscribeAsync('weft/up/box-a/#', { qos: 1 });
  const again = await login(broker.url, 'box-a', 'box-a');
  t.teardown(() => void again.end(true));
  await again.publishAsync('weft/up/box-a/guide/s1/search', 'live', { qos: 1 });
  await live;
  t.deepEqual(got, ['live']);
});
