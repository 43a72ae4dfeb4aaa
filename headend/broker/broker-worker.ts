// The embedded broker's worker thread (broker-thread.ts starts it): aedes on an event loop of its
// own, so a CONNACK or PINGRESP never waits behind the node's session setups, registry writes or
// garbage collection. Builds the credential store from the keys it is given (a store holds
// functions and cannot cross threads), forwards rejections and counters, closes when told.

import { getHeapStatistics } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { headendCredentials } from './broker-auth.ts';
import { type BrokerLogEvent, type BrokerStats, type EmbeddedBroker, startAedesBroker } from './broker-aedes.ts';
import type { BrokerThreadMessage, BrokerThreadSpec } from './broker-thread.ts';

/** Counters go to the node at most this often (and once more when asked, before close). */
const STATS_EVERY_MS = 250;

if (parentPort === null) throw new Error('broker-worker: not a worker thread');
const port = parentPort;
const post = (m: BrokerThreadMessage): void => port.postMessage(m);
const data = (workerData as { data?: BrokerThreadSpec } | null)?.data;

async function main(spec: BrokerThreadSpec): Promise<void> {
  const { store } = headendCredentials(spec.keys);
  let last = '';
  let timer: NodeJS.Timeout | undefined;
  const pushStats = (): void => {
    timer = undefined;
    const s: BrokerStats = broker.stats();
    const text = JSON.stringify(s);
    // The heap rides along (not compared): what this broker holds per connection (bench -- scale).
    if (text !== last) post({ t: 'stats', stats: s, heapUsed: getHeapStatistics().used_heap_size });
    last = text;
  };
  const soon = (): void => void (timer ??= setTimeout(pushStats, STATS_EVERY_MS));
  const log = (e: BrokerLogEvent): void => {
    post({ t: 'log', e });
    soon();
  };
  const broker: EmbeddedBroker = await startAedesBroker({ ...spec.options, credentials: store, log });
  // Connections come and go without a log line: the count is sampled on a slow, unref'd timer.
  setInterval(soon, STATS_EVERY_MS * 4).unref();
  port.on('message', (m: { t?: unknown }) => {
    if (m?.t !== 'close') return;
    if (timer !== undefined) clearTimeout(timer);
    pushStats();
    void broker.close().then(() => {
      post({ t: 'closed' });
      port.close();
      process.exit(0);
    });
  });
  post({ t: 'ready', url: broker.url, host: broker.host, port: broker.port });
  pushStats();
}

if (data === undefined) post({ t: 'failed', message: 'broker-worker: no spec in workerData.data' });
else
  main(data).catch((e: unknown) => {
    post({ t: 'failed', message: (e as Error).message.slice(0, 500) });
    process.exit(1);
  });
