// Plain mqtt.js clients outside the adapter's connection handling: `openRawClient` (tests,
// benchmarks, diagnostics) and `endClient` (how the adapter ends a client it is done with).

import { createConnection } from 'node:net';
import { type IClientOptions, MqttClient } from 'mqtt';
import type { MqttClientLike } from './mqtt-client.ts';

/** A plain mqtt.js client (its defaults, no reconnect) on a TCP_NODELAY socket, for tests, benchmarks and diagnostics. */
export function openRawClient(url: string, options: IClientOptions = {}): Promise<MqttClient> {
  const u = new URL(url);
  const [host, port] = [u.hostname, u.port === '' ? 1883 : Number(u.port)];
  return new Promise((resolve, reject) => {
    const client = new MqttClient(() => createConnection({ host, port, noDelay: true }), { reconnectPeriod: 0, ...options });
    const onError = (e: Error): void => {
      client.end(true);
      reject(e);
    };
    const onClose = (): void => onError(new Error('closed before CONNACK'));
    client.once('error', onError);
    client.once('close', onClose);
    client.once('connect', () => {
      client.removeListener('error', onError);
      client.removeListener('close', onClose);
      client.on('error', () => {});
      resolve(client);
    });
  });
}

export function endClient(client: MqttClientLike): Promise<void> {
  client.on('error', () => undefined); // a client being ended may still hear its socket reset: expected, not a crash
  return new Promise((resolve) => {
    const force = !client.connected || Object.keys(client.outgoing).length > 0;
    const guard = setTimeout(() => client.end(true, {}, () => resolve()), 1000);
    client.end(force, {}, () => {
      clearTimeout(guard);
      resolve();
    });
  });
}
