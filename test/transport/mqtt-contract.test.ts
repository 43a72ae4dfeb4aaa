// The transport contract on the MQTT adapter, both directions (box -> head-end ingress and
// head-end -> box inbox), on the embedded aedes broker and on a real mosquitto (3.1.1 and 5), with
// the box on mqtt.js and on its own minimal client (transport/mqtt-lite.ts, 3.1.1 only).
// Each pair gets its own broker so concurrently running cases never share client ids. The
// per-box rate limits are raised here: the contract's 2000-message burst is not what they are
// for (test/headend/broker-bad-input.test.ts shows them working).

import test from 'ava';
import { transportContract, type TransportPair } from '../_contracts/transport.ts';
import { which, needProgram } from '../_helpers/env.ts';
import { aedesBroker, mosquittoBroker, transport, type TestBroker } from '../_helpers/mqtt-fixtures.ts';
import type { MqttTransportOptions } from '../../transport/mqtt-options.ts';
import { liteMqttClient } from '../../transport/mqtt-lite.ts';

const UNLIMITED = { perSec: 1e6, burst: 1e6 };

function pairOn(start: () => Promise<TestBroker>, direction: 'up' | 'down', more: Partial<MqttTransportOptions> = {}, boxClient: 'mqtt.js' | 'lite' = 'mqtt.js'): () => Promise<TransportPair> {
  const extra = { rateLimit: UNLIMITED, ...more };
  return async () => {
    const broker = await start();
    const box = await transport(broker.url, 'box-a', boxClient === 'lite' ? { ...extra, client: liteMqttClient } : extra);
    const node = await transport(broker.url, 'node-1', extra);
    const close = async (): Promise<void> => {
      await Promise.all([box.close(), node.close()]);
      await broker.close();
    };
    return direction === 'up'
      ? { a: box, b: node, nowhere: { vaddr: 'weft://nobody/s1/x' }, close }
      : { a: node, b: box, nowhere: { vaddr: 'weft://box/ghost/inbox' }, close };
  };
}

transportContract('mqtt aedes box->headend', pairOn(() => aedesBroker({ rateLimit: UNLIMITED }), 'up'));
transportContract('mqtt aedes headend->box', pairOn(() => aedesBroker({ rateLimit: UNLIMITED }), 'down'));
transportContract('mqtt aedes box->headend, lite box', pairOn(() => aedesBroker({ rateLimit: UNLIMITED }), 'up', {}, 'lite'));
transportContract('mqtt aedes headend->box, lite box', pairOn(() => aedesBroker({ rateLimit: UNLIMITED }), 'down', {}, 'lite'));

const mosquitto = which('mosquitto');
if (mosquitto === undefined) {
  test('mqtt mosquitto: contract suite', (t) => void needProgram(t, 'mosquitto', 'the real-broker contract run'));
} else {
  transportContract('mqtt mosquitto 3.1.1 box->headend', pairOn(() => mosquittoBroker(mosquitto), 'up'));
  transportContract('mqtt mosquitto 5 headend->box', pairOn(() => mosquittoBroker(mosquitto), 'down', { protocolVersion: 5 }));
  transportContract('mqtt mosquitto 3.1.1 box->headend, lite box', pairOn(() => mosquittoBroker(mosquitto), 'up', {}, 'lite'));
  transportContract('mqtt mosquitto 3.1.1 headend->box, lite box', pairOn(() => mosquittoBroker(mosquitto), 'down', {}, 'lite'));
}
