// Block storage in the ingester and querier pods (DESIGN.md §7, spec.storage): the storage flags the
// ConfigMap carries, the S3 credentials as container env from the user's Secret, and for the
// filesystem backend the one ReadWriteMany volume claim every ingester and querier mounts.
//
// Credentials stay in the Secret (`valueFrom.secretKeyRef`): copied into the ConfigMap they would be
// readable by everyone who may read ConfigMaps. The flip side is that the pure builders cannot see
// the Secret's content, so rotating it rolls no pod: the kubelet resolves secretKeyRef only when a
// container starts, so the new keys reach the processes at their next restart (ADR 0009, "Block
// storage").
//
// The claim belongs to the TracingCluster (controller owner reference) and is garbage-collected with
// it, after the deletion finalizer has purged the block manifest from etcd: blocks without their
// manifest are unreadable, so keeping them would only keep the disk.
import type { FlagName } from '../../common/config/index.js';
import type { KubeObject } from './kube-types.js';
import { resourceNames } from './naming.js';
import { buildObjectMeta } from './object-meta.js';
import type { BuildParams } from './params.js';

/**
 * Where the filesystem backend's claim is mounted, and what SKEIN_STORAGE_DIR says. It is also the
 * processes' own default (<data-dir>/blocks under the image's /var/lib/skein), so a pod lays its
 * data out like all-in-one does; in an ingester the mount sits inside the WAL volume's mount, on a
 * separate volume.
 */
export const BLOCKS_DIR = '/var/lib/skein/blocks';
const BLOCKS_VOLUME = 'blocks';

/** The env names the AWS SDK's default credential chain reads (cli/block-storage.ts passes none). */
export const S3_ACCESS_KEY_ID_ENV = 'AWS_ACCESS_KEY_ID';
export const S3_SECRET_ACCESS_KEY_ENV = 'AWS_SECRET_ACCESS_KEY';

/**
 * The block storage flags for the ConfigMap. Optional spec fields that are unset are left out, so
 * the processes keep their own defaults (region us-east-1, no endpoint = AWS, no prefix); the
 * defaulted forcePathStyle is always rendered, as the spec's boolean rather than the flag's `auto`.
 */
export function computeStorageFlags(params: BuildParams): [FlagName, string][] {
  const s3 = params.cluster.spec.storage.s3;
  if (s3 === undefined) {
    return [
      ['storage-backend', 'filesystem'],
      ['storage-dir', BLOCKS_DIR],
    ];
  }
  return [
    ['storage-backend', 's3'],
    ['s3-bucket', s3.bucket],
    ...(s3.endpoint === undefined ? [] : [['s3-endpoint', s3.endpoint] as [FlagName, string]]),
    ...(s3.region === undefined ? [] : [['s3-region', s3.region] as [FlagName, string]]),
    ...(s3.prefix === undefined ? [] : [['s3-prefix', s3.prefix] as [FlagName, string]]),
    ['s3-force-path-style', String(s3.forcePathStyle)],
  ];
}

/** The filesystem backend's shared claim, or undefined for s3. */
export function buildBlocksVolumeClaim(params: BuildParams): KubeObject | undefined {
  const filesystem = params.cluster.spec.storage.filesystem;
  if (filesystem === undefined) return undefined;
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: buildObjectMeta(params, resourceNames(params.cluster.name).blocks, 'storage'),
    spec: {
      // Every ingester writes blocks and every querier reads them, on any node.
      accessModes: ['ReadWriteMany'],
      ...(filesystem.storageClassName === undefined ? {} : { storageClassName: filesystem.storageClassName }),
      resources: { requests: { storage: String(filesystem.size) } },
    },
  };
}

/** What an ingester or querier container and its pod need for block storage. */
export interface BlockStoragePodParts {
  readonly env: readonly Record<string, unknown>[];
  readonly volumeMounts: readonly Record<string, unknown>[];
  readonly volumes: readonly Record<string, unknown>[];
}

export function buildBlockStoragePodParts(params: BuildParams): BlockStoragePodParts {
  const { s3 } = params.cluster.spec.storage;
  if (s3 === undefined) {
    return {
      env: [],
      volumeMounts: [{ name: BLOCKS_VOLUME, mountPath: BLOCKS_DIR }],
      volumes: [{ name: BLOCKS_VOLUME, persistentVolumeClaim: { claimName: resourceNames(params.cluster.name).blocks } }],
    };
  }
  const { name, accessKeyIdKey, secretAccessKeyKey } = s3.secretRef;
  return {
    // Not optional: a missing Secret or key keeps the container from starting (CreateContainerConfigError),
    // and the reconciler reports which one in Degraded, rather than a process failing every S3 call.
    env: [
      { name: S3_ACCESS_KEY_ID_ENV, valueFrom: { secretKeyRef: { name, key: accessKeyIdKey } } },
      { name: S3_SECRET_ACCESS_KEY_ENV, valueFrom: { secretKeyRef: { name, key: secretAccessKeyKey } } },
    ],
    volumeMounts: [],
    volumes: [],
  };
}
