// Real head-end nodes for tests: UDP transports on loopback, a SQLite registry (shared file or
// memory), a pre-warmed worker pool running the real portion worker (QuickJS), the services.

import { ManualClock, type Clock } from '../../runtime/index.ts';
import type { TrustedKeyJson } from '../../runtime/app/index.ts';
import { createUdpTransport } from '../../transport/index.ts';
import { connectMqttTransport } from '../../transport/mqtt.ts';
import { AppCatalog, type PublishedApp } from '../../headend/app-catalog.ts';
import type { ElasticOptions } from '../../headend/portions/elastic.ts';
import type { ReplicaOptions } from '../../headend/portions/replicas.ts';
import { HeadendNode } from '../../headend/node.ts';
import { SqliteRegistry } from '../../headend/registry/registry-sqlite.ts';
import type { Registry } from '../../headend/registry/registry.ts';
import { guideService, vodService } from '../../headend/services/index.ts';
import { WorkerPool } from '../../headend/portions/worker-pool.ts';

export const WORKER_ENTRY = new URL('../../headend/portions/portion-worker.ts', import.meta.url);

export interface TestNodeOptions {
  id: string;
  registry: Registry;
  apps: PublishedApp[];
  trusted: TrustedKeyJson[];
  intervalMs?: number;
  clock?: Clock;
  /** Join an MQTT broker as a head-end identity (boxes reach the node through it). */
  mqtt?: { url: string; password: string };
  boxIngress?: 'shared' | 'broadcast';
  /** Worker threads kept warm and the most the node may run (defaults 1 and 8). */
  pool?: { spare?: number; max?: number };
  elastic?: ElasticOptions;
  replicas?: ReplicaOptions;
  /** Work units the node reports it can carry (HeadendNodeOptions.capacity). */
  capacity?: number;
  log?: (line: string) => void;
}

export async function testNode(o: TestNodeOptions): Promise<HeadendNode> {
  const udp = await createUdpTransport({ host: '127.0.0.1', port: 0 });
  const catalog = new AppCatalog();
  for (const a of o.apps) catalog.add(a);
  const pool = new WorkerPool({ entry: WORKER_ENTRY, spare: o.pool?.spare ?? 1, max: o.pool?.max ?? 8 });
  const boxLocations = new Map<string, string>();
  const mqtt =
    o.mqtt === undefined
      ? undefined
      : await connectMqttTransport({ role: 'headend', url: o.mqtt.url, id: o.id, password: o.mqtt.password, log: () => {}, locate: (v) => boxLocations.get(v), deadPath: { initialRttMs: 1000 } });
  const node = new HeadendNode({
    id: o.id,
    udp,
    ...(mqtt === undefined ? {} : { mqtt }),
    boxLocations,
    ...(o.boxIngress === undefined ? {} : { boxIngress: o.boxIngress }),
    registry: o.registry,
    catalog,
    pool,
    trusted: o.trusted,
    services: [guideService({ from: Date.UTC(2026, 10, 26, 18), channels: 8, hours: 12 }), vodService({ now: () => Date.now() })],
    intervalMs: o.intervalMs ?? 200,
    ...(o.clock === undefined ? {} : { clock: o.clock }),
    ...(o.elastic === undefined ? {} : { elastic: o.elastic }),
    ...(o.replicas === undefined ? {} : { replicas: o.replicas }),
    ...(o.capacity === undefined ? {} : { capacity: o.capacity }),
    ...(o.log === undefined ? {} : { log: o.log }),
  });
  const close = node.close.bind(node);
  node.close = async () => {
    await close();
    await pool.close();
    await udp.close();
    await mqtt?.close();
  };
  await node.start();
  return node;
}

export function memoryRegistry(clock?: Clock): SqliteRegistry {
  return new SqliteRegistry({ path: ':memory:', ...(clock === undefined ? {} : { clock }) });
}

export { ManualClock };
