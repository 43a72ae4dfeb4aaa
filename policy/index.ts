// policy: the balancing policy as pure functions and small controller objects [c13-c16,
// c20, c25, c27, c30, c41, c43]. No I/O, no clocks of their own: the live head-end and the
// simulator (sim/) call the same code. Exports by name; types apart.

export { selectNode, selectConfig, healthy, score, OVERLOADED } from './select.ts';
export type { SelectOptions, SelectConfig, PendingOf } from './select.ts';
export { PlacementLedger } from './ledger.ts';
export type { Pending } from './ledger.ts';
export {
  Balancer,
  RandomPolicy,
  RoundRobinPolicy,
  LeastConnectionsPolicy,
  P2CPolicy,
  JsqPolicy,
  createPolicy,
  POLICY_KINDS,
} from './balancer.ts';
export type { PlacementPolicy, PolicyKind, BalancerOptions, BaselineOptions } from './balancer.ts';
export { decideScale, scaleConfig, saturated, splitShares, portionShares, pickShare, pressure } from './saturation.ts';
export type { PortionState, ScaleOptions, ScaleConfig, ScaleDecision, SplitEntry, ShareOptions } from './saturation.ts';
export { WaitTargetController, HillClimbController, FixedPool } from './threads.ts';
export type { WorkerController, ThreadDecision, ThreadAction, PoolState, WaitTargetOptions, HillClimbOptions } from './threads.ts';
export { SeededRandom, hash01 } from './random.ts';
export { nodeLoad } from './load.ts';
export type { HostedWork, NodeLoadFigures } from './load.ts';
export type { ClusterView, NodeReport, PlaceRequest, Placement, NoCapacity, Uniform } from './types.ts';
