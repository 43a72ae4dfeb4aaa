// [issue 19.6, D90] aedes announced every client it registered or unregistered, and every
// SUBSCRIBE and UNSUBSCRIBE, on `$SYS/<broker id>/...` (for brokers that share an emitter): a
// packet, an emit and a match per connect, subscribe and disconnect, 2.7% of the node's loop in a
// reconnect storm, heard by no one but aedes' own handler. The embedded broker skips them and
// counts them. A takeover (the same client id connecting again) closes the first (its
// subscription dropped, then unregistered, then its socket) and then registers the second, so the
// test waits for the first to see its connection close; a SUBACK is written before its announcement.
import test from 'ava';
import { connectAsync } from 'mqtt';
import { aedesBroker, secretOf } from '../_helpers/mqtt-fixtures.ts';

test('no $SYS client and subscription announcements: a connect, a subscribe, a takeover and a close are counted, not published', async (t) => {
  const broker = await aedesBroker();
  const embedded = broker.aedes!;
  const heard: string[] = [];
  await new Promise<void>((done) => {
    // The node's own link may subscribe anywhere (it is trusted): the only listener there could be.
    embedded.local.subscribe('$SYS/#', (topic) => void heard.push(topic), () => done());
  });
  const opts = { clientId: 'box-a', username: 'box-a', password: secretOf('box-a'), reconnectPeriod: 0 };
  const first = await connectAsync(broker.url, opts);
  await first.subscribeAsync('weft/box/box-a/#', { qos: 1 });
  const firstClosed = new Promise<void>((done) => first.once('close', () => done()));
  const second = await connectAsync(broker.url, opts); // takes box-a over: the first is closed
  await firstClosed;
  t.teardown(() => {
    first.end(true);
    second.end(true);
    return broker.close(); // once: a second close is the first's promise
  });
  t.deepEqual(heard, [], 'nothing announced');
  t.is(embedded.stats().announcementsSkipped, 5, 'new client, new subscribe; the takeover: unsubscribe, disconnect, new client');
  t.is(embedded.stats().connections, 1);
  await broker.close();
  t.is(embedded.stats().announcementsSkipped, 6, 'the close unregisters the second (no subscriptions)');
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
