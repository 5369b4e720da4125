// The querier StatefulSet: stateless (it holds no data: it fans out to the ingesters for recent
// spans and reads blocks from storage, block-storage.ts), but a StatefulSet for stable pod names in
// logs and metrics and a governing headless Service.
import type { KubeObject } from './kube-types.js';
import { buildBlockStoragePodParts } from './block-storage.js';
import { CONFIG_CHECKSUM_ANNOTATION } from './config-map.js';
import { podLabels, selectorLabels } from './labels.js';
import { resourceNames } from './naming.js';
import { buildObjectMeta } from './object-meta.js';
import type { BuildParams } from './params.js';
import { buildPodSecurity, SKEIN_POD_SECURITY, SKEIN_USER_ID } from './pod-security.js';
import { PORT_NAMES, PORTS } from './ports.js';

export function buildQuerierStatefulSet(params: BuildParams, configChecksum: string): KubeObject {
  const { name, spec } = params.cluster;
  const names = resourceNames(name);
  const security = buildPodSecurity(SKEIN_USER_ID);
  const storage = buildBlockStoragePodParts(params);
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: buildObjectMeta(params, names.querier, 'querier'),
    spec: {
      replicas: spec.querier.replicas,
      serviceName: names.querierHeadless,
      selector: { matchLabels: selectorLabels(name, 'querier') },
      // No state and no order between queriers: start and replace them all at once.
      podManagementPolicy: 'Parallel',
      updateStrategy: { type: 'RollingUpdate' },
      template: {
        metadata: { labels: podLabels(name, 'querier'), annotations: { [CONFIG_CHECKSUM_ANNOTATION]: configChecksum } },
        spec: {
          ...security.podSpec,
          securityContext: { ...security.pod, ...SKEIN_POD_SECURITY },
          containers: [
            {
              name: 'querier',
              image: params.image,
              ...(spec.imagePullPolicy === undefined ? {} : { imagePullPolicy: spec.imagePullPolicy }),
              args: ['querier'],
              envFrom: [{ configMapRef: { name: names.config } }],
              ...(storage.env.length === 0 ? {} : { env: storage.env }),
              ports: [
                { name: PORT_NAMES.tempo, containerPort: PORTS.tempo, protocol: 'TCP' },
                { name: PORT_NAMES.jaeger, containerPort: PORTS.jaeger, protocol: 'TCP' },
              ],
              // The query ports open only after the first read of the members from etcd, which
              // may still be forming quorum when the cluster is created.
              startupProbe: { tcpSocket: { port: PORT_NAMES.tempo }, periodSeconds: 10, failureThreshold: 30 },
              // Ready once it has a view of the members and at least one ingester to ask.
              readinessProbe: { httpGet: { path: '/ready', port: PORT_NAMES.tempo }, periodSeconds: 5, failureThreshold: 3 },
              livenessProbe: { tcpSocket: { port: PORT_NAMES.tempo }, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 6 },
              ...(spec.querier.resources === undefined ? {} : { resources: spec.querier.resources }),
              securityContext: security.container,
              volumeMounts: [...storage.volumeMounts, { name: 'tmp', mountPath: '/tmp' }],
            },
          ],
          // Node writes temporary files under /tmp; the root filesystem is read-only.
          volumes: [{ name: 'tmp', emptyDir: {} }, ...storage.volumes],
        },
      },
    },
  };
}
