// Metadata every owned object carries: its derived name, the cluster's namespace, the
// app.kubernetes.io labels and a controller owner reference, so that deleting the TracingCluster
// garbage-collects everything and the controller's watches map each object back to its cluster.
import { API_VERSION, KIND } from '../api/index.js';
import type { ObjectMeta } from './kube-types.js';
import { commonLabels, type Component } from './labels.js';
import type { BuildParams } from './params.js';

export function buildObjectMeta(params: BuildParams, name: string, component: Component): ObjectMeta {
  const { cluster } = params;
  return {
    name,
    namespace: cluster.namespace,
    labels: commonLabels(cluster.name, component, params.version),
    ownerReferences: [{ apiVersion: API_VERSION, kind: KIND, name: cluster.name, uid: cluster.uid, controller: true, blockOwnerDeletion: true }],
  };
}
