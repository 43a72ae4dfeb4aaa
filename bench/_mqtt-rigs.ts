// The two request/reply rigs of bench -- mqtt (and its profile driver, bench/_mqtt-profile.ts):
// Weft's Channels over the MQTT transport, and raw mqtt.js with the same body on the same broker.

import { Channel } from '../runtime/index.ts';
import { connectMqttTransport, openRawClient } from '../transport/mqtt.ts';
import type { MqttTransportOptions } from '../transport/mqtt-options.ts';
import { TopicScheme, boxAddress } from '../transport/mqtt-topics.ts';

export const BODY = new Uint8Array(64).map((_, i) => (i * 37) & 0xff);
export const USERS = [
  { role: 'headend' as const, id: 'node-1', password: 'bench-node' },
  { role: 'box' as const, id: 'box-a', password: 'bench-box' },
];
export const UNLIMITED = { perSec: 1e9, burst: 1e9 }; // the bench measures the channel, not the policy
const SERVICE = { vaddr: 'weft://bench/s1/echo' };
const topics = new TopicScheme();

/** One request/reply implementation: `once` does a round trip; `close` tears it down. */
export interface Rig {
  once(): Promise<void>;
  close(): Promise<void>;
}

export async function weftRig(url: string): Promise<Rig> {
  const common: Partial<MqttTransportOptions> = { rateLimit: UNLIMITED, log: () => {}, deadPath: { initialRttMs: 1000 } };
  const node = await connectMqttTransport({ role: 'headend', url, id: 'node-1', password: 'bench-node', ...common });
  const box = await connectMqttTransport({ role: 'box', url, id: 'box-a', password: 'bench-box', ...common });
  // Channels post (issue 19: the callback send, as the node's endpoints do through dispatch).
  const server = new Channel({ self: SERVICE, post: (e, done) => node.post(e, done), onRequest: (req) => req.body });
  node.onEnvelope((e) => server.receive(e));
  const client = new Channel({ self: box.address, post: (e, done) => box.post(e, done), timeoutMs: 10_000 });
  box.onEnvelope((e) => client.receive(e));
  return {
    once: () => client.request(SERVICE, BODY).then(() => undefined),
    close: async () => void (await Promise.all([box.close(), node.close()])),
  };
}

/**
 * Weft's two MQTT transports with no Channel (wave 19: what the Channels add to what gets promoted):
 * the box posts a fresh request envelope, the node posts the reply, the box matches it by id.
 */
export async function bareRig(url: string): Promise<Rig> {
  const common: Partial<MqttTransportOptions> = { rateLimit: UNLIMITED, log: () => {}, deadPath: { initialRttMs: 1000 } };
  const node = await connectMqttTransport({ role: 'headend', url, id: 'node-1', password: 'bench-node', ...common });
  const box = await connectMqttTransport({ role: 'box', url, id: 'box-a', password: 'bench-box', ...common });
  const noop = (): void => {};
  node.onEnvelope((e) => node.post({ v: 1, kind: 'rep', id: e.id, corr: e.id, src: SERVICE, dst: e.src, body: e.body }, noop));
  const waiting = new Map<number, () => void>();
  box.onEnvelope((e) => {
    const done = waiting.get(e.corr as number);
    waiting.delete(e.corr as number);
    done?.();
  });
  let next = 0;
  return {
    once: () =>
      new Promise<void>((resolve) => {
        const id = (next = (next + 1) >>> 0);
        waiting.set(id, resolve);
        box.post({ v: 1, kind: 'req', id, src: box.address, dst: SERVICE, body: BODY, deadline: Date.now() + 10_000 }, noop);
      }),
    close: async () => void (await Promise.all([box.close(), node.close()])),
  };
}

/** `size`: the payload's bytes (default: the id and body; larger pads with zeros, bench/_mqtt-size.ts). */
export async function rawRig(url: string, size = 4 + BODY.length): Promise<Rig> {
  const reqTopic = topics.up('box-a', SERVICE.vaddr);
  const repTopic = topics.down('box-a', boxAddress('box-a').vaddr as string);
  const responder = await openRawClient(url, { username: 'node-1@headend', clientId: 'node-1@headend', password: 'bench-node' });
  const requester = await openRawClient(url, { username: 'box-a', clientId: 'box-a', password: 'bench-box' });
  await responder.subscribeAsync(topics.upFilter(), { qos: 1 });
  await requester.subscribeAsync(topics.downFilter('box-a'), { qos: 1 });
  responder.on('message', (_topic, payload) => responder.publish(repTopic, payload, { qos: 1 }));
  // The same body plus a 4-byte correlation id: the least a raw request/reply needs.
  const waiting = new Map<number, () => void>();
  let next = 0;
  requester.on('message', (_topic, payload) => {
    const id = payload.readUInt32BE(0);
    const done = waiting.get(id);
    waiting.delete(id);
    done?.();
  });
  return {
    once: () =>
      new Promise<void>((resolve) => {
        const id = next++ >>> 0;
        const payload = Buffer.allocUnsafe(size);
        payload.writeUInt32BE(id, 0);
        payload.set(BODY, 4);
        payload.fill(0, 4 + BODY.length);
        waiting.set(id, resolve);
        requester.publish(reqTopic, payload, { qos: 1 });
      }),
    close: async () => void (await Promise.all([requester.endAsync(), responder.endAsync()])),
  };
}
