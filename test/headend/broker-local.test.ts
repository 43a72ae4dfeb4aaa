// The node's link to the broker of its own process (headend/broker/broker-local.ts): the same
// transport semantics as a TCP client (ingress checks, replies by vaddr, QoS 1 confirmations,
// leaving the ingress, the broker closing), with no MQTT encoding and no socket; and the embedded
// head-end uses it, so its broker holds only the boxes' connections.

import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Channel, Codes, RemoteError, SessionOps, type Envelope } from '../../runtime/index.ts';
import { connectMqttTransport } from '../../transport/mqtt.ts';
import { LocalMqttClient, localClientFactory, type LocalLinkStats } from '../../headend/broker/broker-local.ts';
import { startHeadend } from '../../headend/main.ts';
import { aedesBroker, transport, until } from '../_helpers/mqtt-fixtures.ts';
// @ts-expect-error build.mjs is plain JavaScript without types
import { build } from '../../build.mjs';

test('a node on the local link serves boxes as over TCP: ext.by stamped, replies by vaddr, QoS 1 confirmed, ingress left, no socket', async (t) => {
  const broker = await aedesBroker();
  const local = broker.aedes!.local;
  const stats: LocalLinkStats = { published: 0, delivered: 0 };
  const node = await transport(broker.url, 'node-1', { client: localClientFactory(local, stats) });
  const box = await transport(broker.url, 'box-a');
  try {
    const seen: Envelope[] = [];
    const service = new Channel({ self: { vaddr: 'weft://guide/*/search' }, write: (e) => node.send(e), onRequest: (req) => ({ q: req.body, by: req.ext?.by }) });
    node.onEnvelope((e) => {
      seen.push(e);
      service.receive(e);
    });
    const ch = new Channel({ self: { vaddr: 'weft://guide/s1/ui' }, write: (e) => box.send(e), timeoutMs: 3000 });
    box.onEnvelope((e) => ch.receive(e));
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => ch.request({ vaddr: 'weft://guide/*/search' }, i)));
    t.deepEqual(replies, Array.from({ length: 20 }, (_, i) => ({ q: i, by: 'box:box-a' })), 'identity from the login, as on TCP');
    t.is(broker.aedes!.stats().connections, 1, 'only the box holds a connection');
    t.true(stats.delivered >= 20 && stats.published >= 20, 'both directions went by function call');
    // A QoS 1 push resolves once the broker took it.
    await node.send({ v: 1, kind: 'ctl', id: 7, src: node.address, dst: { vaddr: 'weft://guide/s1/ui' }, op: 'x', body: null });
    // Leaving the ingress (a draining node): what a box sends after the UNSUBACK is not delivered.
    await node.stopIngress();
    const before = seen.length;
    await box.send({ v: 1, kind: 'msg', id: 99, src: { vaddr: 'weft://guide/s1/ui' }, dst: { vaddr: 'weft://guide/*/search' }, body: 'late' });
    await box.send({ v: 1, kind: 'req', id: 100, src: { vaddr: 'weft://guide/s1/ui' }, dst: { vaddr: 'weft://guide/*/search' }, body: 'late' }); // QoS 1: its PUBACK comes after the broker's deliveries
    await new Promise((r) => setImmediate(r));
    t.is(seen.length, before, 'nothing delivered after leaving');
  } finally {
    await box.close();
    await node.close();
    await broker.close();
  }
});

test('the broker closing ends the local link as a lost connection; a closed client refuses sends with an error', async (t) => {
  const broker = await aedesBroker();
  const links: string[] = [];
  const node = await transport(broker.url, 'node-1', { client: localClientFactory(broker.aedes!.local), onLink: (s) => void links.push(s), backoff: { windowMs: 60_000 } });
  try {
    t.is(node.link, 'up');
    await broker.close();
    await until(() => node.link === 'down', 3000, 'the link down');
    t.deepEqual(links, ['down']);
    const c = new LocalMqttClient(broker.aedes!.local, { published: 0, delivered: 0 });
    const err = await new Promise<Error | undefined>((resolve) => c.publish('weft/box/box-a/x', Buffer.from([1]), { qos: 1 }, resolve));
    t.regex(String(err?.message), /disconnecting/);
    t.false(c.connected);
  } finally {
    await node.close();
  }
});

test('the embedded head-end links its node by function call: the broker holds only the box, a refused request is answered; localLink false keeps the TCP client', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-local-link-'));
  await build({ out: join(dir, 'dist'), keys: join(dir, 'keys'), quiet: true, firmware: false });
  try {
    for (const localLink of [undefined, false]) {
      const h = await startHeadend({ registry: 'memory', apps: join(dir, 'dist', 'apps'), keys: join(dir, 'keys'), masterKey: 'a-test-master-key-of-enough-length', log: () => {}, ...(localLink === undefined ? {} : { localLink }) });
      const boxT = await connectMqttTransport({ role: 'box', url: h.brokerUrl, id: 'stb-1', password: h.boxSecret('stb-1'), log: () => {}, deadPath: { initialRttMs: 1000 } });
      const box = new Channel({ self: { vaddr: 'weft://box/stb-1/inbox' }, write: (e: Envelope) => boxT.send(e), timeoutMs: 15_000 });
      boxT.onEnvelope((e) => box.receive(e));
      try {
        const err = await t.throwsAsync(box.request({ vaddr: h.node.vaddr('modules') }, { session: 'none', module: 'ui' }, { op: SessionOps.moduleGet }), { instanceOf: RemoteError });
        t.is(err?.code, Codes.NOT_FOUND);
        t.is(h.broker?.stats().connections, localLink === false ? 2 : 1, `localLink ${String(localLink)}`);
      } finally {
        await boxT.close();
        await h.close();
      }
    }
    await t.throwsAsync(startHeadend({ registry: 'memory', apps: join(dir, 'dist', 'apps'), keys: join(dir, 'keys'), masterKey: 'a-test-master-key-of-enough-length', log: () => {}, localLink: 'yes' as unknown as boolean }), { message: /localLink must be a boolean/ });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
