// [issue 19.5] The emulated return path opens its connection to the broker one latency after the
// box's connect, as a TCP handshake over that path would, so the broker's accept and the box's
// CONNECT come together. It used to connect upstream at once and delay only the bytes: the broker
// saw each CONNECT a latency (and in a busy fleet process its timers' lateness) after the accept,
// and at 5,000 boxes its CONNECT gate took that wait for its own queue (5,968 CONNACK 3).
import test from 'ava';
import { type Socket, connect, createServer } from 'node:net';
import { ReturnPath } from '../../devices/index.ts';
import { until } from '../_helpers/mqtt-fixtures.ts';

async function server(): Promise<{ port: number; conns: Socket[]; close: () => Promise<void> }> {
  const conns: Socket[] = [];
  const s = createServer((c) => void conns.push(c.on('error', () => {})));
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  return { port, conns, close: () => new Promise((r) => (conns.forEach((c) => c.destroy()), s.close(() => r()))) };
}

const dialTo = async (p: ReturnPath): Promise<Socket> => {
  const c = connect(p.port, '127.0.0.1').on('error', () => {});
  await new Promise((r) => c.once('connect', r));
  return c;
};

test('the broker accepts a box\'s connection one latency after the box connects, not at once', async (t) => {
  const broker = await server();
  const slow = await ReturnPath.start({ target: { host: '127.0.0.1', port: broker.port }, latencyMs: 60_000 });
  const fast = await ReturnPath.start({ target: { host: '127.0.0.1', port: broker.port } });
  const socks: Socket[] = [];
  t.teardown(async () => {
    socks.forEach((s) => s.destroy());
    await slow.close();
    await fast.close();
    await broker.close();
  });
  socks.push(await dialTo(slow));
  socks[0]?.write('CONNECT');
  await until(() => slow.stats().accepted === 1, 3000, 'the slow path to take the box');
  // A box on a path without latency, after it: its connection reaches the broker at once.
  socks.push(await dialTo(fast));
  socks[1]?.write('FAST');
  const heard: string[] = [];
  await until(() => {
    for (const c of broker.conns) if (!c.listenerCount('data')) c.on('data', (d: Buffer) => heard.push(d.toString()));
    return heard.includes('FAST');
  }, 3000, 'the broker to hear the fast box');
  t.is(broker.conns.length, 1, 'only the box without latency: the other\'s connection is still on its way');
  t.is(slow.stats().forwardedBytes, 0);
});

test('with no latency the box\'s bytes go through as before; a latency lowered meanwhile loses nothing', async (t) => {
  const broker = await server();
  const path = await ReturnPath.start({ target: { host: '127.0.0.1', port: broker.port }, latencyMs: 40 });
  t.teardown(async () => {
    await path.close();
    await broker.close();
  });
  const box = await dialTo(path);
  t.teardown(() => box.destroy());
  await until(() => path.stats().accepted === 1, 3000, 'the path to take the box');
  path.setConditions({ latencyMs: 0 }); // the bytes come due before the connect does
  box.write('CONNECT');
  await until(() => broker.conns.length === 1, 3000, 'the broker to accept');
  const got: Buffer[] = [];
  broker.conns[0]?.on('data', (d: Buffer) => got.push(d));
  await until(() => Buffer.concat(got).toString() === 'CONNECT', 3000, 'the bytes to arrive');
  t.is(path.stats().forwardedBytes, 7);
});
