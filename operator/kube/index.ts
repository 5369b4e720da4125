// operator/kube — the operator's narrow Kubernetes surface (STYLE.md rule 6): the KubeClient verbs
// over plain JSON objects (types.ts), implemented over @kubernetes/client-node (client.ts) and by an
// in-memory twin (memory.ts) that pass one conformance suite (conformance.ts); a supervised informer
// that lists, watches and re-lists forever with back-off (informer.ts); and Lease-based leader
// election in the manner of client-go (lease.ts).
export {
  KubeApiError,
  isConflict,
  isNotFound,
  type ApplyOptions,
  type DeleteOptions,
  type KindRef,
  type KubeClient,
  type KubeObject,
  type ListOptions,
  type ObjectList,
  type ObjectMeta,
  type ObjectRef,
  type OwnerReference,
  type WatchEvent,
  type WatchEventType,
  type WatchOptions,
} from './types.js';
export { createKubeClient, loadKubeConfig, toKubeApiError, type CreateKubeClientOptions } from './client.js';
export { createMemoryKube, applyMergePatch, type MemoryKube, type MemoryKubeOptions, type MemoryKubeVerb } from './memory.js';
export { createInformer, type Informer, type InformerChange, type InformerOptions } from './informer.js';
export { createLeaseElector, formatMicroTime, LEASE_DEFAULTS, type LeaseElector, type LeaseElectorOptions, type LeaseLogger } from './lease.js';
export { parseLabelSelector, matchesLabelSelector, type LabelRequirement } from './label-selector.js';
export { backoffDelay, type Backoff } from './sleep.js';
