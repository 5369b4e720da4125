// The desired objects of one TracingCluster, from params alone (tempo-operator's BuildAll): pure and
// deterministic, so the controller can apply the result as is and prune by MANAGED_KINDS.
import type { KindRef, KubeObject } from './kube-types.js';
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
];

/**
 * In apply order: the ConfigMap before the pods that read it, Services before the StatefulSets that
 * name them, etcd before the processes that need it, budgets last.
 */
export function buildAll(params: BuildParams): KubeObject[] {
  const data = computeConfigData(params);
  const checksum = computeConfigChecksum(data);
  const etcd = buildEtcdStatefulSet(params);
  return [
    buildConfigMap(params, data),
    ...buildServices(params),
    ...(etcd === undefined ? [] : [etcd]),
    buildIngesterStatefulSet(params, checksum),
    buildQuerierStatefulSet(params, checksum),
    ...buildPodDisruptionBudgets(params),
  ];
}
