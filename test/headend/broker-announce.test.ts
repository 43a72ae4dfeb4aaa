// [issue 19.6, D90] aedes announced every client it registered or unregistered on
// `$SYS/<broker id>/new/clients` and `.../disconnect/clients` (for brokers that share an emitter):
// a packet, an emit and a match per connect and per disconnect, 2.7% of the node's loop in a
// reconnect storm, heard by no one but aedes' own handler. The embedded broker skips them and
// counts them. A takeover (the same client id connecting again) is one unregister and two
// registers, all done before the second CONNACK, so the test waits on that CONNACK alone.
import test from 'ava';
import { connectAsync } from 'mqtt';
import { aedesBroker, secretOf } from '../_helpers/mqtt-fixtures.ts';

test('no $SYS client announcements: a connect, a takeover and a disconnect are counted, not published', async (t) => {
  const broker = await aedesBroker();
  const embedded = broker.aedes!;
  const heard: string[] = [];
  await new Promise<void>((done) => {
    // The node's own link may subscribe anywhere (it is trusted): the only listener there could be.
    embedded.local.subscribe('$SYS/+/+/clients', (topic) => void heard.push(topic), () => done());
  });
  const opts = { clientId: 'box-a', username: 'box-a', password: secretOf('box-a'), reconnectPeriod: 0 };
  const first = await connectAsync(broker.url, opts);
  const second = await connectAsync(broker.url, opts); // takes box-a over: the first is closed first
  t.teardown(() => {
    first.end(true);
    second.end(true);
    return broker.close(); // once: a second close is the first's promise
  });
  t.deepEqual(heard, [], 'nothing announced');
  t.is(embedded.stats().announcementsSkipped, 3, 'new, disconnect (the takeover), new');
  t.is(embedded.stats().connections, 1);
  await broker.close();
  t.is(embedded.stats().announcementsSkipped, 4, 'the close unregisters the second');
});

test('a client publish and the node publishing still go through (only the announcements are skipped)', async (t) => {
  const broker = await aedesBroker();
  t.teardown(() => broker.close());
  const embedded = broker.aedes!;
  const got: string[] = [];
  await new Promise<void>((done) => embedded.local.subscribe('weft/up/box-a/#', (topic) => void got.push(topic), () => done()));
  const box = await connectAsync(broker.url, { clientId: 'box-a', username: 'box-a', password: secretOf('box-a'), reconnectPeriod: 0 });
  t.teardown(() => void box.end(true));
  await box.publishAsync('weft/up/box-a/guide/s1/search', 'x', { qos: 1 });
  t.deepEqual(got, ['weft/up/box-a/guide/s1/search']);
  const err = await new Promise<Error | undefined>((done) => embedded.local.publish('weft/box/box-a/guide/s1/ui', Buffer.from('y'), 0, done));
  t.is(err, undefined);
});
