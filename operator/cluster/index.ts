// operator/cluster — the shard controller over the Coordinator (ADR 0006 "Shard controller"): a pure
// core that turns the cluster's keys into CAS writes (partition map, assignments, handoffs) and a
// leader-elected shell that watches etcd and sends them. No Kubernetes imports: the same module
// runs inside the operator, as `skein controller` and (later) inside all-in-one.
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
