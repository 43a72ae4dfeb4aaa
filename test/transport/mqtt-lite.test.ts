// The box's MQTT client (transport/mqtt-lite.ts) on its own: against the embedded broker (login,
// refusal, the transport's dead-path probe is a real PINGREQ the broker answers) and against a
// scripted broker on loopback that misbehaves (packets before CONNACK, oversized packets, an
// unanswered keepalive), on an injected clock. No sleeps: every wait is on an event.

import { type Server, type Socket, createServer, createConnection } from 'node:net';
import test from 'ava';
import { ArgumentError, ManualClock } from '../../runtime/index.ts';
import { BrokerRefusedError } from '../../transport/mqtt-errors.ts';
import { LiteMqttClient, liteMqttClient } from '../../transport/mqtt-lite.ts';
import { connectMqttTransport } from '../../transport/mqtt.ts';
import { aedesBroker, secretOf, until } from '../_helpers/mqtt-fixtures.ts';

interface Scripted {
  port: number;
  /** Bytes the client sent, as hex, per connection. */
  heard: string[];
  sockets: Socket[];
  close(): Promise<void>;
}

/** A TCP server that answers each connection's bytes with `reply(hexSoFar)`, once per chunk. */
async function scripted(reply: (heard: string, s: Socket) => void): Promise<Scripted> {
  const out: Scripted = { port: 0, heard: [], sockets: [], close: async () => {} };
  const server: Server = createServer({ noDelay: true }, (s) => {
    const i = out.heard.push('') - 1;
    out.sockets.push(s);
    s.on('error', () => {});
    s.on('data', (b: Buffer) => {
      out.heard[i] += b.toString('hex');
      reply(out.heard[i] as string, s);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  out.port = (server.address() as { port: number }).port;
  out.close = () =>
    new Promise<void>((r) => {
      for (const s of out.sockets) s.destroy();
      server.close(() => r());
    });
  return out;
}

const CONNACK_OK = Buffer.from('20020000', 'hex');

function lite(port: number, extra: Partial<ConstructorParameters<typeof LiteMqttClient>[1]> = {}): LiteMqttClient {
  return new LiteMqttClient(() => createConnection({ host: '127.0.0.1', port, noDelay: true }), { clientId: 'box-a', username: 'box-a', password: 'pw', ...extra });
}

function outcome(c: LiteMqttClient): Promise<{ error: Error | undefined; connected: boolean }> {
  return new Promise((resolve) => {
    let error: Error | undefined;
    let connected = false;
    c.on('error', (e) => (error ??= e));
    c.on('connect', () => (connected = true));
    c.once('close', () => resolve({ error, connected }));
  });
}

test('aedes: login, subscribe, QoS 1 round trip, the probe answered, clean DISCONNECT', async (t) => {
  const b = await aedesBroker();
  t.teardown(() => b.close());
  const port = Number(new URL(b.url).port);
  const c = lite(port, { password: secretOf('box-a') });
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve());
    c.once('error', reject);
  });
  t.true(c.connected);
  const granted = await new Promise<number | undefined>((resolve, reject) => c.subscribe('weft/box/box-a/#', { qos: 1 }, (e, g) => (e ? reject(e) : resolve(g?.[0]?.qos))));
  t.is(granted, 1);
  // A box may publish only under weft/up/<its id>/ (the broker's ACL); its own inbox is not
  // writable to it, so the QoS 1 round trip here is PUBLISH -> PUBACK.
  await new Promise<void>((resolve, reject) => c.publish('weft/up/box-a/x', Buffer.from('hi'), { qos: 1 }, (e) => (e ? reject(e) : resolve())));
  t.deepEqual(Object.keys(c.outgoing), []);
  let answered = false;
  c.once('packetreceive', () => (answered = true));
  c.sendPing();
  await until(() => answered, 5000, 'PINGRESP');
  await new Promise<void>((resolve) => c.end(false, {}, resolve));
  t.false(c.connected);
});

test('aedes: a wrong password is refused with the CONNACK code, a typed BrokerRefusedError through the transport', async (t) => {
  const b = await aedesBroker();
  t.teardown(() => b.close());
  const r = await outcome(lite(Number(new URL(b.url).port), { password: 'wrong' }));
  t.false(r.connected);
  t.true([4, 5].includes((r.error as Error & { code: number }).code));
  await t.throwsAsync(connectMqttTransport({ role: 'box', url: b.url, id: 'box-a', password: 'wrong', client: liteMqttClient, log: () => {}, deadPath: { initialRttMs: 1000 } }), { instanceOf: BrokerRefusedError });
});

test('a broker that sends anything before CONNACK is dropped', async (t) => {
  const s = await scripted((_h, sock) => sock.write(Buffer.from('d000', 'hex')));
  t.teardown(() => s.close());
  const r = await outcome(lite(s.port));
  t.false(r.connected);
  t.regex(r.error?.message ?? '', /pingresp before CONNACK/);
});

test('a packet over the bound ends the link at its header, before its body arrives', async (t) => {
  const s = await scripted((h, sock) => {
    if (h.startsWith('10')) sock.write(Buffer.concat([CONNACK_OK, Buffer.from('30e807', 'hex')])); // a 1000-byte PUBLISH announced
  });
  t.teardown(() => s.close());
  const r = await outcome(lite(s.port, { maxPacketBytes: 512 }));
  t.true(r.connected);
  t.regex(r.error?.message ?? '', /over the limit of 512/);
});

test('QoS 1 from the broker is acknowledged with its packet id; a QoS 1 send waiting when the link closes gets an error', async (t) => {
  let step = 0;
  const s = await scripted((h, sock) => {
    if (step === 0 && h.startsWith('10')) {
      step = 1;
      sock.write(Buffer.concat([CONNACK_OK, Buffer.from('32070001740abc6869', 'hex')])); // PUBLISH QoS 1 "t" id 0x0abc "hi"
    }
  });
  t.teardown(() => s.close());
  const c = lite(s.port);
  const closed = outcome(c);
  const got: [string, string][] = [];
  c.on('message', (topic, payload) => got.push([topic, payload.toString()]));
  await until(() => got.length === 1 && (s.heard[0] ?? '').includes('40020abc'), 5000, 'the PUBACK');
  t.deepEqual(got, [['t', 'hi']]);
  const sent = new Promise<Error | undefined>((resolve) => c.publish('weft/up/box-a/x', Buffer.from('z'), { qos: 1 }, resolve));
  t.is(Object.keys(c.outgoing).length, 1);
  s.sockets[0]?.destroy();
  t.regex((await sent)?.message ?? '', /closed/);
  await closed;
  const late = await new Promise<Error | undefined>((resolve) => c.publish('t', Buffer.from('z'), { qos: 1 }, resolve));
  t.regex(late?.message ?? '', /disconnecting/, 'a closed client refuses at once');
});

test('keepalive on an injected clock: PINGREQ after the keepalive of send silence; one unanswered for a period drops the link', async (t) => {
  let acked = false;
  const s = await scripted((h, sock) => {
    if (acked || !h.startsWith('10')) return;
    acked = true;
    sock.write(CONNACK_OK); // and nothing more: the PINGREQ goes unanswered
  });
  t.teardown(() => s.close());
  const clock = new ManualClock();
  const c = lite(s.port, { keepaliveSec: 30, clock });
  const closed = outcome(c);
  await until(() => c.connected, 5000, 'CONNACK');
  clock.advance(29_999);
  t.false((s.heard[0] ?? '').endsWith('c000'), 'no ping before the keepalive');
  clock.advance(1);
  await until(() => (s.heard[0] ?? '').endsWith('c000'), 5000, 'the PINGREQ');
  clock.advance(30_000);
  const r = await closed;
  t.regex(r.error?.message ?? '', /Keepalive timeout/);
});

test('options: unknown names refused by name; MQTT 5 is for mqtt.js', (t) => {
  const open = () => createConnection({ host: '127.0.0.1', port: 1 });
  t.throws(() => new LiteMqttClient(open, { clientId: 'x', reconnectPeriod: 0 } as never), { instanceOf: ArgumentError, message: /reconnectPeriod/ });
  t.throws(() => new LiteMqttClient(open, { clientId: 'x', keepaliveSec: 70_000 }), { message: /keepaliveSec/ });
  t.throws(() => new LiteMqttClient(open, { clientId: 'x', maxPacketBytes: 1 }), { message: /maxPacketBytes/ });
  t.throws(() => liteMqttClient(open, { clientId: 'x', username: 'x', password: undefined, protocolVersion: 5, clean: true, sessionExpirySec: undefined, keepaliveSec: 30, maxPacketBytes: 1024, clock: new ManualClock() }), {
    message: /3\.1\.1 only/,
  });
});
