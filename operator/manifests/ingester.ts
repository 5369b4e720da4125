// The ingester StatefulSet: stable identities (the pod name is the member ID), one WAL volume per
// pod, per-pod DNS through the headless Service for forwarding and querier fan-out, and block
// storage (block-storage.ts): the shared blocks claim or the S3 credentials.
import type { KubeObject } from './kube-types.js';
import { buildPreferredAntiAffinity } from './anti-affinity.js';
import { buildBlockStoragePodParts } from './block-storage.js';
import { CONFIG_CHECKSUM_ANNOTATION } from './config-map.js';
import { podLabels, selectorLabels } from './labels.js';
import { podHostname, resourceNames } from './naming.js';
import { buildObjectMeta } from './object-meta.js';
import type { BuildParams } from './params.js';
import { buildPodSecurity, SKEIN_POD_SECURITY, SKEIN_USER_ID } from './pod-security.js';
import { PORT_NAMES, PORTS } from './ports.js';
import { buildVolumeClaimTemplate } from './volume-claim.js';

/**
 * SIGTERM → the ingester hands its shards off and drains local data to the next owners within this
 * budget (cli/ingester.ts), then exits on its own. Set explicitly rather than left to the flag's
 * default so it cannot drift from the grace period below.
 */
export const INGESTER_SHUTDOWN_TIMEOUT_MS = 25_000;
/**
 * The kubelet SIGKILLs at this deadline. It must outlast INGESTER_SHUTDOWN_TIMEOUT_MS with room for
 * closing listeners and etcd after the handoff budget, so a slow handoff ends in the process's own
 * timeout (logged, WAL intact) and never in a SIGKILL mid-drain.
 */
export const INGESTER_TERMINATION_GRACE_PERIOD_SECONDS = 40;

/** Where the image's SKEIN_DATA_DIR points: the WAL volume. */
const DATA_DIR = '/var/lib/skein';

export function buildIngesterStatefulSet(params: BuildParams, configChecksum: string): KubeObject {
  const { name, namespace, spec } = params.cluster;
  const names = resourceNames(name);
  const security = buildPodSecurity(SKEIN_USER_ID);
  const storage = buildBlockStoragePodParts(params);
  const selector = selectorLabels(name, 'ingester');
  const wal = spec.ingester.wal;
  const adminPort = { port: PORT_NAMES.admin };
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: buildObjectMeta(params, names.ingester, 'ingester'),
    spec: {
      replicas: spec.ingester.replicas,
      serviceName: names.ingesterHeadless,
      selector: { matchLabels: selector },
      // Members are peers coordinated through etcd leases, not by start order; ordered start would
      // only slow every scale-up and recovery.
      podManagementPolicy: 'Parallel',
      updateStrategy: { type: 'RollingUpdate' },
      // A WAL may hold acknowledged spans not yet drained to another owner: never delete it with
      // the pod or the cluster; a person decides.
      persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Retain', whenScaled: 'Retain' },
      template: {
        metadata: { labels: podLabels(name, 'ingester'), annotations: { [CONFIG_CHECKSUM_ANNOTATION]: configChecksum } },
        spec: {
          ...security.podSpec,
          securityContext: { ...security.pod, ...SKEIN_POD_SECURITY },
          terminationGracePeriodSeconds: INGESTER_TERMINATION_GRACE_PERIOD_SECONDS,
          affinity: buildPreferredAntiAffinity(selector),
          containers: [
            {
              name: 'ingester',
              image: params.image,
              ...(spec.imagePullPolicy === undefined ? {} : { imagePullPolicy: spec.imagePullPolicy }),
              args: ['ingester'],
              envFrom: [{ configMapRef: { name: names.config } }],
              // Order matters: $(POD_NAME) expands only from variables defined before it.
              env: [
                { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: 'SKEIN_MEMBER_ID', value: '$(POD_NAME)' },
                { name: 'SKEIN_ADVERTISE_HOST', value: podHostname('$(POD_NAME)', names.ingesterHeadless, namespace) },
                { name: 'SKEIN_SHUTDOWN_TIMEOUT_MS', value: String(INGESTER_SHUTDOWN_TIMEOUT_MS) },
                ...storage.env,
              ],
              ports: [
                { name: PORT_NAMES.otlpGrpc, containerPort: PORTS.otlpGrpc, protocol: 'TCP' },
                { name: PORT_NAMES.otlpHttp, containerPort: PORTS.otlpHttp, protocol: 'TCP' },
                { name: PORT_NAMES.internal, containerPort: PORTS.internal, protocol: 'TCP' },
                { name: PORT_NAMES.admin, containerPort: PORTS.admin, protocol: 'TCP' },
              ],
              // The admin port opens only after WAL replay and joining the cluster; a large WAL
              // must not get the pod killed by the liveness probe before it has finished.
              startupProbe: { tcpSocket: adminPort, periodSeconds: 10, failureThreshold: 60 },
              // Ready = owns every shard assigned to it (not while joining or leaving).
              readinessProbe: { httpGet: { path: '/ready', port: PORT_NAMES.admin }, periodSeconds: 5, failureThreshold: 3 },
              // Only "the process is wedged": a restart costs a shard failover, so be slow to decide.
              livenessProbe: { tcpSocket: adminPort, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 6 },
              ...(spec.ingester.resources === undefined ? {} : { resources: spec.ingester.resources }),
              securityContext: security.container,
              volumeMounts: [
                { name: 'wal', mountPath: DATA_DIR },
                ...storage.volumeMounts,
                { name: 'tmp', mountPath: '/tmp' },
              ],
            },
          ],
          // Node writes temporary files under /tmp; the root filesystem is read-only.
          volumes: [{ name: 'tmp', emptyDir: {} }, ...storage.volumes],
        },
      },
      volumeClaimTemplates: [buildVolumeClaimTemplate(name, 'ingester', 'wal', wal.size, wal.storageClassName)],
    },
  };
}
