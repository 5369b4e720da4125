// A StatefulSet volume claim template. Only selector labels: templates are immutable once the
// StatefulSet exists, so nothing that changes over the cluster's life (the version) may be here.
import { selectorLabels, type Component } from './labels.js';

export function buildVolumeClaimTemplate(clusterName: string, component: Component, name: string, size: string | number, storageClassName: string | undefined): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name, labels: selectorLabels(clusterName, component) },
    spec: {
      accessModes: ['ReadWriteOnce'],
      ...(storageClassName === undefined ? {} : { storageClassName }),
      resources: { requests: { storage: String(size) } },
    },
  };
}
