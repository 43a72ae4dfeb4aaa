// End to end over each broker: several boxes' client portions talk to server portions through
// one head-end transport; replies and pushes find the right box by virtual address (learned,
// or bound by the registry, and re-bound when a portion moves [c31]). On mosquitto with MQTT 5:
// session expiry keeps a box's inbox across a reconnect, message expiry drops stale requests,
// and shared subscriptions split the ingress between head-end nodes.

import test, { type ExecutionContext } from 'ava';
import { AddressError, Channel, EnvelopeCodec, type Envelope } from '../../runtime/index.ts';
import { openRawClient, type MqttTransport } from '../../transport/mqtt.ts';
import { boxAddress } from '../../transport/mqtt-topics.ts';
import { which, needProgram } from '../_helpers/env.ts';
import { aedesBroker, mosquittoBroker, transport, until, type TestBroker } from '../_helpers/mqtt-fixtures.ts';

const mosquitto = which('mosquitto');
const BOXES = ['box-a', 'box-b', 'box-c'];
const ui = (i: number): string => `weft://guide/s${i}/ui`;

async function scenario(t: ExecutionContext, broker: TestBroker): Promise<void> {
  const located = new Map<string, string>([['weft://guide/s9/ui', 'box-c']]); // the registry's view
  const node = await transport(broker.url, 'node-1', { locate: (v) => located.get(v) });
  const boxes: MqttTransport[] = [];
  try {
    const service = new Channel({
      self: { vaddr: 'weft://guide/*/search' },
      write: (e) => node.send(e),
      onRequest: (req) => ({ from: req.src.vaddr, q: req.body }),
    });
    node.onEnvelope((e) => service.receive(e));
    const inbox = new Map<string, Envelope[]>();
    const portions: Channel[] = [];
    for (const [i, id] of BOXES.entries()) {
      const box = await transport(broker.url, id);
      boxes.push(box);
      const got: Envelope[] = [];
      inbox.set(id, got);
      const ch = new Channel({ self: { vaddr: ui(i) }, write: (e) => box.send(e), timeoutMs: 3000 });
      box.onEnvelope((e) => {
        got.push(e);
        ch.receive(e);
      });
      portions.push(ch);
    }
    // Client portions ask the shared server portion; each reply finds its own box.
    const replies = await Promise.all(portions.flatMap((ch, i) => Array.from({ length: 30 }, (_, k) => ch.request({ vaddr: 'weft://guide/*/search' }, `${i}:${k}`))));
    t.is(replies.length, 90);
    for (const [n, r] of replies.entries()) t.deepEqual(r, { from: ui(Math.floor(n / 30)), q: `${Math.floor(n / 30)}:${n % 30}` });
    // Server -> client pushes by vaddr: learned from the boxes' own traffic, or from the registry.
    const push = (vaddr: string, body: string): Promise<void> => node.send({ v: 1, kind: 'msg', id: 1, src: node.address, dst: { vaddr }, body });
    await push(ui(1), 'to s1');
    await push('weft://guide/s9/ui', 'to s9 via the registry');
    await until(() => (inbox.get('box-b') ?? []).some((e) => e.body === 'to s1') && (inbox.get('box-c') ?? []).some((e) => e.body === 'to s9 via the registry'), 3000, 'pushes');
    // The portion moves to another box: the head-end re-binds it; later messages follow [c31, c32].
    node.bind(ui(1), 'box-a');
    await push(ui(1), 'moved');
    await until(() => (inbox.get('box-a') ?? []).some((e) => e.body === 'moved'), 3000, 'the moved portion');
    t.false((inbox.get('box-b') ?? []).some((e) => e.body === 'moved'));
    for (const [id, got] of inbox) {
      const foreign = got.filter((e) => e.kind === 'msg' && !['to s1', 'to s9 via the registry', 'moved'].includes(e.body as string));
      t.deepEqual(foreign, [], `${id} got only its own`);
    }
    await t.throwsAsync(push('weft://guide/s404/ui', 'nobody'), { instanceOf: AddressError, message: /no box is known/ });
    t.is(node.stats().spoofed + node.stats().malformed + node.stats().badTopic, 0);
  } finally {
    await Promise.all([node.close(), ...boxes.map((b) => b.close())]);
    await broker.close();
  }
}

test('aedes: box portions and server portions talk by virtual address', async (t) => {
  await scenario(t, await aedesBroker());
});

test('mosquitto: box portions and server portions talk by virtual address', async (t) => {
  if (needProgram(t, 'mosquitto', 'the end-to-end test on the real broker') === undefined) return;
  await scenario(t, await mosquittoBroker(mosquitto as string));
});

