// operator/cluster — the controllers over the Coordinator, each a pure core and a leader-elected
// shell: the shard controller (ADR 0006 "Shard controller": partition map, assignments, handoffs as
// CAS writes) and the lifecycle controller (DESIGN.md §7: compaction jobs, abandoning jobs whose
// holder is gone, retention — manifest transitions only, never object storage). No Kubernetes
// imports: the same module runs inside the operator, as `skein controller` and inside all-in-one.
export { buildClusterState, type ClusterState, type KeyState, type ShardKeys, type MalformedKey } from './cluster-state.js';
export {
  computeControllerActions,
  type ControllerAction,
  type ControllerActionKind,
  type ControllerActionOptions,
  type ControllerPlan,
  type ShardSummary,
} from './controller-actions.js';
export { createShardController, type ShardController, type ShardControllerOptions } from './shard-controller.js';
export { computePolicyUpdate, writePolicy, type PolicyContent, type PolicyWriteResult } from './policy.js';
export { summarizeCluster, type ClusterSummary } from './cluster-summary.js';
export {
  computeLifecyclePlan,
  resolveLifecyclePlanOptions,
  DEFAULT_LIFECYCLE_PLAN_OPTIONS,
  type LifecyclePlan,
  type LifecyclePlanOptions,
  type LifecycleObservation,
  type LifecycleAction,
  type AbandonAction,
  type ExpireAction,
  type PlanAction,
  type AbandonWhy,
  type CompactionWhy,
} from './lifecycle-plan.js';
export { summarizeManifest, BLOCK_STATES, type ManifestSummary } from './lifecycle-summary.js';
export { createLifecycleController, lifecycleElectionKey, newLifecycleId, type LifecycleController, type LifecycleControllerOptions } from './lifecycle-controller.js';
