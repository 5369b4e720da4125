// operator/manifests — pure builders from one TracingCluster (plus the facts the controller gathered:
// image, etcd image, version, bootstrapped etcd size) to the Kubernetes objects it should own:
// ConfigMap, Services, StatefulSets (ingester, querier, managed etcd), PodDisruptionBudgets and the
// filesystem block storage claim, with every name (naming.ts) and label (labels.ts) derived in one
// place. No I/O, no clock: the same params always build the same objects, which the controller
// applies and prunes against.
export { buildAll, MANAGED_KINDS } from './build-all.js';
export type { BuildParams } from './params.js';
export { BLOCKS_DIR, S3_ACCESS_KEY_ID_ENV, S3_SECRET_ACCESS_KEY_ENV } from './block-storage.js';
export { CONFIG_CHECKSUM_ANNOTATION, computeConfigChecksum, computeConfigData } from './config-map.js';
export { INGESTER_SHUTDOWN_TIMEOUT_MS, INGESTER_TERMINATION_GRACE_PERIOD_SECONDS } from './ingester.js';
export { computeEtcdReplicas, computeInitialCluster } from './etcd.js';
export { computeEtcdMaxUnavailable } from './pdbs.js';
export { clusterEndpoints, managedEtcdEndpoints, resourceNames, type ClusterEndpoints, type ResourceNames } from './naming.js';
export {
  commonLabels,
  LABEL_COMPONENT,
  LABEL_INSTANCE,
  LABEL_MANAGED_BY,
  LABEL_NAME,
  LABEL_PART_OF,
  LABEL_VERSION,
  MANAGED_BY,
  ownedObjectsSelector,
  podLabels,
  selectorLabels,
  type Component,
} from './labels.js';
export { PORTS, PORT_NAMES } from './ports.js';
