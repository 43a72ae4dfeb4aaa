// Shared set-up for the MQTT tests: a broker (embedded aedes or a real mosquitto) with a head-end
// identity and a few box identities, and connected transports on it. No assertions here.

import { type Socket, connect, createServer } from 'node:net';
import { staticCredentials, type Credential } from '../../headend/broker/broker-auth.ts';
import { startAedesBroker, type AedesBrokerOptions, type EmbeddedBroker } from '../../headend/broker/broker-aedes.ts';
import { connectMqttTransport, type MqttTransport } from '../../transport/mqtt.ts';
import type { MqttTransportOptions } from '../../transport/mqtt-options.ts';
import { startMosquitto, type MosquittoOptions, type RunningMosquitto } from './mosquitto.ts';

export const USERS: Credential[] = [
  { role: 'headend', id: 'node-1', password: 'node-1-secret' },
  { role: 'headend', id: 'node-2', password: 'node-2-secret' },
  { role: 'box', id: 'box-a', password: 'box-a-secret' },
  { role: 'box', id: 'box-b', password: 'box-b-secret' },
  { role: 'box', id: 'box-c', password: 'box-c-secret' },
];

export function secretOf(id: string): string {
  const u = USERS.find((x) => x.id === id);
  if (u === undefined) throw new Error(`no test user ${id}`);
  return u.password;
}

export interface TestBroker {
  name: 'aedes' | 'mosquitto';
  url: string;
  aedes?: EmbeddedBroker;
  mosquitto?: RunningMosquitto;
  close(): Promise<void>;
}

export async function aedesBroker(extra: Partial<AedesBrokerOptions> = {}): Promise<TestBroker> {
  const aedes = await startAedesBroker({ credentials: staticCredentials(USERS), log: () => {}, ...extra });
  return { name: 'aedes', url: aedes.url, aedes, close: () => aedes.close() };
}

export async function mosquittoBroker(program: string, extra: Partial<MosquittoOptions> = {}): Promise<TestBroker> {
  const m = await startMosquitto(program, { users: USERS, ...extra });
  return { name: 'mosquitto', url: m.url, mosquitto: m, close: () => m.stop() };
}

/**
 * A transport of `id` (its role from USERS) on `url`, quiet unless a log is given. The first
 * connect assumes a 1 s RTT (timeout 3.05 s): ava starts a file's tests at once on 2 cores, and a
 * cold process's first CONNACK can take 50+ ms even on loopback. Later attempts use the measured RTT.
 */
export function transport(url: string, id: string, extra: Partial<MqttTransportOptions> = {}): Promise<MqttTransport> {
  const u = USERS.find((x) => x.id === id);
  if (u === undefined) throw new Error(`no test user ${id}`);
  return connectMqttTransport({ role: u.role, url, id, password: u.password, log: () => {}, deadPath: { initialRttMs: 1000 }, ...extra });
}

/** Resolve when `cond` holds, polling each event-loop turn; reject after `ms`. */
export async function until(cond: () => boolean, ms = 3000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export interface CuttableProxy {
  port: number;
  url: string;
  /** Stop forwarding both ways, keeping every socket open: a dead path, not a closed one. New connections are accepted and go nowhere. */
  cut(): void;
  heal(): void;
  close(): Promise<void>;
}

/** A loopback TCP proxy to `target` that can silently black-hole traffic (no RST, no FIN). */
export async function cuttableProxy(target: URL | string): Promise<CuttableProxy> {
  const u = typeof target === 'string' ? new URL(target) : target;
  const sockets = new Set<Socket>();
  let dead = false;
  const server = createServer({ noDelay: true }, (inbound) => {
    sockets.add(inbound);
    inbound.on('error', () => {});
    inbound.once('close', () => sockets.delete(inbound));
    if (dead) return; // accept and say nothing
    const outbound = connect({ host: u.hostname, port: Number(u.port), noDelay: true });
    sockets.add(outbound);
    outbound.on('error', () => inbound.destroy());
    outbound.once('close', () => {
      sockets.delete(outbound);
      inbound.destroy();
    });
    inbound.once('close', () => outbound.destroy());
    inbound.on('data', (b) => void (dead || outbound.write(b)));
    outbound.on('data', (b) => void (dead || inbound.write(b)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    cut: () => void (dead = true),
    heal: () => void (dead = false),
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** An MQTT fixed header: the type byte (0x10 for CONNECT) and the varint remaining length. */
export function mqttFixedHeader(type: number, length: number): Buffer {
  const out = [type];
  let n = length;
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}
