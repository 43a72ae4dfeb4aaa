// The embedded broker in a worker thread of the node (broker-worker.ts): the same aedes, hooks and
// limits as startAedesBroker, on an event loop of its own. On one loop with the node, a CONNACK
// or a PINGRESP waited behind session setups, registry writes and GC: boxes took a slow node for
// a dead path (bench -- scale: 13,850 false verdicts for 6,000 arriving light boxes). Owns the
// thread: start, counters and rejections brought back, restart on the same port after a death.

import { Worker } from 'node:worker_threads';
import { ArgumentError, rejectUnknown } from '../../runtime/index.ts';
import { bundledEntry } from '../portions/worker-bundle.ts';
import type { AedesBrokerOptions, BrokerLogEvent, BrokerStats, EmbeddedBroker } from './broker-aedes.ts';
import type { HeadendKeys } from './broker-auth.ts';

/** What may cross to the thread: plain data only (no store, clock, ACL or TLS objects). */
export type BrokerThreadBrokerOptions = Pick<AedesBrokerOptions, 'host' | 'port' | 'prefix' | 'maxPacketBytes' | 'rateLimit' | 'maxThrottleMs' | 'penaltyMs' | 'preauth' | 'connectTimeoutMs'>;

export interface BrokerThreadSpec {
  /** The keys the thread derives its credential store from (broker-auth.ts headendCredentials). */
  keys: HeadendKeys;
  options: BrokerThreadBrokerOptions;
}

export type BrokerThreadMessage =
  | { t: 'ready'; url: string; host: string; port: number }
  | { t: 'stats'; stats: BrokerStats; heapUsed: number }
  | { t: 'log'; e: BrokerLogEvent }
  | { t: 'failed'; message: string }
  | { t: 'closed' };

export interface BrokerThreadOptions extends BrokerThreadBrokerOptions {
  keys: HeadendKeys;
  log?: (e: BrokerLogEvent) => void;
  /** A thread that died is started again on the same port, at most this many times in a row without a `ready`. Default 3. */
  maxRestarts?: number;
  /** Called with each thread started (tests end one to prove the restart). */
  onThread?: (w: Worker) => void;
  /** The thread died more than `maxRestarts` times in a row: the broker is down for good. */
  onFailed?: (e: BrokerThreadError) => void;
}

/** The broker in its thread: what EmbeddedBroker offers over the wire (no in-process link: it lives in another isolate). */
export interface ThreadBroker extends Pick<EmbeddedBroker, 'url' | 'host' | 'port' | 'stats' | 'close'> {
  /** Threads that died and were started again. */
  readonly restarts: number;
  /** Set once the thread died more often in a row than it may be restarted. */
  readonly failed: BrokerThreadError | undefined;
  /** The thread's V8 heap in use at its last counters, bytes (aedes' clients, subscriptions, buffers). */
  readonly heapUsedBytes: number;
  /** Resolves when the current thread listens (after a restart: the new one); rejects if it cannot start. */
  whenUp(): Promise<void>;
}

/** The broker thread could not start, or died more often than it may be restarted. */
export class BrokerThreadError extends Error {
  override readonly name = 'BrokerThreadError';
  readonly code = 'BROKER_THREAD';
}

const KEYS = ['keys', 'host', 'port', 'prefix', 'maxPacketBytes', 'rateLimit', 'maxThrottleMs', 'penaltyMs', 'preauth', 'connectTimeoutMs', 'log', 'maxRestarts', 'onThread', 'onFailed'];
const ENTRY = new URL('./broker-worker.ts', import.meta.url);
const BOOT = new URL('../portions/worker-boot.mjs', import.meta.url);

interface Running {
  worker: Worker;
  ready: Promise<{ url: string; host: string; port: number }>;
  closed: Promise<void>;
}

/** Start aedes with the Weft identity, ACL and limits in a worker thread of this process. */
export async function startAedesBrokerThread(o: BrokerThreadOptions): Promise<ThreadBroker> {
  rejectUnknown('startAedesBrokerThread', o, KEYS);
  if (o.keys === undefined || typeof o.keys.boxKey !== 'string') throw new ArgumentError('startAedesBrokerThread: keys {boxKey, node, nodeKey | password} are required', 'keys');
  const maxRestarts = o.maxRestarts ?? 3;
  if (!Number.isInteger(maxRestarts) || maxRestarts < 0) throw new ArgumentError('startAedesBrokerThread: maxRestarts must be a non-negative integer', 'maxRestarts');
  const { keys, log = () => {}, onThread, onFailed, maxRestarts: _m, ...options } = o;
  const entry = (await bundledEntry(ENTRY)) ?? ENTRY;
  let stats = {} as BrokerStats;
  let closing = false;
  let restarts = 0;
  let inARow = 0;
  let failed: BrokerThreadError | undefined;
  let heapUsed = 0;

  const spawn = (spec: BrokerThreadSpec): Running => {
    const worker = new Worker(BOOT, { workerData: { entry: entry.href, data: spec } });
    onThread?.(worker);
    let ready!: (v: { url: string; host: string; port: number }) => void;
    let fail!: (e: Error) => void;
    const r: Running = { worker, ready: new Promise((res, rej) => ((ready = res), (fail = rej))), closed: new Promise((res) => worker.once('exit', () => res())) };
    worker.on('message', (m: BrokerThreadMessage) => {
      if (m.t === 'ready') {
        inARow = 0;
        ready(m);
      }
      else if (m.t === 'stats') {
        stats = m.stats;
        heapUsed = m.heapUsed;
      }
      else if (m.t === 'log') log(m.e);
      else if (m.t === 'failed') fail(new BrokerThreadError(`the broker thread failed: ${m.message}`));
    });
    worker.once('error', (e) => fail(new BrokerThreadError(`the broker thread failed: ${e.message}`)));
    worker.once('exit', (code) => fail(new BrokerThreadError(`the broker thread exited (${code})`)));
    return r;
  };

  let cur = spawn({ keys, options });
  const first = await cur.ready;
  const spec: BrokerThreadSpec = { keys, options: { ...options, port: first.port } }; // a restart takes the same port: boxes dial it again
  // A thread that dies unasked is started again (boxes reconnect to it as after a broker restart).
  const watch = (r: Running): void =>
    void r.closed.then(() => {
      if (closing || cur !== r) return;
      if (inARow++ >= maxRestarts) {
        failed = new BrokerThreadError(`the broker thread died ${inARow} times in a row: not restarted`);
        return onFailed?.(failed);
      }
      restarts++;
      cur = spawn(spec);
      cur.ready.catch(() => undefined);
      watch(cur);
    });
  watch(cur);
  let closed: Promise<void> | undefined;
  return {
    url: first.url,
    host: first.host,
    port: first.port,
    get restarts() {
      return restarts;
    },
    get failed() {
      return failed;
    },
    get heapUsedBytes() {
      return heapUsed;
    },
    whenUp: () => cur.ready.then(() => undefined),
    stats: () => ({ ...stats }),
    close: () =>
      (closed ??= (async () => {
        closing = true;
        const r = cur;
        r.worker.postMessage({ t: 'close' });
        await r.closed;
      })()),
  };
}
