// Finding 3 of issue 12: node credentials live in their own namespace. A box provisioned with an
// id like `headend.node-1` must not be able to log in as the node, read other boxes' ingress or
// evict the real node, on the embedded broker and on mosquitto. SECURITY.md row "broker: nodes".

import test from 'ava';
import { derivedBoxSecret, derivedNodeSecret, headendCredentials } from '../../headend/broker/broker-auth.ts';
import { startAedesBroker } from '../../headend/broker/broker-aedes.ts';
import { needProgram } from '../_helpers/env.ts';
import { startMosquitto } from '../_helpers/mosquitto.ts';
import { connectMqttTransport, openRawClient, type MqttTransport } from '../../transport/mqtt.ts';
import { clientOptions, resolveMqttOptions } from '../../transport/mqtt-options.ts';

const BOX_KEY = 'box-master-key-of-the-plant';
const NODE_KEY = 'node-key-of-the-plant-kept-apart';
const EVIL = 'headend.node-1'; // a box id a provisioning system would accept
const evilSecret = derivedBoxSecret(BOX_KEY, EVIL);

function plant() {
  return headendCredentials({ boxKey: BOX_KEY, nodeKey: NODE_KEY, node: 'node-1' });
}

/** The username and client id the real node's transport logs in with. */
function nodeUser(url: string): string {
  return clientOptions(resolveMqttOptions({ role: 'headend', url, id: 'node-1' })).username;
}

function node(url: string, password: string): Promise<MqttTransport> {
  return connectMqttTransport({ role: 'headend', url, id: 'node-1', password, log: () => {}, deadPath: { initialRttMs: 2000 } });
}

/** Every way the evil box could try to be the node; returns the attempts the broker accepted. */
async function attack(url: string): Promise<string[]> {
  const user = nodeUser(url);
  const tries = [
    { name: 'node username, box secret', username: user, clientId: user, password: evilSecret },
    { name: 'bare node id, box secret', username: 'node-1', clientId: 'node-1', password: evilSecret },
    { name: 'own identity, node client id', username: EVIL, clientId: user, password: evilSecret },
  ];
  const accepted: string[] = [];
  for (const { name, ...opts } of tries) {
    const c = await openRawClient(url, { ...opts, reconnectPeriod: 0 }).catch(() => undefined);
    if (c === undefined) continue;
    // mosquitto overrides the client id with the username: accepted as itself is not a takeover.
    if (opts.username === EVIL) {
      await c.endAsync(true);
      continue;
    }
    accepted.push(name);
    await c.endAsync(true);
  }
  return accepted;
}

/** A box legitimately called `node-1` logs in as a box: it is never the node, and evicts nothing. Returns its SUBACK for the ingress. */
async function namesake(url: string): Promise<number | undefined> {
  const c = await openRawClient(url, { username: 'node-1', clientId: 'node-1', password: derivedBoxSecret(BOX_KEY, 'node-1'), reconnectPeriod: 0 });
  try {
    const granted = await c.subscribeAsync('weft/up/#', { qos: 1 }).catch(() => [{ qos: 128 }]);
    return granted[0]?.qos;
  } finally {
    await c.endAsync(true);
  }
}

test('aedes: a box cannot log in as a node or evict it', async (t) => {
  const p = plant();
  const b = await startAedesBroker({ credentials: p.store, log: () => {} });
  const n = await node(b.url, p.nodePassword);
  try {
    t.deepEqual(await attack(b.url), []);
    t.true(b.stats().authFailed + b.stats().idMismatch >= 3, 'each attempt counted');
    t.is(await namesake(b.url), 128, 'a box called node-1 gets no ingress');
    t.is(n.stats().linkDrops, 0, 'the real node kept its connection');
  } finally {
    await n.close();
    await b.close();
  }
});

test('the node password cannot be derived from the box key under any box id', (t) => {
  const p = plant();
  for (const id of ['node-1', EVIL, 'headend-node-1', 'node-1.headend']) t.not(p.nodePassword, derivedBoxSecret(BOX_KEY, id), id);
  t.not(nodeUser('mqtt://127.0.0.1:1'), 'node-1', 'the node logs in outside the box id space');
  t.throws(() => derivedBoxSecret(BOX_KEY, nodeUser('mqtt://127.0.0.1:1')), { message: /bad box id/ });
});

test('head-end credentials: a node key is required, and it is never the box key', (t) => {
  t.throws(() => headendCredentials({ boxKey: BOX_KEY, node: 'node-1' }), { message: /nodeKey/ });
  t.throws(() => headendCredentials({ boxKey: BOX_KEY, nodeKey: BOX_KEY, node: 'node-1' }), { message: /must not be the box master key/ });
  t.throws(() => headendCredentials({ boxKey: BOX_KEY, nodeKey: 'short', node: 'node-1' }), { message: /at least 16/ });
  t.throws(() => headendCredentials({ boxKey: BOX_KEY, nodeKey: NODE_KEY, node: 'node-1', nodekey: 'x' } as never), { message: /nodekey/ });
  const given = headendCredentials({ boxKey: BOX_KEY, node: 'node-1', password: 'an operator-set password' });
  t.is(given.nodePassword, 'an operator-set password');
  t.deepEqual(given.store.verify('node-1@headend', 'an operator-set password'), { role: 'headend', id: 'node-1' });
  t.deepEqual(plant().store.verify('node-1@headend', derivedNodeSecret(NODE_KEY, 'node-1')), { role: 'headend', id: 'node-1' });
});

test('mosquitto: a box cannot log in as a node or evict it', async (t) => {
  const program = needProgram(t, 'mosquitto', 'node credentials on the real broker');
  if (program === undefined) return;
  const p = plant();
  const m = await startMosquitto(program, {
    users: [
      { id: 'node-1', role: 'headend', password: p.nodePassword },
      { id: EVIL, role: 'box', password: evilSecret },
      { id: 'node-1', role: 'box', password: derivedBoxSecret(BOX_KEY, 'node-1') },
    ],
  });
  try {
    const n = await node(m.url, p.nodePassword);
    try {
      t.deepEqual(await attack(m.url), []);
      await namesake(m.url); // mosquitto grants and filters at delivery; what matters: it logs in as a box
      t.is(n.stats().linkDrops, 0, 'the real node kept its connection');
      t.regex(m.log(), /New client connected .* as node-1 .*u'node-1'/);
    } finally {
      await n.close();
    }
  } finally {
    await m.stop();
  }
});

test('with a node key, any node holding it may join the embedded broker; a box-key secret never passes as a node', (t) => {
  const boxKey = 'box-master-key-0123456789';
  const nodeKey = 'node-key-abcdefghijklmnop';
  const { store } = headendCredentials({ boxKey, nodeKey, node: 'node-1' });
  t.like(store.verify('node-2@headend', derivedNodeSecret(nodeKey, 'node-2')), { role: 'headend', id: 'node-2' });
  t.is(store.verify('node-2@headend', derivedBoxSecret(boxKey, 'node-2')), undefined);
  t.is(store.verify('node-2@headend', derivedNodeSecret(nodeKey, 'node-3')), undefined);
  t.like(store.verify('box-7', derivedBoxSecret(boxKey, 'box-7')), { role: 'box', id: 'box-7' });
});
