// A child of bench -- broker-churn: opens N MQTT connections to the broker at argv (port, N, box
// master key), each a light box's login (CONNECT, clean session) and its inbox SUBSCRIBE sent at
// once, and prints `ready` when every connection has had its first answer. Holds them until killed.
import { connect } from 'node:net';
import mqtt from 'mqtt-packet';
import { derivedBoxSecret } from '../headend/broker/broker-auth.ts';

const [port, n, key] = process.argv.slice(2) as [string, string, string];
let answered = 0;
for (let i = 0; i < Number(n); i++) {
  const id = `box-${i}`;
  const s = connect(Number(port), '127.0.0.1');
  s.on('error', (e) => {
    process.stderr.write(`box ${id}: ${e.message}\n`);
    process.exit(1);
  });
  s.on('connect', () => {
    s.write(mqtt.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: id, keepalive: 600, username: id, password: Buffer.from(derivedBoxSecret(key, id)) }));
    s.write(mqtt.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `weft/box/${id}/#`, qos: 1 }] }));
  });
  s.once('data', () => {
    if (++answered === Number(n)) process.stdout.write('ready\n');
  });
}
