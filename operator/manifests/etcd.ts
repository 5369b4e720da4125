// The managed etcd: a StatefulSet of members that bootstrap one cluster from a static
// --initial-cluster. The member list is fixed at bootstrap (etcd changes membership only through
// its API), so it is built from the bootstrapped member count the controller passes, never from a
// spec edited later.
import type { KubeObject } from './kube-types.js';
import { buildPreferredAntiAffinity } from './anti-affinity.js';
import { podLabels, selectorLabels } from './labels.js';
import { podHostname, resourceNames } from './naming.js';
import { buildObjectMeta } from './object-meta.js';
import type { BuildParams } from './params.js';
import { buildPodSecurity, ETCD_USER_ID } from './pod-security.js';
import { PORT_NAMES, PORTS } from './ports.js';
import { buildVolumeClaimTemplate } from './volume-claim.js';

const DATA_MOUNT = '/var/lib/etcd';
/** A directory inside the volume: etcd refuses a data dir holding anything else (lost+found). */
const DATA_DIR = `${DATA_MOUNT}/data`;

/** Members of the managed etcd: the bootstrapped count when known, else the spec's. */
export function computeEtcdReplicas(params: BuildParams): number {
  return params.etcdReplicas ?? params.cluster.spec.etcd.managed?.replicas ?? 0;
}

/** `--initial-cluster`: every member's name and peer URL, in ordinal order. */
export function computeInitialCluster(clusterName: string, namespace: string, replicas: number): string {
  const names = resourceNames(clusterName);
  return Array.from({ length: replicas }, (_, i) => {
    const member = `${names.etcd}-${i}`;
    return `${member}=http://${podHostname(member, names.etcdHeadless, namespace)}:${PORTS.etcdPeer}`;
  }).join(',');
}

/** The etcd StatefulSet, or undefined when the spec uses an external etcd. */
export function buildEtcdStatefulSet(params: BuildParams): KubeObject | undefined {
  const { name, namespace, uid, spec } = params.cluster;
  const managed = spec.etcd.managed;
  if (managed === undefined) return undefined;
  const names = resourceNames(name);
  const replicas = computeEtcdReplicas(params);
  const security = buildPodSecurity(ETCD_USER_ID);
  const selector = selectorLabels(name, 'etcd');
  const self = podHostname('$(POD_NAME)', names.etcdHeadless, namespace);
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: buildObjectMeta(params, names.etcd, 'etcd'),
    spec: {
      replicas,
      serviceName: names.etcdHeadless,
      selector: { matchLabels: selector },
      // Members must start together: none becomes ready before a quorum of them runs, so ordered
      // start would wait on member 0's readiness forever.
      podManagementPolicy: 'Parallel',
      updateStrategy: { type: 'RollingUpdate' },
      // The coordinator's data means nothing without its cluster: drop it with the cluster, but keep
      // a scaled-away member's volume (a member count change is an etcd membership change first).
      persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Delete', whenScaled: 'Retain' },
      template: {
        metadata: { labels: podLabels(name, 'etcd') },
        spec: {
          ...security.podSpec,
          securityContext: security.pod,
          affinity: buildPreferredAntiAffinity(selector),
          containers: [
            {
              name: 'etcd',
              image: params.etcdImage,
              command: [
                'etcd',
                '--name=$(POD_NAME)',
                `--data-dir=${DATA_DIR}`,
                `--listen-client-urls=http://0.0.0.0:${PORTS.etcdClient}`,
                `--advertise-client-urls=http://${self}:${PORTS.etcdClient}`,
                `--listen-peer-urls=http://0.0.0.0:${PORTS.etcdPeer}`,
                `--initial-advertise-peer-urls=http://${self}:${PORTS.etcdPeer}`,
                `--initial-cluster=${computeInitialCluster(name, namespace, replicas)}`,
                // Ignored once a member has data: a restart rejoins the cluster it belongs to.
                '--initial-cluster-state=new',
                // Unique per TracingCluster object, so a recreated cluster of the same name never
                // talks to a leftover member of the old one.
                `--initial-cluster-token=${name}-${uid.slice(0, 8)}`,
                // Without compaction every revision is kept until the backend quota raises NOSPACE
                // and the coordinator stops taking writes; the coordinator's watches re-list after
                // a compaction, so an hour of history is plenty.
                '--auto-compaction-mode=periodic',
                '--auto-compaction-retention=1h',
              ],
              env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
              ports: [
                { name: PORT_NAMES.etcdClient, containerPort: PORTS.etcdClient, protocol: 'TCP' },
                { name: PORT_NAMES.etcdPeer, containerPort: PORTS.etcdPeer, protocol: 'TCP' },
              ],
              // etcd answers HTTP only once the cluster has a quorum; give a bootstrap whose members
              // are scheduled minutes apart (volume provisioning) time before liveness counts.
              startupProbe: { httpGet: { path: '/livez', port: PORT_NAMES.etcdClient }, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 30 },
              readinessProbe: { httpGet: { path: '/readyz', port: PORT_NAMES.etcdClient }, periodSeconds: 5, timeoutSeconds: 5, failureThreshold: 3 },
              livenessProbe: { httpGet: { path: '/livez', port: PORT_NAMES.etcdClient }, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 6 },
              ...(managed.resources === undefined ? {} : { resources: managed.resources }),
              securityContext: security.container,
              volumeMounts: [{ name: 'data', mountPath: DATA_MOUNT }],
            },
          ],
        },
      },
      volumeClaimTemplates: [buildVolumeClaimTemplate(name, 'etcd', 'data', managed.size, managed.storageClassName)],
    },
  };
}
