// PodDisruptionBudgets: node drains take one ingester, one querier, or a minority of etcd members
// at a time. A budget whose maxUnavailable is 0 blocks every drain forever, so a component too
// small to lose a pod (etcd below 3 members) gets no budget at all.
import type { KubeObject } from './kube-types.js';
import { computeEtcdReplicas } from './etcd.js';
import { selectorLabels, type Component } from './labels.js';
import { resourceNames } from './naming.js';
import { buildObjectMeta } from './object-meta.js';
import type { BuildParams } from './params.js';

function buildPdb(params: BuildParams, name: string, component: Component, maxUnavailable: number): KubeObject {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: buildObjectMeta(params, name, component),
    spec: { maxUnavailable, selector: { matchLabels: selectorLabels(params.cluster.name, component) } },
  };
}

/** Members etcd can lose and keep quorum: ⌊(n−1)/2⌋. */
export function computeEtcdMaxUnavailable(members: number): number {
  return Math.floor((members - 1) / 2);
}

export function buildPodDisruptionBudgets(params: BuildParams): KubeObject[] {
  const names = resourceNames(params.cluster.name);
  const pdbs = [buildPdb(params, names.ingesterPdb, 'ingester', 1), buildPdb(params, names.querierPdb, 'querier', 1)];
  if (params.cluster.spec.etcd.managed !== undefined) {
    const maxUnavailable = computeEtcdMaxUnavailable(computeEtcdReplicas(params));
    if (maxUnavailable > 0) pdbs.push(buildPdb(params, names.etcdPdb, 'etcd', maxUnavailable));
  }
  return pdbs;
}
