// operator/controller — the TracingCluster controller (DESIGN.md §9): a key-only work queue with
// rate-limited retries, the level-triggered reconcile (get → build → apply → prune → cluster
// controllers → status), the per-cluster shard controller and policy against each cluster's etcd,
// events, and the operator process that ties them to supervised informers and a leader Lease.
export { createOperator, FIELD_MANAGER, type Operator, type OperatorOptions } from './operator.js';
export { createReconciler, parseKey, workloadFacts, FINALIZER, ETCD_MEMBERS_ANNOTATION, type Reconcile, type ReconcileResult, type ReconcilerOptions } from './reconciler.js';
export { createClusterControllers, type ClusterControllers, type ClusterControllerState, type ClusterControllersOptions, type ClusterTarget } from './cluster-controllers.js';
export { computeAgentConfig, computeClusterTarget, computeEtcdEndpoints, computePolicy } from './cluster-target.js';
export { computeImmutableChanges, type ImmutableChanges } from './immutable.js';
export { createEventRecorder, type EventRecorder, type EventType } from './events.js';
export { createWorkQueue, runWorkers, type WorkQueue, type WorkQueueOptions } from './queue.js';
export { mergeExpositions } from './metrics-text.js';
export { computeAdmission, computeAgentInjection, computeMissedInjections, supportsNativeSidecars, DEFAULT_AGENT_RESOURCES, type CachedCluster, type InjectionSettings, type InjectionView, type MissedInjection } from './injection.js';
export { createInjectionRuntime, type InjectionRuntime, type InjectionRuntimeOptions, type WebhookSettings } from './injection-runtime.js';
