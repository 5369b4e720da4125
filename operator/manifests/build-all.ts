// The desired objects of one TracingCluster, from params alone (tempo-operator's BuildAll): pure and
// deterministic, so the controller can apply the result as is and prune by MANAGED_KINDS.
import type { KindRef, KubeObject } from './kube-types.js';
import { buildBlocksVolumeClaim } from './block-storage.js';
import { buildConfigMap, computeConfigChecksum, computeConfigData } from './config-map.js';
import { buildEtcdStatefulSet } from './etcd.js';
import { buildIngesterStatefulSet } from './ingester.js';
import type { BuildParams } from './params.js';
import { buildPodDisruptionBudgets } from './pdbs.js';
import { buildQuerierStatefulSet } from './querier.js';
import { buildServices } from './services.js';

/** Every kind buildAll can return: what the controller lists (by ownedObjectsSelector) to prune. */
export const MANAGED_KINDS: readonly KindRef[] = [
  { apiVersion: 'v1', kind: 'ConfigMap' },
  { apiVersion: 'v1', kind: 'Service' },
  { apiVersion: 'apps/v1', kind: 'StatefulSet' },
  { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget' },
  // Only the shared blocks claim: the WAL and etcd claims come from StatefulSet templates, carry no
  // managed-by label and are owned by no TracingCluster, so ownedObjectsSelector never lists them.
  { apiVersion: 'v1', kind: 'PersistentVolumeClaim' },
];

/**
 * In apply order: the ConfigMap before the pods that read it, Services before the StatefulSets that
 * name them, etcd before the processes that need it, budgets, then the blocks claim. The claim goes
 * last although pods mount it (they wait in Pending for the moments until it exists): its spec is
 * the one the apiserver may refuse on update (a size its StorageClass cannot expand to, a smaller
 * size, another class), and the apply stops at the first refusal, which must not hold back the
 * rest of the cluster.
 */
export function buildAll(params: BuildParams): KubeObject[] {
  const data = computeConfigData(params);
  const checksum = computeConfigChecksum(data);
  const etcd = buildEtcdStatefulSet(params);
  const blocks = buildBlocksVolumeClaim(params);
  return [
    buildConfigMap(params, data),
    ...buildServices(params),
    ...(etcd === undefined ? [] : [etcd]),
    buildIngesterStatefulSet(params, checksum),
    buildQuerierStatefulSet(params, checksum),
    ...buildPodDisruptionBudgets(params),
    ...(blocks === undefined ? [] : [blocks]),
  ];
}