test('mosquitto MQTT 5: the inbox survives the box being away; stale requests expire', async (t) => {
  if (needProgram(t, 'mosquitto', 'MQTT 5 session and message expiry') === undefined) return;
  const broker = await mosquittoBroker(mosquitto as string);
  const v5 = { protocolVersion: 5 as const };
  try {
    const node = await transport(broker.url, 'node-1', v5);
    const first = await transport(broker.url, 'box-a', { ...v5, sessionExpirySec: 60 });
    await first.close(); // a clean DISCONNECT: the broker keeps the session for 60 s
    const dst = boxAddress('box-a');
    const now = Date.now();
    await node.send({ v: 1, kind: 'req', id: 1, src: node.address, dst, deadline: now + 1000, body: 'stale' });
    await node.send({ v: 1, kind: 'req', id: 2, src: node.address, dst, deadline: now + 60_000, body: 'kept' });
    await new Promise((r) => setTimeout(r, 2100)); // past the first one's message expiry (1 s)
    const again = await transport(broker.url, 'box-a', { ...v5, sessionExpirySec: 60 });
    const got: unknown[] = [];
    again.onEnvelope((e) => got.push(e.body));
    await until(() => got.includes('kept'), 3000, 'the queued request');
    await node.send({ v: 1, kind: 'req', id: 3, src: node.address, dst, deadline: Date.now() + 5000, body: 'live' });
    await until(() => got.includes('live'), 3000, 'a live request');
    t.deepEqual(got, ['kept', 'live']);
    await Promise.all([node.close(), again.close()]);
  } finally {
    await broker.close();
  }
});

test('mosquitto MQTT 5: head-end nodes share the ingress', async (t) => {
  if (needProgram(t, 'mosquitto', 'MQTT 5 shared subscriptions') === undefined) return;
  const broker = await mosquittoBroker(mosquitto as string);
  const opts = { protocolVersion: 5 as const, shareGroup: 'nodes' };
  try {
    const nodes = [await transport(broker.url, 'node-1', opts), await transport(broker.url, 'node-2', opts)];
    const counts = [0, 0];
    nodes.forEach((n, i) => n.onEnvelope(() => counts[i]!++));
    const box = await transport(broker.url, 'box-a', { protocolVersion: 5 });
    for (let i = 0; i < 40; i++) await box.send({ v: 1, kind: 'req', id: i, src: box.address, dst: { vaddr: 'weft://guide/s1/search' }, body: i });
    await until(() => counts[0]! + counts[1]! >= 40, 3000, 'all 40');
    t.is(counts[0]! + counts[1]!, 40, 'each message reached exactly one node');
    t.true(counts[0]! > 0 && counts[1]! > 0, `split ${counts.join('/')}`);
    await Promise.all([box.close(), ...nodes.map((n) => n.close())]);
  } finally {
    await broker.close();
  }
});

test('mosquitto MQTT 5: a redelivered QoS 1 message reaches a persistent-session box once', async (t) => {
  if (needProgram(t, 'mosquitto', 'MQTT 5 duplicate suppression') === undefined) return;
  const broker = await mosquittoBroker(mosquitto as string);
  try {
    const box = await transport(broker.url, 'box-a', { protocolVersion: 5, sessionExpirySec: 60 });
    const got: unknown[] = [];
    box.onEnvelope((e) => got.push(e.body));
    // The head-end's identity, publishing the same QoS 1 envelope twice, as a broker redelivering would.
    const raw = await openRawClient(broker.url, { username: 'node-2@headend', clientId: 'node-2@headend', password: 'node-2-secret' });
    const bytes = Buffer.from(new EnvelopeCodec().encode({ v: 1, kind: 'req', id: 77, src: { vaddr: 'weft://headend/node-2/ingress' }, dst: boxAddress('box-a'), body: 'once' }));
    const topic = 'weft/box/box-a/box/box-a/inbox';
    await raw.publishAsync(topic, bytes, { qos: 1 });
    await raw.publishAsync(topic, bytes, { qos: 1, dup: true });
    const other = Buffer.from(new EnvelopeCodec().encode({ v: 1, kind: 'req', id: 78, src: { vaddr: 'weft://headend/node-2/ingress' }, dst: boxAddress('box-a'), body: 'next' }));
    await raw.publishAsync(topic, other, { qos: 1 });
    await until(() => got.includes('next'), 3000, 'the next message');
    t.deepEqual(got, ['once', 'next']);
    t.is(box.stats().duplicate, 1);
    await raw.endAsync();
    await box.close();
  } finally {
    await broker.close();
  }
});
