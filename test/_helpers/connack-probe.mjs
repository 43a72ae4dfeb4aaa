// A box in a worker thread of the test (plain JS, so it needs no loader): CONNECT, then PINGREQ,
// over a raw socket, and each answer published in a shared Int32Array ([0] 1 = CONNACK with return
// code [1], 2 = PINGRESP) with Atomics.notify, so a test whose own thread is blocked in
// Atomics.wait can tell whether the broker answered without that thread's event loop.
import { connect } from 'node:net';
import { workerData } from 'node:worker_threads';
import mqttPacket from 'mqtt-packet';

const { port, clientId, username, password, sab } = workerData;
const flag = new Int32Array(sab);
const set = (v, rc = 0) => {
  Atomics.store(flag, 1, rc);
  Atomics.store(flag, 0, v);
  Atomics.notify(flag, 0);
};
const parser = mqttPacket.parser({ protocolVersion: 4 });
const socket = connect({ host: '127.0.0.1', port });
parser.on('packet', (p) => {
  if (p.cmd === 'connack') {
    set(1, p.returnCode);
    if (p.returnCode === 0) socket.write(mqttPacket.generate({ cmd: 'pingreq' }));
    else socket.end();
  } else if (p.cmd === 'pingresp') {
    set(2);
    socket.end(mqttPacket.generate({ cmd: 'disconnect' }));
  }
});
socket.on('data', (d) => parser.parse(d));
socket.on('error', () => set(-1));
socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, username, password: Buffer.from(password), keepalive: 30, clean: true }));
