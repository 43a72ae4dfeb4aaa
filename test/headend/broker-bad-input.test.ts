// Bad input on the return channel, sent by a raw mqtt.js client holding valid box credentials:
// payloads that are not envelopes, wrong topics, oversized payloads, a flood. Each is a counted,
// logged rejection, and the head-end keeps serving another box throughout. On aedes and mosquitto.

import test, { type ExecutionContext } from 'ava';
import { Channel, EnvelopeCodec, type Envelope } from '../../runtime/index.ts';
import { openRawClient, type MqttTransport, type RawMqttClient } from '../../transport/mqtt.ts';
import type { MqttLogEvent } from '../../transport/mqtt-options.ts';
import { boxAddress } from '../../transport/mqtt-topics.ts';
import { which, needProgram } from '../_helpers/env.ts';
import { aedesBroker, mosquittoBroker, secretOf, transport, until, type TestBroker } from '../_helpers/mqtt-fixtures.ts';

const codec = new EnvelopeCodec();
const SERVICE = { vaddr: 'weft://guide/s1/search' };
const LIMIT = { perSec: 100, burst: 50 };

interface World {
  broker: TestBroker;
  node: MqttTransport;
  logged: MqttLogEvent[];
  /** Envelopes the head-end delivered from the attacker (box-a). */
  fromAttacker: Envelope[];
  /** One request/reply round from the good box (box-b); rejects if it is not served. */
  served(n?: number): Promise<void>;
  attacker(): Promise<RawMqttClient>;
  close(): Promise<void>;
}

async function world(start: () => Promise<TestBroker>, maxBytes?: number): Promise<World> {
  const broker = await start();
  const logged: MqttLogEvent[] = [];
  const node = await transport(broker.url, 'node-1', { log: (e) => logged.push(e), rateLimit: LIMIT, ...(maxBytes ? { maxBytes } : {}) });
  const fromAttacker: Envelope[] = [];
  const server = new Channel({ self: SERVICE, write: (e) => node.send(e), onRequest: (req) => ({ answer: req.body }) });
  node.onEnvelope((e) => {
    if (e.src.vaddr?.startsWith('weft://box/box-a/')) fromAttacker.push(e);
    server.receive(e);
  });
  const good = await transport(broker.url, 'box-b');
  const client = new Channel({ self: good.address, write: (e) => good.send(e), timeoutMs: 10_000 }); // a liveness bound, not a latency goal: on two busy cores a round can take seconds
  good.onEnvelope((e) => client.receive(e));
  const raws: RawMqttClient[] = [];
  let asked = 0;
  return {
    broker,
    node,
    logged,
    fromAttacker,
    served: async (n = 1) => {
      for (let i = 0; i < n; i++) {
        const q = `q${asked++}`;
        const r = (await client.request(SERVICE, q)) as { answer: string };
        if (r.answer !== q) throw new Error(`wrong answer ${JSON.stringify(r)}`);
      }
    },
    attacker: async () => {
      const c = await openRawClient(broker.url, { username: 'box-a', clientId: 'box-a', password: secretOf('box-a') });
      raws.push(c);
      return c;
    },
    close: async () => {
      await Promise.all(raws.map((c) => c.endAsync(true).catch(() => {})));
      await Promise.all([good.close(), node.close()]);
      await broker.close();
    },
  };
}

function env(over: Partial<Envelope>): Buffer {
  return Buffer.from(codec.encode({ v: 1, kind: 'msg', id: 1, src: boxAddress('box-a'), dst: SERVICE, body: 'x', ...over }));
}

/** Publish and wait until the broker has it (QoS 1), or the broker dropped the connection for it. */
async function push(c: RawMqttClient, topic: string, payload: Buffer | string): Promise<void> {
  if (!c.connected) return;
  let onClose = (): void => {};
  const dropped = new Promise<void>((r) => (onClose = r));
  c.once('close', onClose);
  await Promise.race([c.publishAsync(topic, payload, { qos: 1 }).catch(() => {}), dropped]);
  c.removeListener('close', onClose);
}

const mosquitto = which('mosquitto');
interface StartOptions {
  maxPacketBytes?: number;
  /** mosquitto: log every packet, so denials can be counted in its log. */
  debugLog?: boolean;
}
const brokers: [string, (o?: StartOptions) => Promise<TestBroker>][] = [
  ['aedes', (o = {}) => aedesBroker({ rateLimit: LIMIT, maxThrottleMs: 300, ...(o.maxPacketBytes ? { maxPacketBytes: o.maxPacketBytes } : {}) })],
  ['mosquitto', (o = {}) => mosquittoBroker(mosquitto as string, o)],
];

function skip(t: ExecutionContext, name: string): boolean {
  return name === 'mosquitto' && needProgram(t, 'mosquitto', 'bad input on the real broker') === undefined;
}

