// The ConfigMap of SKEIN_* environment shared by ingesters and queriers (each process reads only
// the flags it declares, so one map serves both), and its checksum, which the pod templates carry
// so that a config change rolls the pods (envFrom is read only at container start).
//
// Block storage flags come from block-storage.ts; the S3 credentials are not here but container env
// from the user's Secret (no secret value in a ConfigMap).
//
// Not rendered here, on purpose: retention, compaction and sampling are cluster policy the operator
// writes into etcd for the lifecycle controller, not process flags. etcd client TLS
// (spec.etcd.external.tlsSecretRef) has no process flag yet. Flags without a spec field (lease TTL,
// timeouts, limits, the block cut's --cut-max-age-ms/--cut-max-bytes/--trace-idle-ms) keep the
// processes' own defaults rather than a second copy of them here.
import { createHash } from 'node:crypto';
import { envName, type FlagName } from '../../common/config/index.js';
import { SkeinError } from '../../common/errors/index.js';
import { parseDuration } from '../api/index.js';
import { computeStorageFlags } from './block-storage.js';
import type { KubeObject } from './kube-types.js';
import { managedEtcdEndpoints, resourceNames } from './naming.js';
import { buildObjectMeta } from './object-meta.js';
import type { BuildParams } from './params.js';

/** Pod-template annotation holding computeConfigChecksum of the ConfigMap's data. */
export const CONFIG_CHECKSUM_ANNOTATION = 'tracing.skein.dev/config-checksum';

/** The env the ConfigMap holds, keys sorted. Typed by FlagName so only real flags can appear. */
export function computeConfigData(params: BuildParams): Record<string, string> {
  const { name, namespace, spec } = params.cluster;
  const fsyncDelayMs = parseDuration(spec.ingester.wal.fsyncMaxDelay);
  if (fsyncDelayMs === undefined) {
    throw new SkeinError('INVALID_ARGUMENT', `spec.ingester.wal.fsyncMaxDelay ${JSON.stringify(spec.ingester.wal.fsyncMaxDelay)} is not a duration: build from a validated spec (validateTracingClusterSpec)`);
  }
  const etcdEndpoints = spec.etcd.external?.endpoints ?? managedEtcdEndpoints(name, namespace);
  const flags: [FlagName, string][] = [
    // The coordinator key prefix /skein/<namespace>/<cluster>/: two TracingClusters sharing an
    // external etcd stay apart.
    ['namespace', namespace],
    ['cluster', name],
    ['etcd-endpoints', etcdEndpoints.join(',')],
    ['fsync', spec.ingester.wal.fsync],
    ['fsync-delay-ms', String(fsyncDelayMs)],
    ['log-level', 'info'],
    ...computeStorageFlags(params),
  ];
  const entries = flags.map(([flag, value]) => [envName(flag), value] as const);
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(entries);
}

/** sha256 (hex) of the data as canonical JSON (sorted keys), so equal data gives equal checksums. */
export function computeConfigChecksum(data: Readonly<Record<string, string>>): string {
  const canonical = JSON.stringify(Object.keys(data).sort().map((k) => [k, data[k]]));
  return createHash('sha256').update(canonical).digest('hex');
}

export function buildConfigMap(params: BuildParams, data: Readonly<Record<string, string>>): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: buildObjectMeta(params, resourceNames(params.cluster.name).config, 'config'),
    data,
  };
}
