// Status conditions of a TracingCluster: the metav1.Condition shape (so kubectl wait, Argo CD and
// kstatus read them like any other) and the one list of condition types and reasons the status
// computation may use. Reasons are CamelCase words a person can search for in these docs.
import { z } from 'zod';

export const CONDITION_TYPES = ['Ready', 'Progressing', 'Degraded'] as const;
export type ConditionType = (typeof CONDITION_TYPES)[number];

/**
 * Reasons per condition type. `Ready` is True only when every component is ready and every shard
 * has an owner; `Progressing` is True while the operator is moving toward the spec (rollout, shard
 * scaling, rebalancing); `Degraded` is True when something needs a person: a spec or apply error
 * (cleared by a fix), or a cluster that was Ready losing capacity outside any rollout (cleared when
 * the capacity is back, e.g. a killed ingester restarted).
 */
export const ConditionReasons = {
  Ready: {
    /** Ready=True: ingesters, queriers and etcd ready, every shard of the current map owned. */
    AllReady: 'AllReady',
    /** Ready=False: first reconcile not finished. */
    Pending: 'Pending',
    IngestersNotReady: 'IngestersNotReady',
    QueriersNotReady: 'QueriersNotReady',
    EtcdNotReady: 'EtcdNotReady',
    /** Some shard of the current partition map has no owner: writes to it fail over until one does. */
    ShardsUnowned: 'ShardsUnowned',
  },
  Progressing: {
    /** Progressing=False: the cluster matches the spec. */
    UpToDate: 'UpToDate',
    /** A StatefulSet or Deployment is rolling out a new template. */
    RollingOut: 'RollingOut',
    /** spec.shards changed and the partition map has not caught up. */
    ScalingShards: 'ScalingShards',
    /** Shards are being handed between ingesters. */
    Rebalancing: 'Rebalancing',
  },
  Degraded: {
    /** Degraded=False. */
    AsExpected: 'AsExpected',
    /** The spec failed validation the CRD could not express (e.g. an update rule). */
    InvalidSpec: 'InvalidSpec',
    /** An apply or prune failed; the message carries the API error. */
    ReconcileFailed: 'ReconcileFailed',
    /** The referenced S3 Secret is missing or lacks a key, or the bucket is unreachable. */
    StorageUnavailable: 'StorageUnavailable',
    /** etcd (managed or external) cannot be reached. */
    EtcdUnavailable: 'EtcdUnavailable',
    /** Pods asked for sidecar injection but were created without it (webhook down, fail-open). */
    InjectionMissed: 'InjectionMissed',
    // A Ready cluster that lost capacity, under the same word Ready uses, so one search finds both.
    EtcdNotReady: 'EtcdNotReady',
    IngestersNotReady: 'IngestersNotReady',
    ShardsUnowned: 'ShardsUnowned',
    QueriersNotReady: 'QueriersNotReady',
  },
} as const satisfies Record<ConditionType, Record<string, string>>;

export type ConditionReason<T extends ConditionType = ConditionType> = T extends ConditionType ? (typeof ConditionReasons)[T][keyof (typeof ConditionReasons)[T]] : never;

// metav1.Condition's validation, as in k8s.io/apimachinery/pkg/apis/meta/v1/types.go.
const CONDITION_TYPE_PATTERN = new RegExp('^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$');
export const CONDITION_REASON_PATTERN = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;

export const ConditionSchema = z
  .object({
    type: z.string().max(316).regex(CONDITION_TYPE_PATTERN).describe('Type of condition in CamelCase: Ready, Progressing or Degraded.'),
    status: z.enum(['True', 'False', 'Unknown']).describe('Status of the condition: True, False or Unknown.'),
    observedGeneration: z.number().int().min(0).optional().describe('The .metadata.generation the condition was set from.'),
    lastTransitionTime: z.iso.datetime({ offset: true }).describe('When the condition last changed status.'),
    reason: z.string().min(1).max(1024).regex(CONDITION_REASON_PATTERN).describe('Programmatic identifier of why the condition has its status (CamelCase).'),
    message: z.string().max(32768).describe('Human-readable details.'),
  })
  .describe('A metav1.Condition.');

export type Condition = z.output<typeof ConditionSchema>;
