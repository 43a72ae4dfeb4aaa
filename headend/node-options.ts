// The options, counters and constants of a head-end node (HeadendNode): what a composition root
// passes in and reads back. Types and constants only.

import type { Clock, Transport } from '../runtime/index.ts';
import type { TrustedKeyJson } from '../runtime/app/index.ts';
import type { AppCatalog } from './app-catalog.ts';
import type { ElasticOptions } from './portions/elastic.ts';
import type { PlacementPolicy } from '../policy/index.ts';
import type { Registry } from './registry/registry.ts';
import type { ReplicaOptions } from './portions/replicas.ts';
import type { AppWideOptions } from './portions/shared-app.ts';
import type { HeadendService } from './services/index.ts';
import type { BoxQuotas } from './node/quotas.ts';
import type { CheckpointOptions } from './portions/checkpoint-options.ts';
import type { PortionPool } from './portions/portions.ts';
import type { ProcessReadings } from './stats/statistics-sampler.ts';
import type { NodeTracer } from './trace/tracer.ts';

export interface HeadendNodeOptions {
  /** Node id, unique in the cluster. */
  id: string;
  /** This node's UDP transport (other nodes reach it at its address) [c11]. */
  udp: Transport;
  /** The MQTT transport in the head-end role (boxes). Optional: a node may serve only peers. */
  mqtt?: Transport;
  registry: Registry;
  catalog: AppCatalog;
  /** Threads for portions: a WorkerPool, or an in-thread host in deterministic tests. */
  pool: PortionPool;
  /** Keys whose signatures the node accepts on apps. */
  trusted: TrustedKeyJson[];
  services?: HeadendService[];
  clock?: Clock;
  policy?: PlacementPolicy;
  /** CPU, loop-delay and memory readings for the node's reports. Default: this process's. Tests inject them. */
  readings?: () => ProcessReadings;
  /** Statistics report and heartbeat interval, ms. Default 1000. */
  intervalMs?: number;
  /** Sandbox memory per portion instance, bytes. */
  portionMemoryBytes?: number;
  /** Deadline of one event in a portion, ms. Default 1000: wall time on a shared, loaded server. */
  portionDeadlineMs?: number;
  /** Work units this server can carry (relative to a one-core server). Default: its CPU cores. */
  capacity?: number;
  log?: (line: string) => void;
  /** Which box hosts a virtual address; share it with the MQTT transport's `locate`. */
  boxLocations?: Map<string, string>;
  /**
   * How box traffic reaches the nodes. `shared` (default): each box message reaches one node
   * (one node, or MQTT 5 shared subscriptions), which forwards what is not its own. `broadcast`:
   * every node hears every box message (MQTT 3.1.1 with several nodes), so a node acts only on
   * what it hosts, and only the lowest live node serves the shared session ingress.
   */
  boxIngress?: 'shared' | 'broadcast';
  /** Worker threads of shared critical portions: controller, cadence, bounds [c20, c27]. */
  elastic?: ElasticOptions;
  /** Replicas of saturated shared portions on other nodes: the saturation rule's thresholds [c25, c30]. */
  replicas?: ReplicaOptions;
  /** Per-box quotas: sessions per box, module downloads per box, bounds of per-box maps (node/quotas.ts). */
  quotas?: BoxQuotas;
  /** Durable portion state: checkpoint interval, byte budget, size bound (portions/checkpoint-options.ts) [issue 13.2]. */
  checkpoints?: CheckpointOptions;
  /** App-wide modules (`"scope": "app"`): checkpoint store and duplicate window (portions/shared-app.ts). */
  appWide?: AppWideOptions;
  /** Spans and trace-id log lines for sampled envelopes (headend/trace/); absent: tracing off. */
  tracer?: NodeTracer;
}

export const NODE_OPTIONS = ['id', 'udp', 'mqtt', 'registry', 'catalog', 'pool', 'trusted', 'services', 'clock', 'policy', 'readings', 'intervalMs', 'portionMemoryBytes', 'portionDeadlineMs', 'capacity', 'log', 'boxLocations', 'boxIngress', 'elastic', 'replicas', 'quotas', 'checkpoints', 'appWide', 'tracer'];

export interface NodeCounters {
  dispatched: number;
  forwarded: number;
  undeliverable: number;
  clientStarted: number;
  moved: number;
  /** Box messages heard but left to the node that hosts their destination (broadcast ingress). */
  notMine: number;
  /** [c31] Requests a stopped instance had not answered (node/orphans.ts), and how each ended:
   *  forwarded to the node the registry names, re-routed to an instance here, answered with an
   *  error (NO_SESSION or UNAVAILABLE), or dropped past its deadline. */
  orphans: number;
  orphansForwarded: number;
  orphansRerouted: number;
  orphansAnswered: number;
  orphansExpired: number;
}
