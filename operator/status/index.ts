// operator/status — the TracingCluster status subresource. computeStatus is pure (STYLE.md rule 1):
// the controller gathers the facts (StatefulSet counts, shard ownership from etcd, the problems it
// met while reconciling) and gets back the status to write and the Events worth a person's attention.
// Conditions follow metav1.Condition and the reasons in operator/api; see compute-status.ts for how
// Progressing (converging on the spec) is told apart from Degraded (lost capacity after being Ready).
export { computeStatus, type DegradedReason, type ShardFacts, type StatusEvent, type StatusFacts, type WorkloadFacts } from './compute-status.js';
