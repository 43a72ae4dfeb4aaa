// [wave 14] A node on a shared broker (mosquitto) is a client of it: a broker restart drops the
// node with every box. Boxes spread their first reconnect over the fleet's window (10 s,
// transport/reconnect.ts) so thousands do not arrive at once; the node used the same policy, so
// it came back at a random point of that window, and every box message before it went to no one
// (its ingress had no subscriber). The node reconnects at once (D107).
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHeadend } from '../../headend/main.ts';
import { derivedBoxSecret, headendCredentials } from '../../headend/broker/broker-auth.ts';
import { connectMqttTransport } from '../../transport/mqtt.ts';
import { startMosquitto } from '../_helpers/mosquitto.ts';
import { needProgram } from '../_helpers/env.ts';
import { until } from '../_helpers/mqtt-fixtures.ts';
// @ts-expect-error build.mjs is plain JavaScript without types
import { build } from '../../build.mjs';

const MASTER = 'a-test-master-key-of-enough-length';
const NODE = 'node-1';

test('after a mosquitto restart the node is back before a box that waits half the fleet window', async (t) => {
  const program = needProgram(t, 'mosquitto', 'the node as a client of a shared broker');
  if (program === undefined) return;
  const dir = await mkdtemp(join(tmpdir(), 'weft-node-reconnect-'));
  const creds = headendCredentials({ boxKey: MASTER, node: NODE, nodeKey: 'a-node-key-unlike-the-master-key' });
  const m = await startMosquitto(program, { users: [{ id: NODE, role: 'headend', password: creds.nodePassword }, { id: 'box-a', role: 'box', password: derivedBoxSecret(MASTER, 'box-a') }] });
  const random = Math.random;
  const order: string[] = [];
  try {
    await build({ out: join(dir, 'dist'), keys: join(dir, 'keys'), quiet: true, firmware: false });
    // Every draw the node's transport makes is the worst one: under the fleet's window its first
    // reconnect waited 9.99 s; the box below draws the middle of the window (5 s).
    Math.random = () => 0.999;
    const h = await startHeadend({ node: NODE, broker: m.url, password: creds.nodePassword, clusterKey: Buffer.alloc(32, 7), registry: 'memory', apps: join(dir, 'dist', 'apps'), keys: join(dir, 'keys'), masterKey: MASTER, log: (l) => void (l.startsWith('mqtt link: up') && order.push('node')) });
    Math.random = random;
    const box = await connectMqttTransport({ role: 'box', url: m.url, id: 'box-a', password: derivedBoxSecret(MASTER, 'box-a'), log: () => {}, deadPath: { initialRttMs: 1000 }, random: () => 0.5, onLink: (s) => void (s === 'up' && order.push('box')) });
    try {
      await m.restart();
      await until(() => order.length === 2, 60_000, 'the node and the box back');
      t.deepEqual(order, ['node', 'box'], 'the node came back first: the box found it there');
    } finally {
      await box.close();
      await h.close();
    }
  } finally {
    Math.random = random;
    await m.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
