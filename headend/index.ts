// headend/: the server side — nodes, registry, statistics, timing, balancer, services. This
// file lists the public exports by name, types apart. The concrete adapters (registry-sqlite,
// registry-redis, broker-aedes) are imported only by composition roots (headend/main.ts, cli/),
// so importing this file does not load better-sqlite3, ioredis or aedes.

export { HeadendNode } from './node.ts';
export type { HeadendNodeOptions, NodeCounters } from './node.ts';
export { SessionManager, ControlOps } from './session-manager.ts';
export type { SessionHost } from './session-manager.ts';
export { AppCatalog } from './app-catalog.ts';
export type { PublishedApp } from './app-catalog.ts';
export { WorkerPool } from './portions/worker-pool.ts';
export type { WorkerPoolOptions, PooledWorker } from './portions/worker-pool.ts';
export { PortionManager } from './portions/portions.ts';
export type { PortionManagerOptions, ThreadStats } from './portions/portions.ts';
export type { PortionSpec, CriticalSpec } from './portions/portion-protocol.ts';
export { Elastic } from './portions/elastic.ts';
export type { ElasticOptions, Group } from './portions/elastic.ts';
export { Replicas, ReplicaOps } from './portions/replicas.ts';
export type { ReplicaOptions, Spread } from './portions/replicas.ts';
export { Checkpointer } from './portions/checkpoint.ts';
export type { CheckpointHost } from './portions/checkpoint.ts';
export { MAX_CHECKPOINT_BYTES } from './registry/registry.ts';
export type { CheckpointOptions, CheckpointStats } from './portions/checkpoint-options.ts';
export { AppWide, MemoryCheckpoints, appWideInstanceId, appWideModules, encodeCheckpoint, decodeCheckpoint } from './portions/shared-app.ts';
export type { AppWideOptions, SharedCheckpoints, AppWideCounters } from './portions/shared-app.ts';
export { appWideTag } from './portions/shared-versions.ts';
export { DedupWindow } from './portions/shared-dedup.ts';
export type { DedupStats, DedupRecord } from './portions/shared-dedup.ts';
export { RegistryResolver } from './registry/resolver.ts';
export type { ResolverOptions, ResolverStats } from './registry/resolver.ts';
export type {
  Registry,
  Location,
  LocationRecord,
  SessionRecord,
  NewSession,
  SessionPatch,
  SessionFilter,
  PlacementSide,
  Conflict,
  CheckpointRecord,
  NewCheckpoint,
  RegistryChange,
  ChangeListener,
} from './registry/registry.ts';
export { STAT_OPS, parseNodeStats, parseBoxStats } from './stats/statistics.ts';
export type { NodeStats, BoxStats, PortionStats } from './stats/statistics.ts';
export { StatsAggregator } from './stats/statistics-aggregate.ts';
export type { StatsView, NodeEntry, NodeState, AggregatorOptions } from './stats/statistics-aggregate.ts';
export { StatisticsProcess } from './stats/statistics-process.ts';
export type { StatisticsProcessOptions } from './stats/statistics-process.ts';
export { NodeSampler } from './stats/statistics-sampler.ts';
export type { NodeLoad, NodeSamplerOptions } from './stats/statistics-sampler.ts';
export { TimingProcess, TIMING_OPS, parseHeartbeat } from './stats/timing.ts';
export type { Heartbeat, TimingOptions, PeerState, DeathReason } from './stats/timing.ts';
export { RequestTimer } from './stats/timing-requests.ts';
export type { RequestTimerOptions, RequestTiming, RequestTicket } from './stats/timing-requests.ts';
export {
  Balancer,
  createPolicy,
  selectNode,
  selectConfig,
  decideScale,
  scaleConfig,
  portionShares,
  pickShare,
  WaitTargetController,
  HillClimbController,
  FixedPool,
  SeededRandom,
} from '../policy/index.ts';
export type { ClusterView, NodeReport, PlaceRequest, Placement, NoCapacity, PlacementPolicy, PortionState, ScaleDecision, WorkerController, PoolState } from '../policy/index.ts';
export { QueueLock, Semaphore, SharedSemaphore, createSharedQueueLock, WaitStats } from './portions/critical/index.ts';
export type { Release, WaitSnapshot } from './portions/critical/index.ts';
export { ServiceHost, guideService, epgService, vodService } from './services/index.ts';
export type { HeadendService } from './services/index.ts';
export { startConsole, nodeSource } from './console/index.ts';
export type { ConsoleOptions, RunningConsole, ConsoleSource, ConsoleSnapshot } from './console/index.ts';
