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
export { WorkerPool } from './worker-pool.ts';
export type { WorkerPoolOptions, PooledWorker } from './worker-pool.ts';
export { PortionManager } from './portions.ts';
export type { PortionManagerOptions, ThreadStats } from './portions.ts';
export type { PortionSpec, CriticalSpec } from './portion-protocol.ts';
export { Elastic } from './elastic.ts';
export type { ElasticOptions, Group } from './elastic.ts';
export { Replicas, ReplicaOps } from './replicas.ts';
export type { ReplicaOptions, Spread } from './replicas.ts';
export { RegistryResolver } from './resolver.ts';
export type { ResolverOptions, ResolverStats } from './resolver.ts';
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
  RegistryChange,
  ChangeListener,
} from './registry.ts';
export { STAT_OPS, parseNodeStats, parseBoxStats } from './statistics.ts';
export type { NodeStats, BoxStats, PortionStats } from './statistics.ts';
export { StatsAggregator } from './statistics-aggregate.ts';
export type { StatsView, NodeEntry, NodeState, AggregatorOptions } from './statistics-aggregate.ts';
export { StatisticsProcess } from './statistics-process.ts';
export type { StatisticsProcessOptions } from './statistics-process.ts';
export { NodeSampler } from './statistics-sampler.ts';
export type { NodeLoad, NodeSamplerOptions } from './statistics-sampler.ts';
export { TimingProcess, TIMING_OPS, parseHeartbeat } from './timing.ts';
export type { Heartbeat, TimingOptions, PeerState, DeathReason } from './timing.ts';
export { RequestTimer } from './timing-requests.ts';
export type { RequestTimerOptions, RequestTiming, RequestTicket } from './timing-requests.ts';
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
} from './policy/index.ts';
export type { ClusterView, NodeReport, PlaceRequest, Placement, NoCapacity, PlacementPolicy, PortionState, ScaleDecision, WorkerController, PoolState } from './policy/index.ts';
export { QueueLock, Semaphore, SharedSemaphore, createSharedQueueLock, WaitStats } from './critical/index.ts';
export type { Release, WaitSnapshot } from './critical/index.ts';
export { runPlant, comparePolicies, scenario } from './sim/index.ts';
export { ServiceHost, guideService, epgService, vodService } from './services/index.ts';
export type { HeadendService } from './services/index.ts';
export { startDashboard, dashboardState } from './dashboard.ts';
export type { Dashboard, DashboardOptions } from './dashboard.ts';