for (const [name, start] of brokers) {
  test(`${name}: payloads that are not envelopes, or lie about their source, are counted rejections`, async (t) => {
    if (skip(t, name)) return;
    const w = await world(() => start());
    try {
      await w.served();
      const a = await w.attacker();
      const up = 'weft/up/box-a/guide/s1/search';
      const garbage: (Buffer | string)[] = [
        Buffer.alloc(0),
        '{"kind":"req"}',
        Buffer.from([0x89, 0xff, 0x00]),
        Buffer.from(codec.encode({ v: 1, kind: 'msg', id: 1, src: boxAddress('box-a'), dst: SERVICE }).subarray(0, 10)),
        ...Array.from({ length: 20 }, (_, i) => Buffer.from(Array.from({ length: 50 + i }, (_, j) => (i * 7 + j * 13) & 0xff))),
      ];
      for (const g of garbage) await push(a, up, g);
      await push(a, up, env({ src: boxAddress('box-b') })); // claims to be another box
      await push(a, up, env({ src: { queue: 'registry' } })); // claims an internal queue
      await push(a, up, env({ src: { vaddr: 'weft://box/box-a/inbox', udp: { host: '127.0.0.1', port: 9 } } }));
      await push(a, up, env({ dst: { vaddr: 'weft://billing/s1/charge' } })); // topic and dst differ
      await push(a, up, env({ body: 'legit' })); // still allowed to talk
      await until(() => w.fromAttacker.length === 1, 3000, 'the one legitimate message');
      const s = w.node.stats();
      t.is(s.malformed, garbage.length);
      t.is(s.spoofed, 3);
      t.is(s.badTopic, 1);
      t.is(w.fromAttacker[0]?.body, 'legit');
      t.true(w.logged.filter((e) => e.event === 'reject').length >= garbage.length + 4, 'every rejection reaches the log');
      t.true(w.logged.some((e) => e.reason === 'malformed' && e.box === 'box-a'));
      await w.served(5);
    } finally {
      await w.close();
    }
  });

  test(`${name}: wrong topics are refused, and the head-end keeps serving`, async (t) => {
    if (skip(t, name)) return;
    const w = await world(() => start({ debugLog: true }));
    try {
      let a = await w.attacker();
      for (const topic of ['weft/up/box-a', 'foo/bar', 'weft/box/box-a/x/y/z', 'weft/headend/x', '$SYS/x']) {
        if (!a.connected) a = await w.attacker();
        await push(a, topic, env({}));
      }
      if (!a.connected) a = await w.attacker();
      await push(a, 'weft/up/box-a/not/a/valid/vaddr/path/at/all', env({}));
      // aedes refuses all five foreign topics; mosquitto's `weft/up/%u/#` also admits the bare
      // `weft/up/box-a` (a `#` matches its parent level), which the head-end then rejects.
      const atHeadend = w.broker.aedes ? 1 : 2;
      await until(() => w.node.stats().badTopic >= atHeadend, 3000, 'badTopic at the head-end');
      t.is(w.node.stats().badTopic, atHeadend);
      t.is(w.fromAttacker.length, 0);
      if (w.broker.aedes) t.is(w.broker.aedes.stats().forbiddenPublish, 5);
      else t.is(w.broker.mosquitto?.log().match(/Denied PUBLISH from box-a/g)?.length, 4);
      await w.served(3);
    } finally {
      await w.close();
    }
  });

  test(`${name}: oversized payloads are refused by the broker or by the head-end`, async (t) => {
    if (skip(t, name)) return;
    const w = await world(() => start({ maxPacketBytes: 256 * 1024 }), 64 * 1024);
    try {
      let a = await w.attacker();
      await push(a, 'weft/up/box-a/guide/s1/search', env({ body: new Uint8Array(100 * 1024) })); // past the head-end's limit
      await until(() => w.node.stats().tooLarge === 1, 3000, 'tooLarge at the head-end');
      if (!a.connected) a = await w.attacker();
      const closed = new Promise<void>((r) => a.once('close', () => r()));
      a.publish('weft/up/box-a/guide/s1/search', Buffer.alloc(1024 * 1024, 7), { qos: 1 }); // past the broker's
      await closed; // the broker cut the connection
      if (w.broker.aedes) t.is(w.broker.aedes.stats().tooLarge, 1);
      else t.regex(w.broker.mosquitto?.log() ?? '', /box-a .*oversize packet|oversize packet/i);
      t.is(w.fromAttacker.length, 0);
      await w.served(3);
    } finally {
      await w.close();
    }
  });

  test(`${name}: a flood from one box is rate limited while another box is served`, async (t) => {
    if (skip(t, name)) return;
    const w = await world(() => start());
    try {
      const a = await w.attacker();
      const payload = env({ body: 'flood' });
      const started = Date.now();
      for (let i = 0; i < 3000 && a.connected; i++) a.publish('weft/up/box-a/guide/s1/search', payload, { qos: 0 });
      await w.served(10); // served during the flood
      if (w.broker.aedes) {
        await until(() => !a.connected, 5000, 'the broker to cut the flooder off');
        const s = w.broker.aedes.stats();
        t.is(s.rateLimited, 1);
        t.true(s.throttled > 0);
        // Coming back at once is refused for the penalty time.
        await t.throwsAsync(w.attacker(), { message: /unavailable/i });
        t.is(w.broker.aedes.stats().penalized, 1);
      } else {
        await until(() => w.node.stats().rateLimited + w.fromAttacker.length >= 3000, 5000, 'the flood to arrive');
      }
      const elapsedS = (Date.now() - started) / 1000;
      // Nothing past the burst plus the sustained rate reached the head-end's handlers.
      t.true(w.fromAttacker.length <= LIMIT.burst + LIMIT.perSec * (elapsedS + 1), `${w.fromAttacker.length} delivered in ${elapsedS} s`);
      t.true(w.fromAttacker.length >= LIMIT.burst - 1);
      await w.served(5);
    } finally {
      await w.close();
    }
  });
}
